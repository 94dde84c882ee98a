import type { KeyAlgorithm } from "../keys/key-algorithm.ts";

/**
 * Something that holds a CA private key and signs with it. Callers never see
 * the key itself, so an HSM or KMS backed signer can replace the software one
 * without touching them.
 */
export interface Signer {
  readonly algorithm: KeyAlgorithm;
  /** DER SubjectPublicKeyInfo of the key. */
  readonly publicKeySpki: Uint8Array;
  /**
   * DER AlgorithmIdentifier this signer produces, for the `signature` field
   * of a TBSCertificate / TBSCertList and the outer `signatureAlgorithm`
   * (RFC 5280 §4.1.1.2; RFC 5758 for ECDSA, RFC 8410 for Ed25519).
   */
  readonly signatureAlgorithmDer: Uint8Array;
  /**
   * Signs `data` (for example a DER TBSCertificate) and returns the signature
   * value as it goes into the BIT STRING: DER ECDSA-Sig-Value for ECDSA,
   * PKCS#1 v1.5 for RSA, 64 raw bytes for Ed25519.
   */
  sign(data: Uint8Array): Promise<Uint8Array>;
}
