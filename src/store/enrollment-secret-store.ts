import { type CommonQueryMethods, sql } from "slonik";
import { z } from "zod";

/** The column naming a secret's scope (migration 0021): exactly one of the two is set on every row. */
export type EnrollmentSecretScopeColumn = "scep_endpoint_id" | "est_label_id";

/** Where a secret may be spent, as the store sees it. */
export interface EnrollmentSecretScopeKey {
  readonly column: EnrollmentSecretScopeColumn;
  readonly id: string;
}

const secretRow = z.object({
  id: z.string(),
  scep_endpoint_id: z.string().nullable(),
  est_label_id: z.string().nullable(),
  bound_subject: z.string().nullable(),
  bound_sans: z.array(z.string()).nullable(),
  created_by: z.string(),
  created_at: z.number(),
  expires_at: z.number(),
  used_at: z.number().nullable(),
  used_by: z.string().nullable(),
  revoked_at: z.number().nullable(),
});
/** A secret's row without its hash, which only lookups by secret use. */
export type EnrollmentSecretRow = z.infer<typeof secretRow>;

const columns = sql.fragment`id, scep_endpoint_id, est_label_id, bound_subject, bound_sans, created_by, created_at,
  expires_at, used_at, used_by, revoked_at`;

function inScope(scope: EnrollmentSecretScopeKey) {
  return sql.fragment`${sql.identifier([scope.column])} = ${scope.id}`;
}

export async function insertEnrollmentSecret(
  tx: CommonQueryMethods,
  row: {
    id: string;
    scope: EnrollmentSecretScopeKey;
    secretHash: Buffer;
    boundSubject: string | null;
    boundSans: readonly string[] | null;
    createdBy: string;
    createdAt: Date;
    expiresAt: Date;
  },
): Promise<void> {
  const scepEndpointId = row.scope.column === "scep_endpoint_id" ? row.scope.id : null;
  const estLabelId = row.scope.column === "est_label_id" ? row.scope.id : null;
  await tx.query(sql.unsafe`
    INSERT INTO enrollment_secrets (id, scep_endpoint_id, est_label_id, secret_hash, bound_subject, bound_sans,
      created_by, created_at, expires_at)
    VALUES (${row.id}, ${scepEndpointId}, ${estLabelId}, ${sql.binary(row.secretHash)}, ${row.boundSubject},
      ${row.boundSans === null ? null : sql.jsonb([...row.boundSans])}, ${row.createdBy},
      ${sql.timestamp(row.createdAt)}, ${sql.timestamp(row.expiresAt)})`);
}

export async function findEnrollmentSecret(db: CommonQueryMethods, id: string): Promise<EnrollmentSecretRow | null> {
  return db.maybeOne(sql.type(secretRow)`SELECT ${columns} FROM enrollment_secrets WHERE id = ${id}`);
}

/** The row locked FOR UPDATE: a revoke and a racing spend of the same secret run one after the other. */
export async function lockEnrollmentSecret(tx: CommonQueryMethods, id: string): Promise<EnrollmentSecretRow | null> {
  return tx.maybeOne(sql.type(secretRow)`SELECT ${columns} FROM enrollment_secrets WHERE id = ${id} FOR UPDATE`);
}

/** The scope's secret with this hash, whatever its state (a secret of another scope is not found). */
export async function findEnrollmentSecretByHash(
  db: CommonQueryMethods,
  scope: EnrollmentSecretScopeKey,
  secretHash: Buffer,
): Promise<EnrollmentSecretRow | null> {
  return db.maybeOne(sql.type(secretRow)`
    SELECT ${columns} FROM enrollment_secrets
    WHERE secret_hash = ${sql.binary(secretHash)} AND ${inScope(scope)}`);
}

/** The stored hash of a secret (tests check that the secret itself is nowhere). */
export async function findEnrollmentSecretHash(db: CommonQueryMethods, id: string): Promise<Buffer | null> {
  return db.maybeOneFirst(sql.type(z.object({ secret_hash: z.instanceof(Buffer) }))`
    SELECT secret_hash FROM enrollment_secrets WHERE id = ${id}`);
}

/** One scope's secrets (every secret when `scope` is null) by (created_at, id), after the given position. */
export async function listEnrollmentSecrets(
  db: CommonQueryMethods,
  scope: EnrollmentSecretScopeKey | null,
  after: { createdAt: Date; id: string } | null,
  limit: number,
): Promise<readonly EnrollmentSecretRow[]> {
  const position =
    after === null
      ? sql.fragment`TRUE`
      : sql.fragment`(created_at, id) > (${sql.timestamp(after.createdAt)}, ${after.id})`;
  return db.any(sql.type(secretRow)`
    SELECT ${columns} FROM enrollment_secrets WHERE ${scope === null ? sql.fragment`TRUE` : inScope(scope)}
      AND ${position}
    ORDER BY created_at, id LIMIT ${limit}`);
}

/**
 * Spends the secret, once. The conditions repeat what the caller checked on
 * the row it read; the UPDATE takes the row's lock, so a second spend (another
 * replica, a racing request) waits for the first to commit, then finds the
 * row spent and updates nothing.
 */
export async function spendEnrollmentSecret(
  db: CommonQueryMethods,
  id: string,
  usedBy: string,
  now: Date,
): Promise<boolean> {
  const spent = await db.maybeOneFirst(sql.type(z.object({ id: z.string() }))`
    UPDATE enrollment_secrets SET used_at = ${sql.timestamp(now)}, used_by = ${usedBy}
    WHERE id = ${id} AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ${sql.timestamp(now)}
    RETURNING id`);
  return spent !== null;
}

/** Undoes spendEnrollmentSecret for what spent it, and only for that. */
export async function unspendEnrollmentSecret(db: CommonQueryMethods, id: string, usedBy: string): Promise<void> {
  await db.query(sql.unsafe`
    UPDATE enrollment_secrets SET used_at = NULL, used_by = NULL WHERE id = ${id} AND used_by = ${usedBy}`);
}

/** Replaces what a spent secret was spent on (an enrollment that waited, now its certificate). */
export async function settleEnrollmentSecret(
  db: CommonQueryMethods,
  id: string,
  from: string,
  to: string,
): Promise<void> {
  await db.query(sql.unsafe`UPDATE enrollment_secrets SET used_by = ${to} WHERE id = ${id} AND used_by = ${from}`);
}

export async function revokeEnrollmentSecret(tx: CommonQueryMethods, id: string, now: Date): Promise<void> {
  await tx.query(sql.unsafe`
    UPDATE enrollment_secrets SET revoked_at = ${sql.timestamp(now)}
    WHERE id = ${id} AND revoked_at IS NULL AND used_at IS NULL`);
}

/**
 * Revokes every secret of the scope that could still be spent (a SCEP
 * endpoint leaving dynamic mode: coming back to it must not revive them).
 * Returns how many.
 */
export async function revokeOutstandingEnrollmentSecrets(
  tx: CommonQueryMethods,
  scope: EnrollmentSecretScopeKey,
  now: Date,
): Promise<number> {
  const result = await tx.query(sql.unsafe`
    UPDATE enrollment_secrets SET revoked_at = ${sql.timestamp(now)}
    WHERE ${inScope(scope)} AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ${sql.timestamp(now)}`);
  return result.rowCount;
}
