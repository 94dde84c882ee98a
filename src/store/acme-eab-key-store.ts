import { type CommonQueryMethods, sql } from "slonik";
import { z } from "zod";

const eabKeyRow = z.object({
  key_id: z.string(),
  directory_id: z.string(),
  label: z.string(),
  created_by: z.string(),
  created_at: z.number(),
  expires_at: z.number().nullable(),
  account_id: z.string().nullable(),
  bound_at: z.number().nullable(),
  revoked_at: z.number().nullable(),
});
/** A key's row without its sealed HMAC key, which only hmacKey reads. */
export type AcmeEabKeyRow = z.infer<typeof eabKeyRow>;

const columns = sql.fragment`key_id, directory_id, label, created_by, created_at, expires_at, account_id, bound_at,
  revoked_at`;

export async function insertAcmeEabKey(
  tx: CommonQueryMethods,
  row: {
    keyId: string;
    directoryId: string;
    label: string;
    sealedHmacKey: Buffer;
    createdBy: string;
    now: Date;
    expiresAt: Date | null;
  },
): Promise<void> {
  await tx.query(sql.unsafe`
    INSERT INTO acme_eab_keys (key_id, directory_id, label, sealed_hmac_key, created_by, created_at, expires_at)
    VALUES (${row.keyId}, ${row.directoryId}, ${row.label}, ${sql.binary(row.sealedHmacKey)}, ${row.createdBy},
      ${sql.timestamp(row.now)}, ${row.expiresAt ? sql.timestamp(row.expiresAt) : null})`);
}

export async function findAcmeEabKey(db: CommonQueryMethods, keyId: string): Promise<AcmeEabKeyRow | null> {
  return db.maybeOne(sql.type(eabKeyRow)`SELECT ${columns} FROM acme_eab_keys WHERE key_id = ${keyId}`);
}

export async function lockAcmeEabKey(tx: CommonQueryMethods, keyId: string): Promise<AcmeEabKeyRow | null> {
  return tx.maybeOne(sql.type(eabKeyRow)`SELECT ${columns} FROM acme_eab_keys WHERE key_id = ${keyId} FOR UPDATE`);
}

/**
 * The sealed HMAC key of a key that may still bind an account: in the
 * directory, not revoked, not expired at `now`, not bound yet.
 */
export async function findBindableSealedHmacKey(
  db: CommonQueryMethods,
  directoryId: string,
  keyId: string,
  now: Date,
): Promise<Buffer | null> {
  return db.maybeOneFirst(sql.type(z.object({ sealed_hmac_key: z.instanceof(Buffer) }))`
    SELECT sealed_hmac_key FROM acme_eab_keys
    WHERE key_id = ${keyId} AND directory_id = ${directoryId} AND account_id IS NULL AND revoked_at IS NULL
      AND (expires_at IS NULL OR expires_at > ${sql.timestamp(now)})`);
}

/** The stored bytes of a key's HMAC key, whatever its state (tests check that they are sealed). */
export async function findSealedHmacKey(db: CommonQueryMethods, keyId: string): Promise<Buffer | null> {
  return db.maybeOneFirst(sql.type(z.object({ sealed_hmac_key: z.instanceof(Buffer) }))`
    SELECT sealed_hmac_key FROM acme_eab_keys WHERE key_id = ${keyId}`);
}

/** Keys of a directory by (created_at, key_id), after the given position. */
export async function listAcmeEabKeys(
  db: CommonQueryMethods,
  directoryId: string,
  after: { createdAt: Date; keyId: string } | null,
  limit: number,
): Promise<readonly AcmeEabKeyRow[]> {
  const position =
    after === null
      ? sql.fragment`TRUE`
      : sql.fragment`(created_at, key_id) > (${sql.timestamp(after.createdAt)}, ${after.keyId})`;
  return db.any(sql.type(eabKeyRow)`
    SELECT ${columns} FROM acme_eab_keys WHERE directory_id = ${directoryId} AND ${position}
    ORDER BY created_at, key_id LIMIT ${limit}`);
}

export async function revokeAcmeEabKey(tx: CommonQueryMethods, keyId: string, now: Date): Promise<void> {
  await tx.query(sql.unsafe`
    UPDATE acme_eab_keys SET revoked_at = ${sql.timestamp(now)} WHERE key_id = ${keyId} AND revoked_at IS NULL`);
}

/**
 * RFC 8555 §7.3.4: marks the key as used by `accountId`, once. The
 * conditional UPDATE is what makes a key single use across replicas: of two
 * accounts racing for one key, exactly one gets a row back.
 */
export async function bindAcmeEabKey(
  db: CommonQueryMethods,
  keyId: string,
  accountId: string,
  now: Date,
): Promise<boolean> {
  const bound = await db.maybeOneFirst(sql.type(z.object({ key_id: z.string() }))`
    UPDATE acme_eab_keys SET account_id = ${accountId}, bound_at = ${sql.timestamp(now)}
    WHERE key_id = ${keyId} AND account_id IS NULL AND revoked_at IS NULL
      AND (expires_at IS NULL OR expires_at > ${sql.timestamp(now)})
    RETURNING key_id`);
  return bound !== null;
}

/** A directory's keys, all unbound (it has no accounts), go with it. Returns how many. */
export async function deleteAcmeEabKeysOfDirectory(tx: CommonQueryMethods, directoryId: string): Promise<number> {
  const result = await tx.query(sql.unsafe`DELETE FROM acme_eab_keys WHERE directory_id = ${directoryId}`);
  return result.rowCount;
}
