import type { JWK } from "jose";
import type { AcmeAccountRow } from "../../store/acme-account-store.ts";

export type AcmeAccountStatus = "valid" | "deactivated" | "revoked";

/** An ACME account (RFC 8555 §7.1.2) as the core hands it to the front end. */
export interface AcmeAccount {
  readonly id: string;
  readonly directoryId: string;
  readonly jwk: JWK;
  readonly thumbprint: string;
  readonly status: AcmeAccountStatus;
  readonly contacts: readonly string[];
  readonly termsOfServiceAgreed: boolean;
  /** The EAB key id that bound it (RFC 8555 §7.3.4), if any. */
  readonly externalAccountKeyId: string | null;
  readonly createdAt: Date;
}

/** The audit actor and certificate requester of an account's actions. */
export function accountActor(accountId: string): string {
  return `acme-account:${accountId}`;
}

export function toAcmeAccount(row: AcmeAccountRow): AcmeAccount {
  return {
    id: row.id,
    directoryId: row.directory_id,
    jwk: row.jwk as JWK,
    thumbprint: row.jwk_thumbprint,
    status: row.status,
    contacts: row.contacts,
    termsOfServiceAgreed: row.tos_agreed_at !== null,
    externalAccountKeyId: row.eab_key_id,
    createdAt: new Date(row.created_at),
  };
}
