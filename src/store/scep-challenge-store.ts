import { type CommonQueryMethods, sql } from "slonik";
import { z } from "zod";

const challengeRow = z.object({
  id: z.string(),
  endpoint_id: z.string(),
  bound_subject: z.string().nullable(),
  bound_sans: z.array(z.string()).nullable(),
  created_by: z.string(),
  created_at: z.number(),
  expires_at: z.number(),
  used_at: z.number().nullable(),
  used_transaction_id: z.string().nullable(),
  revoked_at: z.number().nullable(),
});
/** A challenge's row without its hash, which only lookups by secret use. */
export type ScepChallengeRow = z.infer<typeof challengeRow>;

const columns = sql.fragment`id, endpoint_id, bound_subject, bound_sans, created_by, created_at, expires_at, used_at,
  used_transaction_id, revoked_at`;

export async function insertScepChallenge(
  tx: CommonQueryMethods,
  row: {
    id: string;
    endpointId: string;
    challengeHash: Buffer;
    boundSubject: string | null;
    boundSans: readonly string[] | null;
    createdBy: string;
    createdAt: Date;
    expiresAt: Date;
  },
): Promise<void> {
  await tx.query(sql.unsafe`
    INSERT INTO scep_challenges (id, endpoint_id, challenge_hash, bound_subject, bound_sans, created_by, created_at,
      expires_at)
    VALUES (${row.id}, ${row.endpointId}, ${sql.binary(row.challengeHash)}, ${row.boundSubject},
      ${row.boundSans === null ? null : sql.jsonb([...row.boundSans])}, ${row.createdBy},
      ${sql.timestamp(row.createdAt)}, ${sql.timestamp(row.expiresAt)})`);
}

export async function findScepChallenge(db: CommonQueryMethods, id: string): Promise<ScepChallengeRow | null> {
  return db.maybeOne(sql.type(challengeRow)`SELECT ${columns} FROM scep_challenges WHERE id = ${id}`);
}

export async function lockScepChallenge(tx: CommonQueryMethods, id: string): Promise<ScepChallengeRow | null> {
  return tx.maybeOne(sql.type(challengeRow)`SELECT ${columns} FROM scep_challenges WHERE id = ${id} FOR UPDATE`);
}

/**
 * The endpoint's challenge with this hash, locked FOR UPDATE: a second
 * redeem of the same secret waits here until the first commits, then sees
 * it spent.
 */
export async function lockScepChallengeByHash(
  tx: CommonQueryMethods,
  endpointId: string,
  challengeHash: Buffer,
): Promise<ScepChallengeRow | null> {
  return tx.maybeOne(sql.type(challengeRow)`
    SELECT ${columns} FROM scep_challenges
    WHERE challenge_hash = ${sql.binary(challengeHash)} AND endpoint_id = ${endpointId}
    FOR UPDATE`);
}

/** The stored hash of a challenge (tests check that the secret itself is nowhere). */
export async function findScepChallengeHash(db: CommonQueryMethods, id: string): Promise<Buffer | null> {
  return db.maybeOneFirst(sql.type(z.object({ challenge_hash: z.instanceof(Buffer) }))`
    SELECT challenge_hash FROM scep_challenges WHERE id = ${id}`);
}

/** An endpoint's challenges by (created_at, id), after the given position. */
export async function listScepChallenges(
  db: CommonQueryMethods,
  endpointId: string,
  after: { createdAt: Date; id: string } | null,
  limit: number,
): Promise<readonly ScepChallengeRow[]> {
  const position =
    after === null
      ? sql.fragment`TRUE`
      : sql.fragment`(created_at, id) > (${sql.timestamp(after.createdAt)}, ${after.id})`;
  return db.any(sql.type(challengeRow)`
    SELECT ${columns} FROM scep_challenges WHERE endpoint_id = ${endpointId} AND ${position}
    ORDER BY created_at, id LIMIT ${limit}`);
}

/**
 * RFC 8894 §2.2 / issue 6: spends the challenge for a transaction, once.
 * The conditions repeat what the caller checked under the row lock, so the
 * UPDATE alone still guarantees single use should a caller skip the lock.
 */
export async function spendScepChallenge(
  tx: CommonQueryMethods,
  id: string,
  transactionId: string,
  now: Date,
): Promise<boolean> {
  const spent = await tx.maybeOneFirst(sql.type(z.object({ id: z.string() }))`
    UPDATE scep_challenges SET used_at = ${sql.timestamp(now)}, used_transaction_id = ${transactionId}
    WHERE id = ${id} AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ${sql.timestamp(now)}
    RETURNING id`);
  return spent !== null;
}

export async function revokeScepChallenge(tx: CommonQueryMethods, id: string, now: Date): Promise<void> {
  await tx.query(sql.unsafe`
    UPDATE scep_challenges SET revoked_at = ${sql.timestamp(now)}
    WHERE id = ${id} AND revoked_at IS NULL AND used_at IS NULL`);
}

/**
 * Revokes every challenge of the endpoint that could still be spent (an
 * endpoint leaving dynamic mode: coming back to it must not revive them).
 * Returns how many.
 */
export async function revokeOutstandingScepChallenges(
  tx: CommonQueryMethods,
  endpointId: string,
  now: Date,
): Promise<number> {
  const result = await tx.query(sql.unsafe`
    UPDATE scep_challenges SET revoked_at = ${sql.timestamp(now)}
    WHERE endpoint_id = ${endpointId} AND used_at IS NULL AND revoked_at IS NULL
      AND expires_at > ${sql.timestamp(now)}`);
  return result.rowCount;
}
