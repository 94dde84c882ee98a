import { hash } from "node:crypto";
import { readCertificate } from "../x509/parse-certificate.ts";
import { type CertId, type CertIdHashAlgorithm, encodeCertId } from "./cert-id.ts";

/** issuerNameHash and issuerKeyHash of one CA for one hash algorithm. */
export interface IssuerHashPair {
  readonly issuerNameHash: Uint8Array;
  readonly issuerKeyHash: Uint8Array;
}

/** The CertID issuer fields of a CA, for every hash algorithm we accept. */
export type IssuerHashes = Readonly<Record<CertIdHashAlgorithm, IssuerHashPair>>;

/**
 * RFC 6960 §4.1.1: issuerNameHash is the hash of the issuer's DER Name, i.e.
 * of the CA certificate's subject as encoded there (the same bytes its
 * certificates carry as issuer, RFC 5280 §4.1.2.4); issuerKeyHash is the
 * hash of the CA's subjectPublicKey BIT STRING value, without tag, length and
 * unused-bits octet.
 */
export function issuerHashes(caCertificateDer: Uint8Array): IssuerHashes {
  const ca = readCertificate(caCertificateDer);
  const name = ca.subject.der;
  const key = ca.publicKey.subjectPublicKey;
  const pair = (algorithm: CertIdHashAlgorithm): IssuerHashPair => ({
    issuerNameHash: new Uint8Array(hash(algorithm, name, "buffer")),
    issuerKeyHash: new Uint8Array(hash(algorithm, key, "buffer")),
  });
  return { sha1: pair("sha1"), sha256: pair("sha256") };
}

/** A string key for (hash algorithm, issuerNameHash, issuerKeyHash), for maps indexing CAs. */
export function issuerIndexKey(
  hashAlgorithm: CertIdHashAlgorithm,
  issuerNameHash: Uint8Array,
  issuerKeyHash: Uint8Array,
): string {
  return `${hashAlgorithm}:${Buffer.from(issuerNameHash).toString("hex")}:${Buffer.from(issuerKeyHash).toString("hex")}`;
}

/** The CertID of one of a CA's certificates in our canonical encoding (for responses signed ahead). */
export function certIdFor(hashes: IssuerHashes, hashAlgorithm: CertIdHashAlgorithm, serialNumber: Uint8Array): CertId {
  return encodeCertId({ hashAlgorithm, ...hashes[hashAlgorithm], serialNumber });
}

export interface IssuerIndex<T> {
  /**
   * Every entry whose CA matches the CertID's issuer, in insertion order;
   * empty when none does (the caller answers unauthorized). Several entries
   * match when CA certificates share a name and key (a renewed CA
   * certificate): together they are one issuer for OCSP, and the serial
   * decides which one issued the certificate.
   */
  lookup(certId: Pick<CertId, "hashAlgorithm" | "issuerNameHash" | "issuerKeyHash">): readonly T[];
}

const none: readonly never[] = Object.freeze([]);

/** Indexes CAs by both their SHA-1 and SHA-256 issuer hashes. Throws invalid_argument for a bad certificate. */
export function createIssuerIndex<T>(
  entries: Iterable<{ readonly certificateDer: Uint8Array; readonly value: T }>,
): IssuerIndex<T> {
  const map = new Map<string, T[]>();
  for (const { certificateDer, value } of entries) {
    const hashes = issuerHashes(certificateDer);
    for (const algorithm of Object.keys(hashes) as CertIdHashAlgorithm[]) {
      const { issuerNameHash, issuerKeyHash } = hashes[algorithm];
      const key = issuerIndexKey(algorithm, issuerNameHash, issuerKeyHash);
      const list = map.get(key);
      if (list) list.push(value);
      else map.set(key, [value]);
    }
  }
  return {
    lookup: (certId) =>
      map.get(issuerIndexKey(certId.hashAlgorithm, certId.issuerNameHash, certId.issuerKeyHash)) ?? none,
  };
}
