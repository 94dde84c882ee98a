import Router from "@koa/router";
import Koa, { type Context } from "koa";
import type { EstClient } from "../../src/core/est/est-authentication.ts";
import { buildCertsOnlyPkcs7 } from "../../src/core/x509/certs-only-pkcs7.ts";
import { base64Lines, basicCredentials, buildMultipart, EstHttpError, mediaType, readCsrBody } from "./codec.ts";
import { estErrors } from "./errors.ts";
import { readTlsClient } from "./tls-client.ts";
import { type EstAppDeps, type EstOperationName, estContentTypes, estOperations } from "./types.ts";

const gets = new Set<EstOperationName>(["cacerts", "csrattrs"]);

/**
 * The EST listener (RFC 7030), HTTPS only (§3.3): the TLS layer asks for a
 * client certificate without requiring one (src/gateway.ts), and each label
 * decides what it accepts (src/core/est/est-authentication.ts).
 *
 *   GET  /.well-known/est[/<label>]/cacerts          certs-only PKCS#7 (§4.1)
 *   GET  /.well-known/est[/<label>]/csrattrs         CsrAttrs, or 204 (§4.5)
 *   POST /.well-known/est[/<label>]/simpleenroll     PKCS#10 → certificate, or 202 (§4.2)
 *   POST /.well-known/est[/<label>]/simplereenroll   the same, authenticated by the certificate renewed
 *   POST /.well-known/est[/<label>]/serverkeygen     multipart key + certificate (§4.4)
 *   POST /.well-known/est[/<label>]/fullcmc          501: Full CMC is not offered (§4.3)
 *
 * Without a label segment the label marked default answers.
 */
export function createEstApp(deps: EstAppDeps): Koa {
  const app = new Koa();
  // Never from X-Forwarded-For: the TCP peer is what users' allowed subnets are checked against.
  app.proxy = false;
  const router = new Router();

  function clientOf(ctx: Context): EstClient {
    const tls = readTlsClient(ctx.req.socket);
    return {
      peerCertificatesDer: tls.peerCertificatesDer,
      channelBinding: tls.channelBinding,
      basic: basicCredentials(ctx.get("authorization") || undefined),
      sourceIp: ctx.req.socket.remoteAddress,
    };
  }

  /** RFC 7030 §4.2.3 / §4.1.3: a certs-only PKCS#7, base64. */
  function sendCertsOnly(ctx: Context, der: Uint8Array): void {
    ctx.status = 200;
    ctx.set("Content-Transfer-Encoding", "base64");
    ctx.type = estContentTypes.certsOnly;
    ctx.body = base64Lines(der);
  }

  /** RFC 7030 §4.2.3: the request waits for an approver; the client retries the same request later. */
  function sendPending(ctx: Context, retryAfterSeconds: number): void {
    ctx.status = 202;
    ctx.set("Retry-After", String(retryAfterSeconds));
    ctx.type = estContentTypes.text;
    ctx.body = `the request is waiting for approval; send the same request again in ${retryAfterSeconds} seconds\n`;
  }

  async function readEnrollment(ctx: Context): Promise<string | Uint8Array> {
    const type = mediaType(ctx.get("content-type") || undefined);
    if (type !== estContentTypes.pkcs10)
      throw new EstHttpError(
        415,
        `the body must be ${estContentTypes.pkcs10} (RFC 7030 §4.2.1), got "${type.slice(0, 80)}"`,
      );
    return readCsrBody(ctx.req);
  }

  const handle = async (ctx: Context) => {
    const label = ctx.params["label"] ?? null;
    const operation = ctx.params["operation"] as EstOperationName;
    if (!(estOperations as readonly string[]).includes(operation))
      throw new EstHttpError(404, `no EST operation "${String(operation).slice(0, 40)}" (RFC 7030 §3.2.2)`);
    const method = gets.has(operation) ? "GET" : "POST";
    if (ctx.method !== method && !(method === "GET" && ctx.method === "HEAD"))
      throw new EstHttpError(405, `${operation} is a ${method} operation (RFC 7030 §3.2.2)`, { Allow: method });

    switch (operation) {
      case "cacerts":
        sendCertsOnly(ctx, await deps.est.caCertificates(label));
        return;
      case "csrattrs": {
        const attributes = await deps.est.csrAttributes(label);
        if (!attributes) {
          // RFC 7030 §4.5.2: nothing to ask for.
          ctx.status = 204;
          return;
        }
        ctx.status = 200;
        ctx.set("Content-Transfer-Encoding", "base64");
        ctx.type = estContentTypes.csrAttributes;
        ctx.body = base64Lines(attributes);
        return;
      }
      case "simpleenroll":
      case "simplereenroll": {
        await deps.est.label(label);
        const csr = await readEnrollment(ctx);
        const client = clientOf(ctx);
        const result =
          operation === "simpleenroll"
            ? await deps.est.enroll(label, client, csr)
            : await deps.est.reenroll(label, client, csr);
        if (result.kind === "pending") sendPending(ctx, result.retryAfterSeconds);
        else sendCertsOnly(ctx, certsOnly(result.certificateDer));
        return;
      }
      case "serverkeygen": {
        await deps.est.label(label);
        const csr = await readEnrollment(ctx);
        const result = await deps.est.serverKeygen(label, clientOf(ctx), csr);
        if (result.kind === "unsupported") throw new EstHttpError(501, result.reason);
        if (result.kind === "pending") {
          sendPending(ctx, result.retryAfterSeconds);
          return;
        }
        const multipart = buildMultipart([
          {
            contentType: result.key.encrypted ? estContentTypes.serverGeneratedKey : estContentTypes.pkcs8,
            der: result.key.der,
          },
          { contentType: estContentTypes.certsOnly, der: certsOnly(result.certificateDer) },
        ]);
        result.key.der.fill(0);
        ctx.status = 200;
        ctx.set("Content-Type", multipart.contentType);
        ctx.body = multipart.body;
        return;
      }
      case "fullcmc":
        await deps.est.label(label);
        throw new EstHttpError(501, "Full CMC (RFC 7030 §4.3) is not offered; use simpleenroll");
    }
  };

  for (const path of ["/.well-known/est/:operation", "/.well-known/est/:label/:operation"]) router.all(path, handle);
  app.use(estErrors(deps.logger));
  app.use(router.routes());
  app.use(async (ctx) => {
    throw new EstHttpError(404, `no EST resource at ${ctx.path.slice(0, 200)} (RFC 7030 §3.2.2: /.well-known/est/)`);
  });
  return app;
}

/** RFC 7030 §4.2.3: the answer holds only the issued certificate. */
function certsOnly(certificateDer: Buffer): Buffer {
  return buildCertsOnlyPkcs7([certificateDer]);
}
