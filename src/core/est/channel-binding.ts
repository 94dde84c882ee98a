import { timingSafeEqual } from "node:crypto";

/**
 * The TLS channel binding of the connection a request came over, as the
 * front end read it from the socket: tls-unique (RFC 5929 §3.1) on TLS 1.2,
 * tls-exporter (RFC 9266) on TLS 1.3, which has no tls-unique.
 */
export interface ChannelBinding {
  readonly type: "tls-unique" | "tls-exporter";
  readonly value: Buffer;
}

/**
 * RFC 7030 §3.5: the client links its CSR to the TLS session by putting the
 * base64 of the channel binding into the challengePassword attribute; the
 * server compares it with its own view of the connection. A proxy that
 * terminates TLS in between, or a CSR made for another session, does not match.
 */
export function checkChannelBinding(
  challengePassword: string | undefined,
  binding: ChannelBinding | null,
): { ok: true } | { ok: false; reason: string } {
  const how = "RFC 7030 §3.5: base64 of tls-unique on TLS 1.2, of tls-exporter (RFC 9266) on TLS 1.3";
  if (!binding) return { ok: false, reason: "the TLS channel binding of this connection is not available" };
  if (challengePassword === undefined)
    return {
      ok: false,
      reason: `this label requires the TLS channel binding in the CSR's challengePassword (${how}); the CSR carries none`,
    };
  const presented = decodeBase64(challengePassword.trim());
  if (!presented || presented.length !== binding.value.length || !timingSafeEqual(presented, binding.value))
    return {
      ok: false,
      reason: `the CSR's challengePassword is not this TLS connection's ${binding.type} channel binding (${how})`,
    };
  return { ok: true };
}

function decodeBase64(text: string): Buffer | null {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text) || text.length % 4 !== 0) return null;
  return Buffer.from(text, "base64");
}
