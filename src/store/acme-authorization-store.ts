import { type CommonQueryMethods, sql } from "slonik";
import { z } from "zod";

const authorizationStatus = z.enum(["pending", "valid", "invalid", "deactivated", "expired", "revoked"]);
const challengeStatus = z.enum(["pending", "processing", "valid", "invalid"]);
const challengeType = z.enum(["http-01", "dns-01", "tls-alpn-01"]);

const authorizationRow = z.object({
  id: z.string(),
  account_id: z.string(),
  identifier_type: z.enum(["dns", "ip"]),
  identifier_value: z.string(),
  wildcard: z.boolean(),
  status: authorizationStatus,
  expires_at: z.number(),
  trusted: z.boolean(),
});
export type AcmeAuthorizationRow = z.infer<typeof authorizationRow>;

const challengeRow = z.object({
  id: z.string(),
  authorization_id: z.string(),
  type: challengeType,
  token: z.string(),
  status: challengeStatus,
  validated_at: z.number().nullable(),
  error: z.record(z.unknown()).nullable(),
  attempts: z.number(),
});
export type AcmeChallengeRow = z.infer<typeof challengeRow>;

const authorizationColumns = sql.fragment`id, account_id, identifier_type, identifier_value, wildcard, status, expires_at,
  trusted`;
const challengeColumns = sql.fragment`id, authorization_id, type, token, status, validated_at, error, attempts`;

export interface NewAcmeAuthorizationRow {
  id: string;
  accountId: string;
  identifier: { type: "dns" | "ip"; value: string };
  wildcard: boolean;
  status: "pending" | "valid";
  trusted: boolean;
  expiresAt: Date;
  challenges: ReadonlyArray<{ id: string; type: "http-01" | "dns-01" | "tls-alpn-01"; token: string }>;
  now: Date;
}

export async function insertAcmeAuthorization(tx: CommonQueryMethods, row: NewAcmeAuthorizationRow): Promise<void> {
  const now = sql.timestamp(row.now);
  await tx.query(sql.unsafe`
    INSERT INTO acme_authorizations (id, account_id, identifier_type, identifier_value, wildcard, status, expires_at,
      trusted, created_at, updated_at)
    VALUES (${row.id}, ${row.accountId}, ${row.identifier.type}, ${row.identifier.value}, ${row.wildcard}, ${row.status},
      ${sql.timestamp(row.expiresAt)}, ${row.trusted}, ${now}, ${now})`);
  for (const challenge of row.challenges)
    await tx.query(sql.unsafe`
      INSERT INTO acme_challenges (id, authorization_id, type, token, status, created_at, updated_at)
      VALUES (${challenge.id}, ${row.id}, ${challenge.type}, ${challenge.token}, 'pending', ${now}, ${now})`);
}

export async function findAcmeAuthorization(db: CommonQueryMethods, id: string): Promise<AcmeAuthorizationRow | null> {
  return db.maybeOne(
    sql.type(authorizationRow)`SELECT ${authorizationColumns} FROM acme_authorizations WHERE id = ${id}`,
  );
}

export async function findAcmeAuthorizations(
  db: CommonQueryMethods,
  ids: readonly string[],
): Promise<AcmeAuthorizationRow[]> {
  if (ids.length === 0) return [];
  const rows = await db.any(sql.type(authorizationRow)`
    SELECT ${authorizationColumns} FROM acme_authorizations WHERE id = ANY(${sql.array([...ids], "uuid")})`);
  return [...rows];
}

export async function lockAcmeAuthorization(tx: CommonQueryMethods, id: string): Promise<AcmeAuthorizationRow | null> {
  return tx.maybeOne(
    sql.type(authorizationRow)`SELECT ${authorizationColumns} FROM acme_authorizations WHERE id = ${id} FOR UPDATE`,
  );
}

/** A valid authorization of the account for the identifier that is still valid at `validUntil` (reuse, RFC 8555 §7.1.4). */
export async function findReusableAcmeAuthorization(
  db: CommonQueryMethods,
  accountId: string,
  identifier: { type: "dns" | "ip"; value: string },
  wildcard: boolean,
  validUntil: Date,
): Promise<AcmeAuthorizationRow | null> {
  return db.maybeOne(sql.type(authorizationRow)`
    SELECT ${authorizationColumns} FROM acme_authorizations
    WHERE account_id = ${accountId} AND identifier_type = ${identifier.type}
      AND identifier_value = ${identifier.value} AND wildcard = ${wildcard}
      AND status = 'valid' AND expires_at > ${sql.timestamp(validUntil)}
    ORDER BY expires_at DESC LIMIT 1`);
}

export async function updateAcmeAuthorizationStatus(
  tx: CommonQueryMethods,
  id: string,
  status: AcmeAuthorizationRow["status"],
  now: Date,
  expiresAt?: Date,
): Promise<void> {
  await tx.query(sql.unsafe`
    UPDATE acme_authorizations SET status = ${status}, updated_at = ${sql.timestamp(now)}
      ${expiresAt ? sql.fragment`, expires_at = ${sql.timestamp(expiresAt)}` : sql.fragment``}
    WHERE id = ${id}`);
}

export async function findAcmeChallengesOf(
  db: CommonQueryMethods,
  authorizationIds: readonly string[],
): Promise<AcmeChallengeRow[]> {
  if (authorizationIds.length === 0) return [];
  const rows = await db.any(sql.type(challengeRow)`
    SELECT ${challengeColumns} FROM acme_challenges
    WHERE authorization_id = ANY(${sql.array([...authorizationIds], "uuid")}) ORDER BY type`);
  return [...rows];
}

export async function findAcmeChallenge(db: CommonQueryMethods, id: string): Promise<AcmeChallengeRow | null> {
  return db.maybeOne(sql.type(challengeRow)`SELECT ${challengeColumns} FROM acme_challenges WHERE id = ${id}`);
}

export async function lockAcmeChallenge(tx: CommonQueryMethods, id: string): Promise<AcmeChallengeRow | null> {
  return tx.maybeOne(
    sql.type(challengeRow)`SELECT ${challengeColumns} FROM acme_challenges WHERE id = ${id} FOR UPDATE`,
  );
}

export async function updateAcmeChallenge(
  tx: CommonQueryMethods,
  id: string,
  change: {
    status: AcmeChallengeRow["status"];
    error?: Record<string, unknown> | null;
    validationRecord?: Record<string, unknown>;
    attempts?: number;
    nextAttemptAt?: Date | null;
    validatedAt?: Date;
  },
  now: Date,
): Promise<void> {
  const sets = [sql.fragment`status = ${change.status}`, sql.fragment`updated_at = ${sql.timestamp(now)}`];
  if (change.error !== undefined)
    sets.push(sql.fragment`error = ${change.error === null ? null : sql.jsonb(change.error as never)}`);
  if (change.validationRecord !== undefined)
    sets.push(sql.fragment`validation_record = ${sql.jsonb(change.validationRecord as never)}`);
  if (change.attempts !== undefined) sets.push(sql.fragment`attempts = ${change.attempts}`);
  if (change.nextAttemptAt !== undefined)
    sets.push(sql.fragment`next_attempt_at = ${change.nextAttemptAt ? sql.timestamp(change.nextAttemptAt) : null}`);
  if (change.validatedAt) sets.push(sql.fragment`validated_at = ${sql.timestamp(change.validatedAt)}`);
  await tx.query(sql.unsafe`UPDATE acme_challenges SET ${sql.join(sets, sql.fragment`, `)} WHERE id = ${id}`);
}

/**
 * Leases up to `limit` processing challenges whose next attempt is due (only
 * `only`, when given: a challenge the client has just answered), in one
 * self-committing statement: SKIP LOCKED lets every replica's worker take
 * different ones, and the lease (next attempt at `until`, one attempt more)
 * keeps them from other workers for one attempt.
 */
export async function leaseDueAcmeChallenges(
  db: CommonQueryMethods,
  now: Date,
  limit: number,
  until: Date,
  only?: string,
): Promise<string[]> {
  const ids = await db.anyFirst(sql.type(z.object({ id: z.string() }))`
    UPDATE acme_challenges SET next_attempt_at = ${sql.timestamp(until)}, attempts = attempts + 1
    WHERE id IN (
      SELECT id FROM acme_challenges WHERE status = 'processing' AND next_attempt_at <= ${sql.timestamp(now)}
        ${only === undefined ? sql.fragment`` : sql.fragment`AND id = ${only}`}
      ORDER BY next_attempt_at LIMIT ${limit} FOR UPDATE SKIP LOCKED)
    RETURNING id`);
  return [...ids];
}
