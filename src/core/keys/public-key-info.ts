/**
 * What policy needs to know about a public key, as readSubjectPublicKeyInfo
 * (src/core/x509/subject-public-key-info.ts) reads it from the DER.
 */
export type PublicKeyInfo =
  | { type: "ec"; curve: "P-256" | "P-384" | "P-521"; bits: number }
  | { type: "rsa"; bits: number; publicExponent: bigint }
  | { type: "ed25519"; bits: 256 }
  | { type: "ed448"; bits: 456 };
