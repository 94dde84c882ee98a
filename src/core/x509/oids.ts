import { createOidEncoder } from "./der-writer.ts";

/** Object identifiers used by the X.509 builders and parsers, with the document that assigns them. */
export const oids = {
  // RFC 5280 §4.2.1.x certificate extensions (id-ce = 2.5.29)
  subjectKeyIdentifier: "2.5.29.14",
  keyUsage: "2.5.29.15",
  subjectAltName: "2.5.29.17",
  basicConstraints: "2.5.29.19",
  nameConstraints: "2.5.29.30",
  crlDistributionPoints: "2.5.29.31",
  certificatePolicies: "2.5.29.32",
  authorityKeyIdentifier: "2.5.29.35",
  extKeyUsage: "2.5.29.37",
  anyExtendedKeyUsage: "2.5.29.37.0",
  /** RFC 9608 §3 */
  noRevAvail: "2.5.29.56",
  // RFC 5280 §5.2 CRL extensions and §5.3 CRL entry extensions
  crlNumber: "2.5.29.20",
  crlReason: "2.5.29.21",
  issuingDistributionPoint: "2.5.29.28",
  // RFC 5280 §4.2.2.1 private internet extensions (id-pe = 1.3.6.1.5.5.7.1)
  authorityInfoAccess: "1.3.6.1.5.5.7.1.1",
  /** RFC 7633 §6 */
  tlsFeature: "1.3.6.1.5.5.7.1.24",
  // RFC 5280 §4.2.1.4 policy qualifiers
  cpsQualifier: "1.3.6.1.5.5.7.2.1",
  userNoticeQualifier: "1.3.6.1.5.5.7.2.2",
  // RFC 5280 §4.2.2.1 access methods
  ocsp: "1.3.6.1.5.5.7.48.1",
  caIssuers: "1.3.6.1.5.5.7.48.2",
  // RFC 6960 OCSP (id-pkix-ocsp = id-ad-ocsp): §4.2.1 basic response type, §4.4 extensions
  ocspBasic: "1.3.6.1.5.5.7.48.1.1",
  /** RFC 9654 §2.1 (replaces RFC 6960 §4.4.1) */
  ocspNonce: "1.3.6.1.5.5.7.48.1.2",
  ocspCrlId: "1.3.6.1.5.5.7.48.1.3",
  ocspAcceptableResponses: "1.3.6.1.5.5.7.48.1.4",
  /** RFC 6960 §4.2.2.2.1: a delegated responder certificate is not checked for revocation. */
  ocspNoCheck: "1.3.6.1.5.5.7.48.1.5",
  ocspArchiveCutoff: "1.3.6.1.5.5.7.48.1.6",
  ocspServiceLocator: "1.3.6.1.5.5.7.48.1.7",
  ocspPreferredSignatureAlgorithms: "1.3.6.1.5.5.7.48.1.8",
  ocspExtendedRevoke: "1.3.6.1.5.5.7.48.1.9",
  // RFC 2985 PKCS#9 attributes
  emailAddress: "1.2.840.113549.1.9.1",
  challengePassword: "1.2.840.113549.1.9.7",
  extensionRequest: "1.2.840.113549.1.9.14",
  /** Microsoft user principal name otherName (MS-WCCE; used for smart-card logon). */
  microsoftUpn: "1.3.6.1.4.1.311.20.2.3",
  // Public key algorithms
  ecPublicKey: "1.2.840.10045.2.1",
  rsaEncryption: "1.2.840.113549.1.1.1",
  rsassaPss: "1.2.840.113549.1.1.10",
  mgf1: "1.2.840.113549.1.1.8",
  ed25519: "1.3.101.112",
  ed448: "1.3.101.113",
  // Named curves (RFC 5480 §2.1.1.1)
  secp256r1: "1.2.840.10045.3.1.7",
  secp384r1: "1.3.132.0.34",
  secp521r1: "1.3.132.0.35",
  // Signature algorithms (RFC 5758 §3.2 ECDSA, RFC 4055 §5 RSA)
  ecdsaWithSha256: "1.2.840.10045.4.3.2",
  ecdsaWithSha384: "1.2.840.10045.4.3.3",
  ecdsaWithSha512: "1.2.840.10045.4.3.4",
  sha1WithRsa: "1.2.840.113549.1.1.5",
  sha256WithRsa: "1.2.840.113549.1.1.11",
  sha384WithRsa: "1.2.840.113549.1.1.12",
  sha512WithRsa: "1.2.840.113549.1.1.13",
  ecdsaWithSha1: "1.2.840.10045.4.1",
  // Digests (RFC 5754)
  sha1: "1.3.14.3.2.26",
  sha256: "2.16.840.1.101.3.4.2.1",
  sha384: "2.16.840.1.101.3.4.2.2",
  sha512: "2.16.840.1.101.3.4.2.3",
} as const;

/** DER OBJECT IDENTIFIER, precomputed for every OID above (the issuance path encodes the same few each time). */
export const encodeOid: (oid: string) => Uint8Array = createOidEncoder(Object.values(oids));
