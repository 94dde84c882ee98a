import type { RequestListener } from "node:http";
import Router from "@koa/router";
import Koa, { type Context } from "koa";
import { currentCrl } from "../../src/core/crl/current-crl.ts";
import {
  caCertificatePublication,
  cacheControl,
  crlDerType,
  crlPemType,
  crlPublication,
  httpDate,
  notModified,
  parsePublishedFile,
} from "./codec.ts";
import { revocationErrors } from "./errors.ts";
import { createOcspHandler, requestPath } from "./ocsp-handler.ts";
import type { Publication, RevocationListenerDeps } from "./types.ts";

/**
 * The plain-HTTP revocation listener (config listen.ocsp): the URLs issued
 * certificates carry (src/core/profiles/ca-urls.ts). /ocsp and /ocsp/... go
 * to the node:http OCSP handler (ocsp-handler.ts), everything else to the
 * Koa app below.
 */
export function createRevocationListener(deps: RevocationListenerDeps): RequestListener {
  const ocsp = createOcspHandler(deps);
  const app = createPublicationApp(deps).callback();
  return (req, res) => {
    const path = requestPath(req.url);
    if (path === "/ocsp" || path.startsWith("/ocsp/")) ocsp(req, res, path);
    else void app(req, res);
  };
}

/**
 * The Koa part of the revocation listener:
 *
 *   GET /crl/<caId>.crl  the CA's newest CRL, DER (RFC 5280 §4.2.1.13 CDP);
 *                        PEM when the Accept header prefers application/x-pem-file
 *   GET /crl/<caId>.pem  the same CRL, always PEM ("X509 CRL", RFC 7468 §6)
 *   GET /ca/<caId>.cer   the CA certificate, DER (RFC 5280 §4.2.2.1 caIssuers)
 *
 * GET and HEAD only (405 otherwise). Plain HTTP on purpose: relying
 * parties fetch these while validating TLS, and HTTPS here would loop
 * (RFC 9919).
 */
export function createPublicationApp(deps: RevocationListenerDeps): Koa {
  const app = new Koa();
  const router = new Router();

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

function notFound(ctx: Context): void {
  ctx.status = 404;
  ctx.set("Cache-Control", "no-store");
  ctx.type = "text/plain";
  ctx.body = "not found\n";
}
