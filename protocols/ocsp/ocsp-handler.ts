import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";
import { decodeOcspGetPath } from "../../src/core/ocsp/ocsp-get-path.ts";
import { maxOcspRequestBytes } from "../../src/core/ocsp/ocsp-request.ts";
import { maxRequestKeyLength } from "../../src/core/ocsp/ocsp-response-cache.ts";
import { ocspErrorResponse } from "../../src/core/ocsp/ocsp-response-status.ts";
import type { OcspAnswer } from "../../src/core/ocsp/ocsp-service.ts";
import { cacheControl, httpDate, notModified, ocspResponseType, onBoundedBody } from "./codec.ts";
import { ocspErrorStatusOf } from "./errors.ts";
import type { Publication, RevocationListenerDeps } from "./types.ts";

type Successful = Extract<OcspAnswer, { status: "successful" }>;

/**
 * What a pre-signed answer is sent with, made once per signed response
 * (ETag, Last-Modified and Expires never change for given bytes) and kept
 * beside it; only Cache-Control's max-age moves, and its header objects are
 * rebuilt when it does (once a second at most, however many requests).
 */
interface Presentation {
  readonly publication: Publication;
  readonly nextUpdateMs: number;
  maxAge: number;
  ok: OutgoingHttpHeaders;
  notModified: OutgoingHttpHeaders;
}

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
 * A request repeated as it was sent before (the GET path, or the POST body
 * as latin1, each one-to-one with the request DER) is looked up in the core
 * by those raw bytes first (OcspService.cached): no decoding, no DER parse,
 * no promise, and headers made ahead. Anything else (first sight, a nonce,
 * several CertIDs, garbage) goes through OcspService.respond.
 *
 * Every OCSP answer is HTTP 200 with an OCSPResponse body, errors included
 * (malformedRequest, unauthorized, tryLater, internalError as the unsigned
 * five-octet responses of RFC 6960 §4.2.1): that is what OCSP clients parse
 * (openssl prints "Responder Error: malformedrequest"), and a non-OCSP HTTP
 * error would only tell them "responder unreachable". Never a 500.
 */
export function createOcspHandler(
  deps: RevocationListenerDeps,
): (req: IncomingMessage, res: ServerResponse, path: string) => void {
  // Keyed by the signed bytes: an entry re-signed or revoked has new bytes, and the old
  // presentation goes with them.
  const presentations = new WeakMap<Uint8Array, Presentation>();

  function presentationOf(answer: Successful, nowMs: number): Presentation {
    let presentation = presentations.get(answer.der);
    if (presentation === undefined) {
      const publication: Publication = {
        body: Buffer.from(answer.der.buffer, answer.der.byteOffset, answer.der.byteLength),
        contentType: ocspResponseType,
        // Pre-signed answers always carry their SHA-256 (OcspAnswer.sha256); the fallback is never used.
        etag: `"${answer.sha256 ?? ""}"`,
        lastModified: answer.thisUpdate,
        expires: answer.nextUpdate,
        maxAgeSeconds: 0,
      };
      presentation = { publication, nextUpdateMs: answer.nextUpdate.getTime(), maxAge: -1, ok: {}, notModified: {} };
      presentations.set(answer.der, presentation);
    }
    // RFC 9919 §5 (after RFC 5019 §6.2): caches may keep it until nextUpdate, then must revalidate.
    // Whole seconds to nextUpdate as of this request (as secondsUntil), never negative.
    const maxAge = Math.max(0, Math.floor((presentation.nextUpdateMs - nowMs) / 1000));
    if (maxAge !== presentation.maxAge) {
      const { publication } = presentation;
      // 304 carries the same validators and freshness (RFC 9110 §15.4.5), without the body's headers.
      presentation.notModified = {
        ETag: publication.etag,
        "Last-Modified": httpDate(publication.lastModified),
        "Cache-Control": cacheControl(maxAge),
        Expires: httpDate(publication.expires!),
      };
      presentation.ok = {
        ...presentation.notModified,
        "Content-Type": ocspResponseType,
        "Content-Length": String(publication.body.length),
      };
      presentation.maxAge = maxAge;
    }
    return presentation;
  }

  function sendCacheable(req: IncomingMessage, res: ServerResponse, answer: Successful): void {
    const presentation = presentationOf(answer, deps.clock.now().getTime());
    const { headers } = req;
    const ifNoneMatch = headers["if-none-match"];
    const ifModifiedSince = headers["if-modified-since"];
    if (
      (ifNoneMatch || ifModifiedSince) &&
      notModified(
        { ifNoneMatch: ifNoneMatch || undefined, ifModifiedSince: ifModifiedSince || undefined },
        presentation.publication,
      )
    ) {
      res.writeHead(304, presentation.notModified);
      res.end();
      return;
    }
    res.writeHead(200, presentation.ok);
    res.end(req.method === "HEAD" ? undefined : presentation.publication.body);
  }

  function send(req: IncomingMessage, res: ServerResponse, result: OcspAnswer, close = false): void {
    if (result.status === "successful" && result.cacheable) {
      sendCacheable(req, res, result);
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
    res.end(req.method === "HEAD" ? undefined : body);
  }

  /** A request not answered from the raw-request lookup: parsed and answered by the core. */
  function respond(req: IncomingMessage, res: ServerResponse, der: Uint8Array, requestKey: string | undefined): void {
    deps.ocsp.respond(der, requestKey).then(
      (result) => send(req, res, result),
      (err: unknown) => {
        const status = ocspErrorStatusOf(err);
        if (status === "internalError") deps.logger.error({ err }, "OCSP request failed");
        else deps.logger.warn({ err }, "OCSP request answered tryLater");
        send(req, res, refused(status));
      },
    );
  }

  /** The raw-request lookup, for keys short enough to have been recorded. */
  const cached = (requestKey: string) =>
    requestKey.length <= maxRequestKeyLength ? deps.ocsp.cached(requestKey) : undefined;

  function fail(req: IncomingMessage, res: ServerResponse, err: unknown): void {
    // A client that went away mid-body, or anything else: answer if we still can, never crash.
    deps.logger.warn({ err }, "OCSP request could not be read");
    if (!res.headersSent) send(req, res, refused("malformedRequest"), true);
    else res.destroy();
  }

  return (req, res, path) => {
    try {
      const method = req.method ?? "";
      if ((method === "GET" || method === "HEAD") && path.startsWith("/ocsp/")) {
        // The path as it arrived, "/ocsp/" included: one-to-one with the request DER (GET keys start
        // with "/", POST keys with "0", the first octet of any DER OCSPRequest, so the two never meet).
        const hit = cached(path);
        if (hit !== undefined) return send(req, res, hit);
        const decoded = decodeOcspGetPath(path.slice("/ocsp/".length));
        if (!decoded.ok) return send(req, res, refused("malformedRequest"));
        return respond(req, res, decoded.value, path);
      }
      if (method === "POST" && (path === "/ocsp" || path === "/ocsp/")) {
        return onBoundedBody(req, maxOcspRequestBytes, (err, body) => {
          try {
            if (err) return fail(req, res, err);
            // The rest of an oversized body is not read: the connection is closed after the answer.
            if (body === null) return send(req, res, refused("malformedRequest"), true);
            const requestKey = body.length <= maxRequestKeyLength ? body.toString("latin1") : undefined;
            const hit = requestKey === undefined ? undefined : cached(requestKey);
            if (hit !== undefined) return send(req, res, hit);
            return respond(req, res, body, requestKey);
          } catch (thrown) {
            fail(req, res, thrown);
          }
        });
      }
      res.writeHead(405, {
        Allow: path === "/ocsp" || path === "/ocsp/" ? "POST" : "GET, HEAD",
        "Cache-Control": "no-store",
        "Content-Length": "0",
      });
      res.end();
    } catch (err) {
      fail(req, res, err);
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
