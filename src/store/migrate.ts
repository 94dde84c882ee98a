import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import pg from "pg";
import type { Logger } from "pino";

/**
 * Arbitrary but fixed advisory-lock key ("chancery" in ASCII, as an int8)
 * that serialises schema changes across every replica sharing a database.
 */
export const migrationLockKey = 0x6368616e63657279n;

const fileNamePattern = /^(\d{4})_([a-z0-9_]+)\.sql$/;

export interface Migration {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

export async function readMigrations(dir: string): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith(".sql")).sort();
  const migrations: Migration[] = [];
  for (const file of files) {
    const match = fileNamePattern.exec(file);
    if (!match) throw new Error(`migration file name must look like 0001_name.sql: ${file}`);
    const text = await readFile(path.join(dir, file), "utf8");
    const version = Number(match[1]);
    if (migrations.some((m) => m.version === version)) throw new Error(`two migrations share version ${version}`);
    migrations.push({ version, name: match[2]!, sql: text, checksum: createHash("sha256").update(text).digest("hex") });
  }
  return migrations;
}

/**
 * Applies pending migrations in one transaction under a transaction-scoped
 * advisory lock: replicas starting together queue on the lock, and the
 * second one finds nothing left to do. A migration file edited after it
 * was applied is refused, because forward-only means history is fixed.
 * Returns the versions applied by this call.
 *
 * This uses a plain pg client rather than the slonik pool: migration files
 * hold several statements, which slonik (rightly, for request-driven SQL)
 * refuses to send in one query.
 */
export async function migrate(connectionUri: string, migrations: Migration[], logger: Logger): Promise<number[]> {
  const client = new pg.Client({ connectionString: connectionUri, application_name: "chancery-migrate" });
  await client.connect();
  try {
    await client.query("BEGIN");
    try {
      const applied = await applyPending(client, migrations, logger);
      await client.query("COMMIT");
      return applied;
    } catch (err) {
      await client.query("ROLLBACK");
      throw err;
    }
  } finally {
    await client.end();
  }
}

async function applyPending(client: pg.Client, migrations: Migration[], logger: Logger): Promise<number[]> {
  await client.query("SELECT pg_advisory_xact_lock($1::bigint)", [migrationLockKey.toString()]);
  await client.query(`
    CREATE TABLE IF NOT EXISTS schema_migrations (
      version    integer PRIMARY KEY,
      name       text NOT NULL,
      checksum   text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
  const { rows } = await client.query<{ version: number; checksum: string }>(
    "SELECT version, checksum FROM schema_migrations ORDER BY version",
  );
  const byVersion = new Map(rows.map((row) => [row.version, row.checksum]));
  const known = new Set(migrations.map((m) => m.version));
  const unknown = rows.filter((row) => !known.has(row.version));
  if (unknown.length > 0) {
    throw new Error(
      `database has migrations this build does not know (${unknown.map((r) => r.version).join(", ")}); ` +
        "it was written by a newer Chancery",
    );
  }
  const done: number[] = [];
  for (const migration of migrations) {
    const checksum = byVersion.get(migration.version);
    if (checksum !== undefined) {
      if (checksum !== migration.checksum) {
        throw new Error(`migration ${migration.version}_${migration.name} was changed after it was applied`);
      }
      continue;
    }
    logger.info({ version: migration.version, name: migration.name }, "applying migration");
    // No parameters: pg sends this over the simple query protocol, which
    // accepts a file of several statements.
    await client.query(migration.sql);
    await client.query("INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)", [
      migration.version,
      migration.name,
      migration.checksum,
    ]);
    done.push(migration.version);
  }
  return done;
}
