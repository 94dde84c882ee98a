import { ChanceryError } from "../errors.ts";

/** RFC 6960 §4.2.1 OCSPResponseStatus (4 is not used). */
export const ocspResponseStatuses = {
  successful: 0,
  /** Illegal confirmation request: the request does not conform to the OCSP syntax. */
  malformedRequest: 1,
  /** Internal error in the issuer. */
  internalError: 2,
  /** Try again later. */
  tryLater: 3,
  /** Must sign the request. */
  sigRequired: 5,
  /**
   * Request unauthorized: the responder has no authoritative records for the
   * CertID's issuer (RFC 5019 §2.2.3, kept by RFC 9919).
   */
  unauthorized: 6,
} as const;

export type OcspResponseStatus = keyof typeof ocspResponseStatuses;
export type OcspErrorStatus = Exclude<OcspResponseStatus, "successful">;

/** ENUMERATED (X.690 §8.4, universal tag 10). */
const enumeratedTag = 0x0a;

/**
 * An unsuccessful OCSPResponse: SEQUENCE { responseStatus ENUMERATED } and
 * nothing else. RFC 6960 §4.2.1: only a successful response carries
 * responseBytes, so error responses are unsigned, fixed, five octets.
 * A fresh copy each call, so no caller can alter what another one sends.
 */
export function ocspErrorResponse(status: OcspErrorStatus): Uint8Array {
  // Checked at run time too: a status string from elsewhere must not yield a "successful" without a body.
  const code = (ocspResponseStatuses as Readonly<Record<string, number>>)[status];
  if (code === undefined || code === 0)
    throw new ChanceryError("internal", `not an OCSP error status: ${String(status)}`);
  return Uint8Array.of(0x30, 0x03, enumeratedTag, 0x01, code);
}
