import type { KeyAlgorithm } from "../keys/key-algorithm.ts";

/** A CA as the rest of the gateway sees it; the sealed key never leaves the CA service. */
export interface CertificateAuthority {
  readonly id: string;
  readonly name: string;
  readonly kind: "root" | "intermediate";
  /** pending: an external-parent CSR was made and the signed certificate is not imported yet. */
  readonly status: "active" | "pending" | "disabled";
  readonly parentId: string | null;
  readonly keyAlgorithm: KeyAlgorithm;
  /** RFC 4514 subject. */
  readonly subject: string;
  readonly certificateDer: Buffer | null;
  /** Issuers above this CA, nearest first; empty for a root. */
  readonly chainDer: readonly Buffer[];
  readonly csrDer: Buffer | null;
  /** SHA-256 of the certificate DER, colon-separated upper-case hex (as openssl prints it). */
  readonly fingerprintSha256: string | null;
  readonly notBefore: Date | null;
  readonly notAfter: Date | null;
  /** Issuing or approving through this CA needs a valid, not-yet-used TOTP code. */
  readonly otpRequired: boolean;
  /** Profile names this CA may issue with; empty means every profile. */
  readonly allowedProfiles: readonly string[];
  readonly createdAt: Date;
}
