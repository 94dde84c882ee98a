/**
 * What a failed connection attempt means for a validation:
 * - connection: nothing usable answered at that address (refused, reset,
 *   unreachable, timed out): transient, and a reason to try the other
 *   address family;
 * - tls: the TLS handshake failed (an alert, no shared protocol version);
 * - protocol: bytes came back but not a well-formed HTTP response.
 */
export type ConnectionFailureKind = "connection" | "tls" | "protocol";

export function connectionFailureKind(code: string, timedOut: boolean): ConnectionFailureKind {
  if (timedOut) return "connection";
  // llhttp parse errors (HPE_INVALID_CONSTANT, HPE_INVALID_HEADER_TOKEN, …).
  if (code.startsWith("HPE_")) return "protocol";
  // OpenSSL failures surface as ERR_SSL_* (alerts, version mismatch) and the handshake-specific codes.
  if (code.startsWith("ERR_SSL_") || code.startsWith("ERR_TLS_") || code === "EPROTO") return "tls";
  return "connection";
}
