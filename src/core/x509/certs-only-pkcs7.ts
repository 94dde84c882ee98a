import { contextConstructed, derInteger, derOid, sequence, tags, tlvOf } from "./der-writer.ts";

/** RFC 5652 §4 id-data and §5 id-signedData. */
const idData = derOid("1.2.840.113549.1.7.1");
const idSignedData = derOid("1.2.840.113549.1.7.2");
const version1 = derInteger(1);
const emptySet = Uint8Array.of(tags.set, 0);
/** encapContentInfo of a degenerate SignedData: id-data without eContent. */
const noContent = sequence([idData]);

/**
 * A degenerate "certs-only" SignedData (RFC 5652 §5, no signers), wrapped in
 * its ContentInfo, DER: SCEP GetCACert and CertRep (RFC 8894 §3.4, §4.2) and
 * EST /cacerts (RFC 7030 §4.1.3) carry certificates and CRLs this way.
 *
 * The certificates keep the given order (issued certificate first, then its
 * chain): clients read the first one as theirs. DER would sort a SET OF;
 * like OpenSSL, which encodes this field as an implicitly tagged SEQUENCE OF
 * for the same reason, we keep the order instead. Inputs are DER and are
 * copied as they are.
 */
export function buildCertsOnlyPkcs7(certs: readonly Uint8Array[], crls: readonly Uint8Array[] = []): Buffer {
  const fields: Uint8Array[] = [
    // RFC 5652 §5.1: version 1 with only X.509 certificates and CRLs and id-data content.
    version1,
    emptySet, // digestAlgorithms
    noContent,
  ];
  if (certs.length > 0) fields.push(tlvOf(contextConstructed(0), certs));
  if (crls.length > 0) fields.push(tlvOf(contextConstructed(1), crls));
  fields.push(emptySet); // signerInfos
  const contentInfo = sequence([idSignedData, tlvOf(contextConstructed(0), [sequence(fields)])]);
  return Buffer.from(contentInfo.buffer, contentInfo.byteOffset, contentInfo.length);
}
