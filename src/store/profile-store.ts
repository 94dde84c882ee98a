import { type CommonQueryMethods, sql } from "slonik";
import { z } from "zod";

const profileRow = z.object({
  id: z.string(),
  name: z.string(),
  definition: z.unknown(),
  created_at: z.number(),
  updated_at: z.number(),
});

export type ProfileRow = z.infer<typeof profileRow>;

const columns = sql.fragment`id, name, definition, created_at, updated_at`;

export async function insertProfile(
  tx: CommonQueryMethods,
  row: { id: string; name: string; definition: unknown },
): Promise<void> {
  await tx.query(sql.unsafe`
    INSERT INTO profiles (id, name, definition) VALUES (${row.id}, ${row.name}, ${sql.jsonb(row.definition as never)})`);
}

export async function updateProfileDefinition(tx: CommonQueryMethods, id: string, definition: unknown): Promise<void> {
  await tx.query(sql.unsafe`
    UPDATE profiles SET definition = ${sql.jsonb(definition as never)}, updated_at = now() WHERE id = ${id}`);
}

export async function findProfileByName(db: CommonQueryMethods, name: string): Promise<ProfileRow | null> {
  return db.maybeOne(sql.type(profileRow)`SELECT ${columns} FROM profiles WHERE name = ${name}`);
}

export async function findProfileById(db: CommonQueryMethods, id: string): Promise<ProfileRow | null> {
  return db.maybeOne(sql.type(profileRow)`SELECT ${columns} FROM profiles WHERE id = ${id}`);
}

export async function listProfiles(db: CommonQueryMethods): Promise<readonly ProfileRow[]> {
  return db.any(sql.type(profileRow)`SELECT ${columns} FROM profiles ORDER BY name`);
}

/** Up to `limit` profiles after `afterName` (exclusive; null for the first page), by name. */
export async function listProfilesAfter(
  db: CommonQueryMethods,
  afterName: string | null,
  limit: number,
): Promise<readonly ProfileRow[]> {
  const after = afterName === null ? sql.fragment`TRUE` : sql.fragment`name > ${afterName}`;
  return db.any(sql.type(profileRow)`SELECT ${columns} FROM profiles WHERE ${after} ORDER BY name LIMIT ${limit}`);
}

/**
 * Locks the profile row for the rest of the transaction. Issuing under a
 * profile takes a key-share lock on it (the certificates.profile_id foreign
 * key), so while this lock is held no certificate can start to reference it.
 */
export async function lockProfileByName(tx: CommonQueryMethods, name: string): Promise<ProfileRow | null> {
  return tx.maybeOne(sql.type(profileRow)`SELECT ${columns} FROM profiles WHERE name = ${name} FOR UPDATE`);
}

/**
 * Whether any certificate, valid or revoked, was issued under the profile.
 * An index leading with certificates.profile_id makes this a lookup; without
 * one it is a scan, acceptable for the rare profile deletion it serves.
 */
export async function profileHasCertificates(db: CommonQueryMethods, profileId: string): Promise<boolean> {
  return db.oneFirst(
    sql.type(z.object({ used: z.boolean() }))`
      SELECT EXISTS (SELECT 1 FROM certificates WHERE profile_id = ${profileId}) AS used`,
  );
}

export async function deleteProfileRow(tx: CommonQueryMethods, id: string): Promise<void> {
  await tx.query(sql.unsafe`DELETE FROM profiles WHERE id = ${id}`);
}
