import { createHash } from "node:crypto";
import { crlPem } from "../../src/core/crl/build-crl.ts";
import type { CrlSnapshot } from "../../src/core/crl/crl-service.ts";
import type { Publication } from "./types.ts";

export const crlDerType = "application/pkix-crl";
export const crlPemType = "application/x-pem-file";
/** RFC 5280 §4.2.2.1: a caIssuers HTTP URI serves one DER certificate as application/pkix-cert. */
export const certificateType = "application/pkix-cert";

/** How long a cache may keep a CA certificate: it changes only when a pending CA gets its certificate. */
const caCertificateMaxAgeSeconds = 3600;

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

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
