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
