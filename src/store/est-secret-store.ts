import { type CommonQueryMethods, sql } from "slonik";
import { z } from "zod";

const secretRow = z.object({
  id: z.string(),
  label_id: z.string(),
  bound_subject: z.string().nullable(),
  bound_sans: z.array(z.string()).nullable(),
  created_by: z.string(),
  created_at: z.number(),
  expires_at: z.number(),
  used_at: z.number().nullable(),
  used_by: z.string().nullable(),
  revoked_at: z.number().nullable(),
});
/** An enrollment secret's row without its hash, which only lookups by secret use. */
export type EstSecretRow = z.infer<typeof secretRow>;

const columns = sql.fragment`id, label_id, bound_subject, bound_sans, created_by, created_at, expires_at, used_at,
  used_by, revoked_at`;

export async function insertEstSecret(
  tx: CommonQueryMethods,
  row: {
    id: string;
    labelId: string;
    secretHash: Buffer;
    boundSubject: string | null;
    boundSans: readonly string[] | null;
    createdBy: string;
    createdAt: Date;
    expiresAt: Date;
  },
): Promise<void> {
  await tx.query(sql.unsafe`
    INSERT INTO est_enrollment_secrets (id, label_id, secret_hash, bound_subject, bound_sans, created_by, created_at,
      expires_at)
    VALUES (${row.id}, ${row.labelId}, ${sql.binary(row.secretHash)}, ${row.boundSubject},
      ${row.boundSans === null ? null : sql.jsonb([...row.boundSans])}, ${row.createdBy},
      ${sql.timestamp(row.createdAt)}, ${sql.timestamp(row.expiresAt)})`);
}

export async function findEstSecret(db: CommonQueryMethods, id: string): Promise<EstSecretRow | null> {
  return db.maybeOne(sql.type(secretRow)`SELECT ${columns} FROM est_enrollment_secrets WHERE id = ${id}`);
}

export async function lockEstSecret(tx: CommonQueryMethods, id: string): Promise<EstSecretRow | null> {
  return tx.maybeOne(sql.type(secretRow)`SELECT ${columns} FROM est_enrollment_secrets WHERE id = ${id} FOR UPDATE`);
}

/** The label's secret with this hash. */
export async function findEstSecretByHash(
  db: CommonQueryMethods,
  labelId: string,
  secretHash: Buffer,
): Promise<EstSecretRow | null> {
  return db.maybeOne(sql.type(secretRow)`
    SELECT ${columns} FROM est_enrollment_secrets
    WHERE secret_hash = ${sql.binary(secretHash)} AND label_id = ${labelId}`);
}

/** The stored hash of a secret (tests check that the secret itself is nowhere). */
export async function findEstSecretHash(db: CommonQueryMethods, id: string): Promise<Buffer | null> {
  return db.maybeOneFirst(sql.type(z.object({ secret_hash: z.instanceof(Buffer) }))`
    SELECT secret_hash FROM est_enrollment_secrets WHERE id = ${id}`);
}

/** A label's secrets by (created_at, id), after the given position. */
export async function listEstSecrets(
  db: CommonQueryMethods,
  labelId: string,
  after: { createdAt: Date; id: string } | null,
  limit: number,
): Promise<readonly EstSecretRow[]> {
  const position =
    after === null
      ? sql.fragment`TRUE`
      : sql.fragment`(created_at, id) > (${sql.timestamp(after.createdAt)}, ${after.id})`;
  return db.any(sql.type(secretRow)`
    SELECT ${columns} FROM est_enrollment_secrets WHERE label_id = ${labelId} AND ${position}
    ORDER BY created_at, id LIMIT ${limit}`);
}

/**
 * Spends the secret, once: the conditions make a second spend (another
 * replica, a racing request) update nothing.
 */
export async function spendEstSecret(db: CommonQueryMethods, id: string, usedBy: string, now: Date): Promise<boolean> {
  const spent = await db.maybeOneFirst(sql.type(z.object({ id: z.string() }))`
    UPDATE est_enrollment_secrets SET used_at = ${sql.timestamp(now)}, used_by = ${usedBy}
    WHERE id = ${id} AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ${sql.timestamp(now)}
    RETURNING id`);
  return spent !== null;
}

/** Undoes spendEstSecret for the enrollment that spent it, and only for it. */
export async function unspendEstSecret(db: CommonQueryMethods, id: string, usedBy: string): Promise<void> {
  await db.query(sql.unsafe`
    UPDATE est_enrollment_secrets SET used_at = NULL, used_by = NULL WHERE id = ${id} AND used_by = ${usedBy}`);
}

/** Replaces what the secret was spent on (an enrollment that waited, now its certificate). */
export async function settleEstSecret(db: CommonQueryMethods, id: string, from: string, to: string): Promise<void> {
  await db.query(sql.unsafe`
    UPDATE est_enrollment_secrets SET used_by = ${to} WHERE id = ${id} AND used_by = ${from}`);
}

export async function revokeEstSecret(tx: CommonQueryMethods, id: string, now: Date): Promise<void> {
  await tx.query(sql.unsafe`
    UPDATE est_enrollment_secrets SET revoked_at = ${sql.timestamp(now)}
    WHERE id = ${id} AND revoked_at IS NULL AND used_at IS NULL`);
}
