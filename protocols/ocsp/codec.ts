import { createHash } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { crlPem } from "../../src/core/crl/build-crl.ts";
import type { CrlSnapshot } from "../../src/core/crl/crl-service.ts";
import { uuidPattern } from "../../src/core/uuid-pattern.ts";
import type { Publication } from "./types.ts";

export const crlDerType = "application/pkix-crl";
export const crlPemType = "application/x-pem-file";
/** RFC 5280 §4.2.2.1: a caIssuers HTTP URI serves one DER certificate as application/pkix-cert. */
export const certificateType = "application/pkix-cert";

/** How long a cache may keep a CA certificate: it changes only when a pending CA gets its certificate. */
const caCertificateMaxAgeSeconds = 3600;

/**
 * Splits the last path segment of /crl/<caId>.crl, /crl/<caId>.pem and
 * /ca/<caId>.cer into the CA id and the extension; null for anything else,
 * so a malformed id is a 404, never a database error.
 */
export function parsePublishedFile(
  file: string,
  extensions: readonly string[],
): { caId: string; extension: string } | null {
  const dot = file.lastIndexOf(".");
  if (dot < 0) return null;
  const caId = file.slice(0, dot);
  const extension = file.slice(dot + 1).toLowerCase();
  if (!extensions.includes(extension) || !uuidPattern.test(caId)) return null;
  return { caId: caId.toLowerCase(), extension };
}

/**
 * A CRL as DER (the CDP's form, RFC 5280 §4.2.1.13) or PEM. Caches may keep
 * it until nextUpdate and must then revalidate; a newer CRL issued before
 * that (after a revocation) reaches clients that revalidate, e.g. on the
 * ETag, which differs per CRL even when two share a thisUpdate second.
 */
export function crlPublication(crl: CrlSnapshot, format: "der" | "pem", now: Date): Publication {
  return {
    body: format === "der" ? crl.der : Buffer.from(crlPem(crl.der)),
    contentType: format === "der" ? crlDerType : crlPemType,
    // The PEM bytes differ from the DER bytes, so the PEM form has its own tag.
    etag: format === "der" ? `"${crl.sha256}"` : `"${crl.sha256}.pem"`,
    lastModified: crl.thisUpdate,
    expires: crl.nextUpdate,
    maxAgeSeconds: secondsUntil(crl.nextUpdate, now),
  };
}

export function caCertificatePublication(der: Buffer, notBefore: Date | null): Publication {
  return {
    body: der,
    contentType: certificateType,
    etag: `"${createHash("sha256").update(der).digest("hex")}"`,
    lastModified: notBefore ?? new Date(0),
    maxAgeSeconds: caCertificateMaxAgeSeconds,
  };
}

/** Whole seconds from `now` to `until`, never negative: a CRL past its nextUpdate is served uncacheable. */
export function secondsUntil(until: Date, now: Date): number {
  return Math.max(0, Math.floor((until.getTime() - now.getTime()) / 1000));
}

export function cacheControl(maxAgeSeconds: number): string {
  // no-transform: a proxy must not recompress or re-encode signed bytes.
  return `public, no-transform, must-revalidate, max-age=${maxAgeSeconds}`;
}

/**
 * RFC 9110 §13.1.2 If-None-Match (weak comparison: W/ prefixes ignored) and,
 * only without it, §13.1.3 If-Modified-Since. True: answer 304.
 */
export function notModified(
  headers: { ifNoneMatch?: string | undefined; ifModifiedSince?: string | undefined },
  publication: Publication,
): boolean {
  if (headers.ifNoneMatch !== undefined) {
    const tags = headers.ifNoneMatch.split(",").map((tag) => tag.trim().replace(/^W\//, ""));
    return tags.includes("*") || tags.includes(publication.etag);
  }
  if (headers.ifModifiedSince !== undefined) {
    const since = Date.parse(headers.ifModifiedSince);
    // Last-Modified has whole seconds; an unparsable date is ignored (§13.1.3).
    return !Number.isNaN(since) && Math.floor(publication.lastModified.getTime() / 1000) * 1000 <= since;
  }
  return false;
}

/** RFC 6960 Appendix C.1 / C.2 media types. */
export const ocspRequestType = "application/ocsp-request";
export const ocspResponseType = "application/ocsp-response";

/**
 * Reads a request body of at most `limit` octets and calls `done` once: with
 * the body, with null as soon as more arrive (or Content-Length announces
 * more), without reading the rest (the caller answers and closes the
 * connection), or with an error. Koa has no raw body parser, and a parser
 * without a bound would let one client fill the memory. A callback rather
 * than a promise: this is the OCSP POST hot path.
 */
export function onBoundedBody(
  req: IncomingMessage,
  limit: number,
  done: (err: Error | null, body: Buffer | null) => void,
): void {
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > limit) {
    done(null, null);
    return;
  }
  let first: Buffer | null = null;
  let chunks: Buffer[] | null = null;
  let size = 0;
  let finished = false;
  // The listeners stay on the request once done (it is answered and dropped right after): removing
  // them costs more than the guard. A client going away mid-body ends in "error" (ECONNRESET).
  const finish = (err: Error | null, body: Buffer | null) => {
    if (finished) return;
    finished = true;
    done(err, body);
  };
  req.on("data", (chunk: Buffer) => {
    if (finished) return;
    size += chunk.length;
    if (size > limit) {
      req.pause();
      finish(null, null);
    } else if (first === null) first = chunk;
    else {
      chunks ??= [first];
      chunks.push(chunk);
    }
  });
  // One chunk (the usual small body) is used as is; several are joined once.
  req.on("end", () => finish(null, chunks ? Buffer.concat(chunks, size) : (first ?? Buffer.alloc(0))));
  req.on("error", (err: Error) => finish(err, null));
}

/**
 * HTTP dates of published things, formatted once: a cached OCSP answer or a
 * CRL keeps the same Date objects for as long as it is served, and every
 * request for it would otherwise format both again.
 */
const httpDates = new WeakMap<Date, string>();
export function httpDate(date: Date): string {
  let text = httpDates.get(date);
  if (text === undefined) {
    text = date.toUTCString();
    httpDates.set(date, text);
  }
  return text;
}
