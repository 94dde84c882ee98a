import type { AcmeOrderRow } from "../../store/acme-order-store.ts";
import type { ProblemDocument } from "./acme-problem.ts";
import type { AcmeIdentifier } from "./acme-types.ts";

export type AcmeOrderStatus = AcmeOrderRow["status"];

/** RFC 8555 §7.1.3, with the profile (draft-ietf-acme-profiles) and replaces (RFC 9773 §5). */
export interface AcmeOrder {
  readonly id: string;
  readonly accountId: string;
  readonly status: AcmeOrderStatus;
  readonly identifiers: readonly AcmeIdentifier[];
  readonly profileName: string;
  readonly notBefore: Date | null;
  readonly notAfter: Date | null;
  readonly expiresAt: Date;
  readonly error: ProblemDocument | null;
  readonly authorizationIds: readonly string[];
  readonly certificateSerialHex: string | null;
  /** Set while the order waits for approval in the admin queue. */
  readonly requestId: string | null;
  readonly replaces: string | null;
  readonly createdAt: Date;
}

export function toAcmeOrder(row: AcmeOrderRow, authorizationIds: readonly string[]): AcmeOrder {
  return {
    id: row.id,
    accountId: row.account_id,
    status: row.status,
    identifiers: row.identifiers,
    profileName: row.profile_name,
    notBefore: row.not_before === null ? null : new Date(row.not_before),
    notAfter: row.not_after === null ? null : new Date(row.not_after),
    expiresAt: new Date(row.expires_at),
    error: row.error as ProblemDocument | null,
    authorizationIds,
    certificateSerialHex: row.certificate_serial_hex,
    requestId: row.request_id,
    replaces: row.replaces_cert_id,
    createdAt: new Date(row.created_at),
  };
}
