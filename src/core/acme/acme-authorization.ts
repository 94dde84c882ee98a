import type { AcmeAuthorizationRow, AcmeChallengeRow } from "../../store/acme-authorization-store.ts";
import type { ProblemDocument } from "./acme-problem.ts";
import type { AcmeIdentifier, ChallengeType } from "./acme-types.ts";

export type AcmeAuthorizationStatus = AcmeAuthorizationRow["status"];
export type AcmeChallengeStatus = AcmeChallengeRow["status"];

export interface AcmeChallenge {
  readonly id: string;
  readonly authorizationId: string;
  readonly type: ChallengeType;
  readonly status: AcmeChallengeStatus;
  readonly token: string;
  readonly validatedAt: Date | null;
  readonly error: ProblemDocument | null;
}

/** RFC 8555 §7.1.4. The identifier is without "*."; `wildcard` says the order asked for one. */
export interface AcmeAuthorization {
  readonly id: string;
  readonly accountId: string;
  readonly identifier: AcmeIdentifier;
  readonly wildcard: boolean;
  readonly status: AcmeAuthorizationStatus;
  readonly expiresAt: Date;
  /** Valid without a challenge (internal-PKI mode). */
  readonly trusted: boolean;
  readonly challenges: readonly AcmeChallenge[];
}

/** An authorization's status at `now`: pending and valid ones past their expiry read as expired (RFC 8555 §7.1.6). */
export function authorizationStatusAt(row: AcmeAuthorizationRow, now: Date): AcmeAuthorizationStatus {
  if ((row.status === "pending" || row.status === "valid") && row.expires_at <= now.getTime()) return "expired";
  return row.status;
}

export function toAcmeAuthorization(
  row: AcmeAuthorizationRow,
  challenges: readonly AcmeChallengeRow[],
  now: Date,
): AcmeAuthorization {
  return {
    id: row.id,
    accountId: row.account_id,
    identifier: { type: row.identifier_type, value: row.identifier_value },
    wildcard: row.wildcard,
    status: authorizationStatusAt(row, now),
    expiresAt: new Date(row.expires_at),
    trusted: row.trusted,
    challenges: challenges.filter((c) => c.authorization_id === row.id).map(toAcmeChallenge),
  };
}

export function toAcmeChallenge(row: AcmeChallengeRow): AcmeChallenge {
  return {
    id: row.id,
    authorizationId: row.authorization_id,
    type: row.type,
    status: row.status,
    token: row.token,
    validatedAt: row.validated_at === null ? null : new Date(row.validated_at),
    error: row.error as ProblemDocument | null,
  };
}

/**
 * The challenge types that can prove an identifier: dns-01 only for a
 * wildcard (RFC 8555 §7.1.3, §8.3; RFC 8737 §3 rules out tls-alpn-01), never
 * dns-01 for an IP address (RFC 8738 §7), in the directory's order.
 */
export function challengeTypesFor(
  offered: readonly ChallengeType[],
  identifier: AcmeIdentifier,
  wildcard: boolean,
): ChallengeType[] {
  return offered.filter((type) => {
    if (wildcard) return type === "dns-01";
    if (identifier.type === "ip") return type !== "dns-01";
    return true;
  });
}
