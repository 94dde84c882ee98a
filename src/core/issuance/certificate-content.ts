import type { PublicKeyInfo } from "../keys/public-key-info.ts";
import type { SubjectAltName } from "../x509/general-name.ts";
import type { NameAttribute } from "../x509/name.ts";

/**
 * The per-certificate content policy settled on: everything that varies
 * between two certificates of one (CA, profile) template. Values are
 * validated and normalised (lower-case DNS names, canonical IPs, times on
 * whole seconds) so the builder can encode them without further checks.
 */
export interface CertificateContent {
  /** Subject attributes in encoding order; may be empty when SANs carry the identity. */
  readonly subject: readonly NameAttribute[];
  readonly subjectPublicKeySpki: Uint8Array;
  readonly publicKey: PublicKeyInfo;
  readonly sans: readonly SubjectAltName[];
  readonly notBefore: Date;
  /** Inclusive (RFC 5280 §4.1.2.5). */
  readonly notAfter: Date;
}
