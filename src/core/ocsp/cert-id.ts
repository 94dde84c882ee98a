import { ChanceryError } from "../errors.ts";
import { content, type DerNode, expectChildren, expectTag, readIntegerContent, readOid } from "../x509/der-reader.ts";
import { derNull, integerFromContent, octetString, sequence, tags } from "../x509/der-writer.ts";
import { encodeOid, oids } from "../x509/oids.ts";
import { serialHexFromContent } from "../x509/serial-number.ts";
import { ocspRequestProblem } from "./ocsp-request-problem.ts";

/**
 * The hash algorithms we accept in a CertID. RFC 9919 has clients use SHA-256
 * (or SHA-1, which RFC 5019 mandated and most clients still send); nothing
 * else is seen in practice, and a responder that cannot index a CertID cannot
 * answer it, so others are refused (malformedRequest) rather than hashed on
 * demand for every CA.
 */
export type CertIdHashAlgorithm = "sha1" | "sha256";

export const certIdHashAlgorithms: Readonly<
  Record<CertIdHashAlgorithm, { readonly oid: string; readonly length: number }>
> = {
  sha1: { oid: oids.sha1, length: 20 },
  sha256: { oid: oids.sha256, length: 32 },
};

/**
 * Longest serialNumber we read from a CertID. RFC 5280 §4.1.2.2 caps serials
 * at 20 octets and ours have at most 17, so a longer one can never be ours;
 * up to 32 it is still answered (as unknown, by the caller) because lenient
 * CAs exist, beyond that the request is refused. The bound keeps cache keys
 * and log lines small.
 */
export const maxCertIdSerialOctets = 32;

/** RFC 6960 §4.1.1 CertID. */
export interface CertId {
  readonly hashAlgorithm: CertIdHashAlgorithm;
  /** Hash of the issuer's DER Name (the issuer certificate's subject). */
  readonly issuerNameHash: Uint8Array;
  /** Hash of the issuer's subjectPublicKey BIT STRING value. */
  readonly issuerKeyHash: Uint8Array;
  /** serialNumber INTEGER content octets, exactly as encoded. */
  readonly serialNumber: Uint8Array;
  /** Serial in lower-case hex, as the store records it (serialHexFromContent). */
  readonly serialHex: string;
  /**
   * The DER CertID. From a request: the client's bytes, so an answer can echo
   * them exactly (hashAlgorithm parameters NULL or absent, as the client sent).
   * From encodeCertId: our canonical form.
   */
  readonly der: Uint8Array;
}

const hashAlgorithmIdentifiers: Record<CertIdHashAlgorithm, Uint8Array> = {
  // NULL parameters: what openssl, Go's x/crypto/ocsp, NSS and Windows send, so a
  // pre-signed response matches byte for byte the CertID most clients ask with.
  // RFC 5754 §2 and RFC 3370 §2.1 make receivers accept both NULL and absent.
  sha1: sequence([encodeOid(oids.sha1), derNull]),
  sha256: sequence([encodeOid(oids.sha256), derNull]),
};

/** A CertID in our canonical encoding, e.g. for a response signed ahead of any request. */
export function encodeCertId(fields: {
  hashAlgorithm: CertIdHashAlgorithm;
  issuerNameHash: Uint8Array;
  issuerKeyHash: Uint8Array;
  serialNumber: Uint8Array;
}): CertId {
  const { length } = certIdHashAlgorithms[fields.hashAlgorithm];
  if (fields.issuerNameHash.length !== length || fields.issuerKeyHash.length !== length)
    throw new ChanceryError("invalid_argument", `CertID hashes must be ${length} octets for ${fields.hashAlgorithm}`);
  if (fields.serialNumber.length === 0 || fields.serialNumber.length > maxCertIdSerialOctets)
    throw new ChanceryError("invalid_argument", "CertID serialNumber has an invalid length");
  const der = new Uint8Array(
    sequence([
      hashAlgorithmIdentifiers[fields.hashAlgorithm],
      octetString(fields.issuerNameHash),
      octetString(fields.issuerKeyHash),
      integerFromContent(fields.serialNumber),
    ]),
  );
  return {
    hashAlgorithm: fields.hashAlgorithm,
    issuerNameHash: new Uint8Array(fields.issuerNameHash),
    issuerKeyHash: new Uint8Array(fields.issuerKeyHash),
    serialNumber: new Uint8Array(fields.serialNumber),
    serialHex: serialHexFromContent(fields.serialNumber),
    der,
  };
}

function hashAlgorithmOf(buf: Uint8Array, node: DerNode): CertIdHashAlgorithm {
  const parts = expectChildren(buf, node, tags.sequence, "CertID hashAlgorithm", 1, 2);
  const oid = readOid(buf, parts[0]!);
  const params = parts[1];
  // RFC 5754 §2 / RFC 3370 §2.1: parameters absent or NULL, nothing else.
  if (params !== undefined && (params.tag !== tags.null || params.end !== params.contentStart))
    throw ocspRequestProblem("malformed", "CertID hashAlgorithm parameters must be absent or NULL");
  if (oid === oids.sha1) return "sha1";
  if (oid === oids.sha256) return "sha256";
  throw ocspRequestProblem("unsupported_hash_algorithm", `CertID hash algorithm ${oid} is not supported`);
}

/** Reads one CertID; throws ChanceryError (see ocsp-request-problem.ts) on anything wrong. */
export function readCertId(buf: Uint8Array, node: DerNode): CertId {
  const [algorithm, nameHash, keyHash, serial] = expectChildren(buf, node, tags.sequence, "CertID", 4);
  const hashAlgorithm = hashAlgorithmOf(buf, algorithm!);
  const { length } = certIdHashAlgorithms[hashAlgorithm];
  const issuerNameHash = content(buf, expectTag(nameHash, tags.octetString, "issuerNameHash"));
  const issuerKeyHash = content(buf, expectTag(keyHash, tags.octetString, "issuerKeyHash"));
  if (issuerNameHash.length !== length || issuerKeyHash.length !== length)
    throw ocspRequestProblem("malformed", `CertID hashes must be ${length} octets for ${hashAlgorithm}`);
  const serialNumber = readIntegerContent(buf, serial!);
  if (serialNumber.length > maxCertIdSerialOctets)
    throw ocspRequestProblem("malformed", `CertID serialNumber is longer than ${maxCertIdSerialOctets} octets`);
  return {
    hashAlgorithm,
    // Copies: the parsed request must not pin (or alias) the caller's request buffer.
    issuerNameHash: issuerNameHash.slice(),
    issuerKeyHash: issuerKeyHash.slice(),
    serialNumber: serialNumber.slice(),
    serialHex: serialHexFromContent(serialNumber),
    der: buf.slice(node.start, node.end),
  };
}
