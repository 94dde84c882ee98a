import { type CommonQueryMethods, sql } from "slonik";
import { z } from "zod";

const accountRow = z.object({
  id: z.string(),
  directory_id: z.string(),
  jwk: z.record(z.unknown()),
  jwk_thumbprint: z.string(),
  status: z.enum(["valid", "deactivated", "revoked"]),
  contacts: z.array(z.string()),
  tos_agreed_at: z.number().nullable(),
  eab_key_id: z.string().nullable(),
  created_at: z.number(),
});
export type AcmeAccountRow = z.infer<typeof accountRow>;

const accountColumns = sql.fragment`id, directory_id, jwk, jwk_thumbprint, status, contacts, tos_agreed_at, eab_key_id,
  created_at`;

export async function findAcmeAccount(db: CommonQueryMethods, id: string): Promise<AcmeAccountRow | null> {
  return db.maybeOne(sql.type(accountRow)`SELECT ${accountColumns} FROM acme_accounts WHERE id = ${id}`);
}

export async function findAcmeAccountByThumbprint(
  db: CommonQueryMethods,
  directoryId: string,
  thumbprint: string,
): Promise<AcmeAccountRow | null> {
  return db.maybeOne(sql.type(accountRow)`
    SELECT ${accountColumns} FROM acme_accounts WHERE directory_id = ${directoryId} AND jwk_thumbprint = ${thumbprint}`);
}

export async function lockAcmeAccount(db: CommonQueryMethods, id: string): Promise<AcmeAccountRow | null> {
  return db.maybeOne(sql.type(accountRow)`SELECT ${accountColumns} FROM acme_accounts WHERE id = ${id} FOR UPDATE`);
}

export interface NewAcmeAccountRow {
  id: string;
  directoryId: string;
  jwk: Record<string, unknown>;
  thumbprint: string;
  contacts: readonly string[];
  tosAgreedAt: Date | null;
  eabKeyId: string | null;
  createdIp: string | null;
  now: Date;
}

/** Inserts the account unless its key already has one in the directory; returns whether it did. */
export async function insertAcmeAccount(tx: CommonQueryMethods, row: NewAcmeAccountRow): Promise<boolean> {
  const inserted = await tx.maybeOneFirst(sql.type(z.object({ id: z.string() }))`
    INSERT INTO acme_accounts (id, directory_id, jwk, jwk_thumbprint, status, contacts, tos_agreed_at, eab_key_id,
      created_ip, created_at, updated_at)
    VALUES (${row.id}, ${row.directoryId}, ${sql.jsonb(row.jwk as never)}, ${row.thumbprint}, 'valid',
      ${sql.array([...row.contacts], "text")}, ${row.tosAgreedAt ? sql.timestamp(row.tosAgreedAt) : null},
      ${row.eabKeyId}, ${row.createdIp}, ${sql.timestamp(row.now)}, ${sql.timestamp(row.now)})
    ON CONFLICT (directory_id, jwk_thumbprint) DO NOTHING
    RETURNING id`);
  return inserted !== null;
}

export async function updateAcmeAccount(
  tx: CommonQueryMethods,
  id: string,
  change: {
    contacts?: readonly string[] | undefined;
    status?: "deactivated" | undefined;
    tosAgreedAt?: Date | undefined;
    jwk?: { jwk: Record<string, unknown>; thumbprint: string } | undefined;
  },
  now: Date,
): Promise<void> {
  const sets = [sql.fragment`updated_at = ${sql.timestamp(now)}`];
  if (change.contacts) sets.push(sql.fragment`contacts = ${sql.array([...change.contacts], "text")}`);
  if (change.status) sets.push(sql.fragment`status = ${change.status}`);
  if (change.tosAgreedAt) sets.push(sql.fragment`tos_agreed_at = ${sql.timestamp(change.tosAgreedAt)}`);
  if (change.jwk)
    sets.push(
      sql.fragment`jwk = ${sql.jsonb(change.jwk.jwk as never)}`,
      sql.fragment`jwk_thumbprint = ${change.jwk.thumbprint}`,
    );
  await tx.query(sql.unsafe`UPDATE acme_accounts SET ${sql.join(sets, sql.fragment`, `)} WHERE id = ${id}`);
}
