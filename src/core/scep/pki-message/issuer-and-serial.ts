import { expectChildren, expectTag, raw, readRoot } from "../../x509/der-reader.ts";
import { contextConstructed, sequence, tags } from "../../x509/der-writer.ts";

/**
 * IssuerAndSerialNumber (RFC 5652 §10.2.4) of a DER certificate, with the
 * issuer Name and serial INTEGER copied exactly as the certificate encodes
 * them, so the peer's byte comparison matches even for unusual encodings.
 */
export function issuerAndSerialNumber(certificateDer: Uint8Array): Uint8Array {
  const [tbs] = expectChildren(certificateDer, readRoot(certificateDer), tags.sequence, "Certificate", 3);
  const fields = expectChildren(certificateDer, tbs!, tags.sequence, "TBSCertificate", 6, 10);
  const first = fields[0]!.tag === contextConstructed(0) ? 1 : 0;
  const serial = expectTag(fields[first], tags.integer, "serialNumber");
  // serialNumber, signature, issuer
  const issuer = expectTag(fields[first + 2], tags.sequence, "issuer");
  return sequence([raw(certificateDer, issuer), raw(certificateDer, serial)]);
}
