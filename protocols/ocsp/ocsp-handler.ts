import type { IncomingMessage, ServerResponse } from "node:http";
import { decodeOcspGetPath } from "../../src/core/ocsp/ocsp-get-path.ts";
import { maxOcspRequestBytes } from "../../src/core/ocsp/ocsp-request.ts";
import { ocspErrorResponse } from "../../src/core/ocsp/ocsp-response-status.ts";
import type { OcspAnswer } from "../../src/core/ocsp/ocsp-service.ts";
import { cacheControl, httpDate, notModified, ocspPublication, ocspResponseType, readBoundedBody } from "./codec.ts";
import { ocspErrorStatusOf } from "./errors.ts";
import type { RevocationListenerDeps } from "./types.ts";

/**
 * The OCSP part of the revocation listener, on node:http directly rather
 * than through Koa: OCSP is the listener's hot path, and Koa's context and
 * middleware machinery cost about as much as our whole answer
 * (docs/benchmarks.md, bench:ocsp). CRLs and CA certificates stay in the Koa
 * app (routes.ts).
 *
 *   POST /ocsp           an OCSPRequest body (RFC 6960 Appendix A.1), at most
 *                        maxOcspRequestBytes
 *   GET  /ocsp/<base64>  the same request in the path (RFC 6960 A.1, RFC 9919),
 *                        URL-encoded or not (decodeOcspGetPath)
 *
 * Every OCSP answer is HTTP 200 with an OCSPResponse body, errors included
 * (malformedRequest, unauthorized, tryLater, internalError as the unsigned
 * five-octet responses of RFC 6960 §4.2.1): that is what OCSP clients parse
 * (openssl prints "Responder Error: malformedrequest"), and a non-OCSP HTTP
 * error would only tell them "responder unreachable". Never a 500.
 */
export function createOcspHandler(
  deps: RevocationListenerDeps,
): (req: IncomingMessage, res: ServerResponse, path: string) => Promise<void> {
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

  function send(req: IncomingMessage, res: ServerResponse, result: OcspAnswer, close = false): void {
    const head = req.method === "HEAD";
    if (result.status === "successful" && result.cacheable) {
      // RFC 9919 §5 (after RFC 5019 §6.2): caches may keep it until nextUpdate, then must revalidate.
      const publication = ocspPublication(result, deps.clock.now());
      const headers: Record<string, string> = {
        ETag: publication.etag,
        "Last-Modified": httpDate(publication.lastModified),
        "Cache-Control": cacheControl(publication.maxAgeSeconds),
      };
      if (publication.expires) headers["Expires"] = httpDate(publication.expires);
      const conditional = {
        ifNoneMatch: req.headers["if-none-match"] || undefined,
        ifModifiedSince: req.headers["if-modified-since"] || undefined,
      };
      if (notModified(conditional, publication)) {
        res.writeHead(304, headers);
        res.end();
        return;
      }
      headers["Content-Type"] = ocspResponseType;
      headers["Content-Length"] = String(publication.body.length);
      res.writeHead(200, headers);
      res.end(head ? undefined : publication.body);
      return;
    }
    // A nonce answer is for one client; an error must not be kept either.
    const body = Buffer.from(result.der.buffer, result.der.byteOffset, result.der.byteLength);
    res.writeHead(200, {
      "Content-Type": ocspResponseType,
      "Content-Length": String(body.length),
      "Cache-Control": "no-cache, no-store",
      ...(close ? { Connection: "close" } : {}),
    });
    res.end(head ? undefined : body);
  }

  return async (req, res, path) => {
    try {
      const method = req.method ?? "";
      if (method === "POST" && (path === "/ocsp" || path === "/ocsp/")) {
        const body = await readBoundedBody(req, maxOcspRequestBytes);
        // The rest of an oversized body is not read: the connection is closed after the answer.
        if (body === null) return send(req, res, refused("malformedRequest"), true);
        return send(req, res, await answer(body));
      }
      if ((method === "GET" || method === "HEAD") && path.startsWith("/ocsp/")) {
        const decoded = decodeOcspGetPath(path.slice("/ocsp/".length));
        return send(req, res, decoded.ok ? await answer(decoded.value) : refused("malformedRequest"));
      }
      res.writeHead(405, {
        Allow: path === "/ocsp" || path === "/ocsp/" ? "POST" : "GET, HEAD",
        "Cache-Control": "no-store",
        "Content-Length": "0",
      });
      res.end();
    } catch (err) {
      // A client that went away mid-body, or anything else: answer if we still can, never crash.
      deps.logger.warn({ err }, "OCSP request could not be read");
      if (!res.headersSent) send(req, res, refused("malformedRequest"), true);
      else res.destroy();
    }
  };
}

/** The path part of a request target, still percent-encoded (the GET form's base64 may hold "/"). */
export function requestPath(url: string | undefined): string {
  const target = url ?? "/";
  const query = target.indexOf("?");
  return query < 0 ? target : target.slice(0, query);
}

function refused(status: Exclude<OcspAnswer["status"], "successful">): OcspAnswer {
  return { status, der: ocspErrorResponse(status), cacheable: false };
}
