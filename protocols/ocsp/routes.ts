import Router from "@koa/router";
import Koa, { type Context } from "koa";
import { currentCrl } from "../../src/core/crl/current-crl.ts";
import { decodeOcspGetPath } from "../../src/core/ocsp/ocsp-get-path.ts";
import { maxOcspRequestBytes } from "../../src/core/ocsp/ocsp-request.ts";
import { ocspErrorResponse } from "../../src/core/ocsp/ocsp-response-status.ts";
import type { OcspAnswer } from "../../src/core/ocsp/ocsp-service.ts";
import {
  caCertificatePublication,
  cacheControl,
  crlDerType,
  crlPemType,
  crlPublication,
  notModified,
  ocspPublication,
  ocspResponseType,
  parsePublishedFile,
  readBoundedBody,
} from "./codec.ts";
import { ocspErrorStatusOf, revocationErrors } from "./errors.ts";
import type { Publication, RevocationListenerDeps } from "./types.ts";

/**
 * The plain-HTTP revocation listener (config listen.ocsp): the URLs issued
 * certificates carry (src/core/profiles/ca-urls.ts).
 *
 *   POST /ocsp           an OCSPRequest body (RFC 6960 Appendix A.1), at most
 *                        maxOcspRequestBytes; answered application/ocsp-response
 *   GET  /ocsp/<base64>  the same request in the path (RFC 6960 A.1, RFC 9919),
 *                        URL-encoded or not (decodeOcspGetPath)
 *   GET /crl/<caId>.crl  the CA's newest CRL, DER (RFC 5280 §4.2.1.13 CDP);
 *                        PEM when the Accept header prefers application/x-pem-file
 *   GET /crl/<caId>.pem  the same CRL, always PEM ("X509 CRL", RFC 7468 §6)
 *   GET /ca/<caId>.cer   the CA certificate, DER (RFC 5280 §4.2.2.1 caIssuers)
 *
 * GET and HEAD only elsewhere (405 otherwise). Plain HTTP on purpose:
 * relying parties fetch these while validating TLS, and HTTPS here would
 * loop (RFC 9919).
 *
 * Every OCSP answer is HTTP 200 with an OCSPResponse body, errors included
 * (malformedRequest, unauthorized, tryLater, internalError as the unsigned
 * five-octet responses of RFC 6960 §4.2.1): that is what OCSP clients parse
 * (openssl prints "Responder Error: malformedrequest"), and a non-OCSP HTTP
 * error would only tell them "responder unreachable". Never a 500.
 */
export function createOcspApp(deps: RevocationListenerDeps): Koa {
  const app = new Koa();
  const router = new Router();

  // Before the router: the GET form's path is everything after /ocsp/, raw
  // (ctx.path is not percent-decoded, and base64 "/" splits it into segments).
  app.use(async (ctx, next) => {
    const path = ctx.path;
    if (path !== "/ocsp" && !path.startsWith("/ocsp/")) return next();
    if (ctx.method === "POST" && (path === "/ocsp" || path === "/ocsp/")) {
      const body = await readBoundedBody(ctx.req, maxOcspRequestBytes);
      if (body === null) {
        // The rest of an oversized body is not read: the connection is closed after the answer.
        ctx.set("Connection", "close");
        return sendOcsp(ctx, refused("malformedRequest"));
      }
      return sendOcsp(ctx, await answer(body));
    }
    if ((ctx.method === "GET" || ctx.method === "HEAD") && path.startsWith("/ocsp/")) {
      const decoded = decodeOcspGetPath(path.slice("/ocsp/".length));
      return sendOcsp(ctx, decoded.ok ? await answer(decoded.value) : refused("malformedRequest"));
    }
    ctx.status = 405;
    ctx.set("Allow", path === "/ocsp" || path === "/ocsp/" ? "POST" : "GET, HEAD");
    ctx.set("Cache-Control", "no-store");
  });

  async function answer(der: Uint8Array): Promise<OcspAnswer> {
    try {
      return await deps.ocsp.respond(der);
    } catch (err) {
      const status = ocspErrorStatusOf(err);
      if (status === "internalError") deps.logger.error({ err }, "OCSP request failed");
      else deps.logger.warn({ err }, "OCSP request answered tryLater");
      return refused(status);
    }
  }

  function sendOcsp(ctx: Context, result: OcspAnswer): void {
    ctx.status = 200;
    if (result.status === "successful" && result.cacheable) {
      // RFC 9919 §5 (after RFC 5019 §6.2): caches may keep it until nextUpdate, then must revalidate.
      // publish() sets the type (not before: Koa looks it up on every assignment, and this is the hot path).
      publish(ctx, ocspPublication(result, deps.clock.now()));
      return;
    }
    ctx.type = ocspResponseType;
    // A nonce answer is for one client; an error must not be kept either.
    ctx.set("Cache-Control", "no-cache, no-store");
    ctx.body = Buffer.from(result.der.buffer, result.der.byteOffset, result.der.byteLength);
  }

  router.get("/crl/:file", async (ctx) => {
    const parsed = parsePublishedFile(ctx.params["file"] ?? "", ["crl", "pem"]);
    if (!parsed) return notFound(ctx);
    const crl = await currentCrl(deps.crls, parsed.caId);
    if (!crl) return notFound(ctx);
    let format: "der" | "pem" = "pem";
    if (parsed.extension === "crl") {
      // The .crl URL negotiates: DER unless PEM is preferred; a client that accepts neither still gets DER.
      ctx.vary("Accept");
      format = ctx.accepts(crlDerType, crlPemType) === crlPemType ? "pem" : "der";
    }
    publish(ctx, crlPublication(crl, format, deps.clock.now()));
  });

  router.get("/ca/:file", async (ctx) => {
    const parsed = parsePublishedFile(ctx.params["file"] ?? "", ["cer"]);
    if (!parsed) return notFound(ctx);
    const ca = await deps.cas.get(parsed.caId);
    // A pending CA has no certificate yet.
    if (!ca.certificateDer) return notFound(ctx);
    publish(ctx, caCertificatePublication(ca.certificateDer, ca.notBefore));
  });

  app.use(revocationErrors(deps.logger));
  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}

/**
 * HTTP dates of published things, formatted once: a cached OCSP answer or a
 * CRL keeps the same Date objects for as long as it is served, and every
 * request for it would otherwise format both again.
 */
const httpDates = new WeakMap<Date, string>();
function httpDate(date: Date): string {
  let text = httpDates.get(date);
  if (text === undefined) {
    text = date.toUTCString();
    httpDates.set(date, text);
  }
  return text;
}

function publish(ctx: Context, publication: Publication): void {
  ctx.set("ETag", publication.etag);
  ctx.set("Last-Modified", httpDate(publication.lastModified));
  if (publication.expires) ctx.set("Expires", httpDate(publication.expires));
  ctx.set("Cache-Control", cacheControl(publication.maxAgeSeconds));
  const conditional = {
    ifNoneMatch: ctx.get("If-None-Match") || undefined,
    ifModifiedSince: ctx.get("If-Modified-Since") || undefined,
  };
  if (notModified(conditional, publication)) {
    ctx.status = 304;
    return;
  }
  ctx.type = publication.contentType;
  ctx.body = publication.body;
}

function refused(status: Exclude<OcspAnswer["status"], "successful">): OcspAnswer {
  return { status, der: ocspErrorResponse(status), cacheable: false };
}

function notFound(ctx: Context): void {
  ctx.status = 404;
  ctx.set("Cache-Control", "no-store");
  ctx.type = "text/plain";
  ctx.body = "not found\n";
}
