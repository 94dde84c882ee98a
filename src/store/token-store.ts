import { type CommonQueryMethods, sql } from "slonik";
import { z } from "zod";
import { byteaText } from "./row-insert.ts";

const tokenRow = z.object({
  user_id: z.string(),
  prefix: z.string(),
  created_at: z.number(),
  last_used_at: z.number().nullable(),
});

export type TokenRow = z.infer<typeof tokenRow>;

const columns = sql.fragment`user_id, prefix, created_at, last_used_at`;

/** What authentication needs to know about the holder of a token, in one round trip. */
const credentialRow = z.object({
  user_id: z.string(),
  token_hash: z.instanceof(Buffer),
  last_used_at: z.number().nullable(),
  username: z.string(),
  role: z.enum(["user", "operator", "admin"]),
  disabled: z.boolean(),
  api_access: z.boolean(),
  allowed_subnets: z.array(z.string()),
  assigned_ca_ids: z.array(z.string()),
});

export type CredentialRow = z.infer<typeof credentialRow>;

export async function findTokenByUser(db: CommonQueryMethods, userId: string): Promise<TokenRow | null> {
  return db.maybeOne(sql.type(tokenRow)`SELECT ${columns} FROM personal_access_tokens WHERE user_id = ${userId}`);
}

/**
 * Makes `userId`'s token this one, replacing any token it had (the old
 * secret stops working when the transaction commits), and returns the row.
 */
export async function upsertToken(
  tx: CommonQueryMethods,
  token: { userId: string; prefix: string; tokenHash: Buffer; createdAt: Date },
): Promise<TokenRow> {
  return tx.one(sql.type(tokenRow)`
    INSERT INTO personal_access_tokens (user_id, prefix, token_hash, created_at, last_used_at)
    VALUES (${token.userId}, ${token.prefix}, ${sql.binary(token.tokenHash)}, ${sql.timestamp(token.createdAt)}, NULL)
    ON CONFLICT (user_id) DO UPDATE
      SET prefix = EXCLUDED.prefix, token_hash = EXCLUDED.token_hash, created_at = EXCLUDED.created_at,
        last_used_at = NULL
    RETURNING ${columns}`);
}

/** Deletes the user's token; returns the row it had, or null when there was none. */
export async function deleteToken(tx: CommonQueryMethods, userId: string): Promise<TokenRow | null> {
  return tx.maybeOne(sql.type(tokenRow)`
    DELETE FROM personal_access_tokens WHERE user_id = ${userId} RETURNING ${columns}`);
}

/** The token with this SHA-256 and its user, or null (unknown or revoked). */
export async function findCredentialByHash(db: CommonQueryMethods, tokenHash: Buffer): Promise<CredentialRow | null> {
  return db.maybeOne(sql.type(credentialRow)`
    SELECT t.user_id, t.token_hash, t.last_used_at, u.username, u.role, u.disabled, u.api_access,
      u.allowed_subnets::text[] AS allowed_subnets,
      ARRAY(SELECT a.ca_id::text FROM user_ca_assignments a WHERE a.user_id = u.id ORDER BY a.ca_id) AS assigned_ca_ids
    FROM personal_access_tokens t JOIN users u ON u.id = t.user_id
    WHERE t.token_hash = ${sql.binary(tokenHash)}`);
}

/**
 * Records when tokens were last used, in one statement. An entry only moves
 * last_used_at forward, and only while the token is still the one that was
 * used (same hash): a use of a token since regenerated touches nothing.
 */
export async function recordTokenUses(
  db: CommonQueryMethods,
  uses: Array<{ userId: string; tokenHash: Buffer; usedAt: Date }>,
): Promise<void> {
  if (uses.length === 0) return;
  await db.query(sql.unsafe`
    UPDATE personal_access_tokens AS p SET last_used_at = u.used_at
    FROM ${sql.unnest(
      uses.map((u) => [u.userId, byteaText(u.tokenHash), u.usedAt.toISOString()]),
      ["uuid", "bytea", "timestamptz"],
    )} AS u(user_id, token_hash, used_at)
    WHERE p.user_id = u.user_id AND p.token_hash = u.token_hash
      AND (p.last_used_at IS NULL OR p.last_used_at < u.used_at)`);
}

// --- enrollment codes (src/core/identity/token-enrollment.ts) -------------

const enrollmentRow = z.object({
  user_id: z.string(),
  prefix: z.string(),
  created_by: z.string(),
  created_at: z.number(),
  expires_at: z.number(),
});

export type EnrollmentRow = z.infer<typeof enrollmentRow>;

const enrollmentColumns = sql.fragment`user_id, prefix, created_by, created_at, expires_at`;

/** The user's enrollment code, expired or not, or null. */
export async function findEnrollmentByUser(db: CommonQueryMethods, userId: string): Promise<EnrollmentRow | null> {
  return db.maybeOne(sql.type(enrollmentRow)`
    SELECT ${enrollmentColumns} FROM token_enrollments WHERE user_id = ${userId}`);
}

/** The enrollment code with this SHA-256 (and its stored hash, to compare in constant time), or null. */
export async function findEnrollmentByHash(
  db: CommonQueryMethods,
  codeHash: Buffer,
): Promise<(EnrollmentRow & { code_hash: Buffer }) | null> {
  return db.maybeOne(sql.type(enrollmentRow.extend({ code_hash: z.instanceof(Buffer) }))`
    SELECT ${enrollmentColumns}, code_hash FROM token_enrollments WHERE code_hash = ${sql.binary(codeHash)}`);
}

/**
 * Makes `userId`'s enrollment code this one, replacing any it had (the old
 * code stops working when the transaction commits), and returns the row.
 */
export async function upsertEnrollment(
  tx: CommonQueryMethods,
  enrollment: { userId: string; prefix: string; codeHash: Buffer; createdBy: string; createdAt: Date; expiresAt: Date },
): Promise<EnrollmentRow> {
  return tx.one(sql.type(enrollmentRow)`
    INSERT INTO token_enrollments (user_id, prefix, code_hash, created_by, created_at, expires_at)
    VALUES (${enrollment.userId}, ${enrollment.prefix}, ${sql.binary(enrollment.codeHash)}, ${enrollment.createdBy},
      ${sql.timestamp(enrollment.createdAt)}, ${sql.timestamp(enrollment.expiresAt)})
    ON CONFLICT (user_id) DO UPDATE
      SET prefix = EXCLUDED.prefix, code_hash = EXCLUDED.code_hash, created_by = EXCLUDED.created_by,
        created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at
    RETURNING ${enrollmentColumns}`);
}

/**
 * Deletes the user's enrollment code (only the one with `codeHash`, when
 * given); returns the row it had, or null. Redemption consumes a code with
 * this: of two redemptions of one code, only one gets the row back.
 */
export async function deleteEnrollment(
  tx: CommonQueryMethods,
  userId: string,
  codeHash?: Buffer,
): Promise<EnrollmentRow | null> {
  const sameCode = codeHash ? sql.fragment`AND code_hash = ${sql.binary(codeHash)}` : sql.fragment``;
  return tx.maybeOne(sql.type(enrollmentRow)`
    DELETE FROM token_enrollments WHERE user_id = ${userId} ${sameCode} RETURNING ${enrollmentColumns}`);
}
