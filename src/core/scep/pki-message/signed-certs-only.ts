import { buildCertsOnlyPkcs7 } from "../../x509/certs-only-pkcs7.ts";
import type { EnvelopeRecipient, MessageDigest } from "./pki-message-types.ts";
import { buildRaSignedData } from "./ra-signed-data.ts";

/**
 * GetNextCACert's answer (RFC 8894 §4.7.1): the degenerate certs-only
 * PKCS#7 of the rollover CA's certificates, encapsulated as id-data in a
 * SignedData signed by the current RA, so a client can trust the new CA
 * through the one it already has.
 */
export function buildSignedCertsOnly(
  certificatesDer: readonly Uint8Array[],
  signer: EnvelopeRecipient,
  digest: MessageDigest = "sha256",
  now: Date = new Date(),
): Buffer {
  return buildRaSignedData(buildCertsOnlyPkcs7(certificatesDer), [], signer, digest, now);
}
