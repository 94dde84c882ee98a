import { createHash } from "node:crypto";

/**
 * SHA-256 of the key authorization: the TXT value of dns-01 is its base64url
 * form (RFC 8555 §8.4), the acmeIdentifier extension of tls-alpn-01 carries
 * the raw 32 octets (RFC 8737 §3).
 */
export function keyAuthorizationDigest(keyAuthorization: string): Buffer {
  return createHash("sha256").update(keyAuthorization, "utf8").digest();
}

/** RFC 8555 §8.4: base64url(SHA-256(keyAuthorization)), without padding (RFC 8555 §6.1). */
export function dns01TxtValue(keyAuthorization: string): string {
  return keyAuthorizationDigest(keyAuthorization).toString("base64url");
}
