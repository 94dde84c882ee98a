import { children, content, readRoot } from "../x509/der-reader.ts";
import { contextPrimitive, tags } from "../x509/der-writer.ts";
import { oids } from "../x509/oids.ts";
import type { CertificateView } from "../x509/parse-certificate.ts";

/**
 * RFC 9773 (ACME Renewal Information) helpers: the certificate identifier
 * (certID) used in renewalInfo URLs and in an order's "replaces", and the
 * suggested renewal window.
 */

/**
 * The Retry-After of a renewalInfo answer (RFC 9773 §4.3): how long a client
 * waits before asking again. Six hours (the value of the RFC's own example):
 * well inside the [1 minute, 1 day] range clients are told to clamp to, so
 * they use it as given; a revocation (which moves the window into the past)
 * reaches every client within six hours; and a fleet polls four times a day
 * per certificate, which is little load next to issuance.
 */
export const renewalInfoRetryAfterSeconds = 6 * 60 * 60;

/** RFC 5280 §4.1.2.2: conforming serials have at most 20 content octets. */
const maxSerialOctets = 20;
/** Generous for any key identifier (SHA-1 is 20 octets, SHA-256/512 truncated or not at most 64). */
const maxKeyIdentifierOctets = 64;

/**
 * The certID of a certificate (RFC 9773 §4.1): base64url of the AKI
 * keyIdentifier octets, ".", base64url of the serial's DER INTEGER content
 * octets (so a serial whose top bit is set keeps its leading 0x00, as in the
 * certificate), both without padding. `serialHex` is the stored form
 * (lower-case hex, no leading zero octet).
 */
export function ariCertId(authorityKeyIdentifier: Uint8Array, serialHex: string): string {
  if (authorityKeyIdentifier.length === 0) throw new RangeError("an ARI certID needs a non-empty key identifier");
  return `${Buffer.from(authorityKeyIdentifier).toString("base64url")}.${Buffer.from(serialContent(serialHex)).toString("base64url")}`;
}

/**
 * Reads a certID strictly: two non-empty, unpadded, canonical base64url
 * parts, and a serial that is positive and minimally encoded (X.690 §8.3.2),
 * as a CA can only have issued such. Null when it is anything else (the
 * caller answers "malformed").
 */
export function parseAriCertId(text: string): { keyIdentifier: Buffer; serialHex: string } | null {
  const parts = text.split(".");
  if (parts.length !== 2) return null;
  const keyIdentifier = decodeBase64UrlStrict(parts[0]!);
  const serial = decodeBase64UrlStrict(parts[1]!);
  if (!keyIdentifier || !serial) return null;
  if (keyIdentifier.length > maxKeyIdentifierOctets || serial.length > maxSerialOctets) return null;
  // Negative (top bit set) or zero.
  if (serial[0]! & 0x80 || (serial.length === 1 && serial[0] === 0)) return null;
  // Non-minimal: a leading 0x00 that the next octet does not need as a sign octet.
  if (serial.length > 1 && serial[0] === 0 && !(serial[1]! & 0x80)) return null;
  const magnitude = serial[0] === 0 ? serial.subarray(1) : serial;
  return { keyIdentifier, serialHex: magnitude.toString("hex") };
}

/**
 * The keyIdentifier of a certificate's authority key identifier extension
 * (RFC 5280 §4.2.1.1), or undefined when it has none (a self-signed root
 * may omit it; such a certificate has no certID).
 */
export function authorityKeyIdentifierOf(certificate: CertificateView): Uint8Array | undefined {
  const value = certificate.extensions.find((e) => e.oid === oids.authorityKeyIdentifier)?.value;
  if (!value) return undefined;
  const root = readRoot(value);
  if (root.tag !== tags.sequence) return undefined;
  const keyId = children(value, root).find((node) => node.tag === contextPrimitive(0));
  return keyId && keyId.end > keyId.contentStart ? content(value, keyId).slice() : undefined;
}

/** The certID of a parsed certificate, or undefined when it has no AKI keyIdentifier. */
export function ariCertIdOf(certificate: CertificateView): string | undefined {
  const aki = authorityKeyIdentifierOf(certificate);
  return aki ? ariCertId(aki, certificate.serialHex) : undefined;
}

/**
 * The suggestedWindow of a renewalInfo answer (RFC 9773 §4.2), on whole
 * seconds (it is written as RFC 3339 timestamps).
 *
 * A live certificate: from `window.start` to `window.end` of its lifetime
 * (by default 2/3 to 90%), so renewals of a batch issued together spread
 * over the window instead of all hitting the last days.
 *
 * A revoked certificate: a window that ended before `now`. A client picks a
 * time inside the window and, when that time has passed, renews at once
 * (§4.2); a window entirely in the past makes every client do so on its
 * next check, whatever time it picks. Start an hour ago, end half an hour
 * ago: comfortably past even for a client whose clock is a little behind.
 *
 * The end is always after the start (a window where it is not is invalid,
 * §4.2): on a lifetime of a second or two, rounding could make them equal.
 */
export function suggestedWindow(input: {
  notBefore: Date;
  notAfter: Date;
  revoked: boolean;
  now: Date;
  /** Fractions of the lifetime, 0 < start < end < 1: the profile's renewalWindow. */
  window: { start: number; end: number };
}): { start: Date; end: Date } {
  const { notBefore, notAfter, window } = input;
  if (!(window.start > 0 && window.start < window.end && window.end < 1))
    throw new RangeError("a renewal window needs 0 < start < end < 1");
  if (input.revoked) {
    const now = floorToSecond(input.now.getTime());
    return { start: new Date(now - 60 * 60_000), end: new Date(now - 30 * 60_000) };
  }
  const lifetime = notAfter.getTime() - notBefore.getTime();
  if (!(lifetime > 0)) throw new RangeError("notAfter must be after notBefore");
  const start = floorToSecond(notBefore.getTime() + lifetime * window.start);
  const end = Math.max(floorToSecond(notBefore.getTime() + lifetime * window.end), start + 1000);
  return { start: new Date(start), end: new Date(end) };
}

function floorToSecond(ms: number): number {
  return Math.floor(ms / 1000) * 1000;
}

/** INTEGER content octets of a positive serial given in hex: minimal, with a 0x00 sign octet when needed. */
function serialContent(serialHex: string): Uint8Array {
  if (!/^[0-9a-fA-F]+$/.test(serialHex)) throw new RangeError("a serial must be hex");
  const bytes = Buffer.from(serialHex.length % 2 ? `0${serialHex}` : serialHex, "hex");
  let first = 0;
  while (first < bytes.length - 1 && bytes[first] === 0) first++;
  const magnitude = bytes.subarray(first);
  if (magnitude.length === 1 && magnitude[0] === 0) throw new RangeError("a serial must be positive");
  return magnitude[0]! & 0x80 ? Buffer.concat([Buffer.of(0), magnitude]) : magnitude;
}

/** RFC 4648 §5 base64url without padding, canonical (unused trailing bits zero), non-empty. */
function decodeBase64UrlStrict(text: string): Buffer | undefined {
  if (text.length === 0 || !/^[A-Za-z0-9_-]+$/.test(text) || text.length % 4 === 1) return undefined;
  const bytes = Buffer.from(text, "base64url");
  // Node ignores non-zero leftover bits; re-encoding exposes them (e.g. "AB" vs "AA").
  return bytes.toString("base64url") === text ? bytes : undefined;
}
