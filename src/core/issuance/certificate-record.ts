import type { CertificateViewRow } from "../../store/certificate-store.ts";
import { ChanceryError } from "../errors.ts";
import { type RevocationReason, revocationReasonName } from "../revocation/revocation-reason.ts";
import { type SubjectAltName, type SubjectAltNameType, subjectAltNameTypes } from "../x509/general-name.ts";

/** Revoked wins over expired: a revoked certificate stays revoked after its notAfter. */
export const certificateStates = ["valid", "revoked", "expired"] as const;
export type CertificateState = (typeof certificateStates)[number];

/** An issued certificate as the rest of the gateway reads it back. */
export interface CertificateRecord {
  readonly id: string;
  readonly caId: string;
  /** Null only when the profile row was removed by hand. */
  readonly profileName: string | null;
  /** Lower-case hex, no leading zero octet. */
  readonly serialHex: string;
  /** SHA-256 of the DER, lower-case hex. */
  readonly fingerprintSha256: string;
  readonly subject: string;
  readonly sans: readonly SubjectAltName[];
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly der: Buffer;
  readonly requester: string;
  /** One of sourceProtocols for what this version writes; kept as text for rows from other versions. */
  readonly sourceProtocol: string;
  /** Derived at read time from the clock: expired once now is past notAfter (RFC 5280 §4.1.2.5: notAfter is inclusive). */
  readonly state: CertificateState;
  readonly revokedAt: Date | null;
  readonly revocationReason: RevocationReason | null;
  readonly issuedAt: Date;
}

/** The state of a certificate at `now`. */
export function certificateState(status: "valid" | "revoked", notAfter: Date, now: Date): CertificateState {
  if (status === "revoked") return "revoked";
  return notAfter.getTime() < now.getTime() ? "expired" : "valid";
}

export function toCertificateRecord(row: CertificateViewRow, now: Date): CertificateRecord {
  const notAfter = new Date(row.not_after);
  return {
    id: row.id,
    caId: row.ca_id,
    profileName: row.profile_name,
    serialHex: row.serial_hex,
    fingerprintSha256: row.fingerprint_sha256,
    subject: row.subject,
    sans: row.sans.map((san): SubjectAltName => {
      if (san.type === "otherName" && san.name) return { type: "otherName", name: san.name, value: san.value };
      if (!subjectAltNameTypes.includes(san.type as SubjectAltNameType))
        throw new ChanceryError("internal", `certificate ${row.serial_hex} has a SAN of unknown type ${san.type}`);
      return { type: san.type as SubjectAltNameType, value: san.value };
    }),
    notBefore: new Date(row.not_before),
    notAfter,
    der: row.der,
    requester: row.requester,
    sourceProtocol: row.source_protocol,
    state: certificateState(row.status, notAfter, now),
    revokedAt: row.revoked_at === null ? null : new Date(row.revoked_at),
    revocationReason: row.revocation_reason === null ? null : (revocationReasonName(row.revocation_reason) ?? null),
    issuedAt: new Date(row.issued_at),
  };
}
