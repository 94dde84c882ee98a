import { randomBytes } from "node:crypto";
import { createPool, type DatabasePool, sql } from "slonik";
import { inject } from "vitest";
import { withDatabase } from "../../src/store/database-url.ts";
import { createDatabasePool } from "../../src/store/pool.ts";

export interface TestDatabase {
  pool: DatabasePool;
  url: string;
  name: string;
  drop(): Promise<void>;
}

/**
 * A private database for one test file: a clone of the migrated template
 * (fast), or an empty one when `empty` is set (for migration tests).
 */
export async function createTestDatabase(
  options: { empty?: boolean; maxConnections?: number } = {},
): Promise<TestDatabase> {
  const adminUrl = inject("databaseUrl");
  const name = `t_${randomBytes(6).toString("hex")}`;
  const admin = await createPool(adminUrl, { maximumPoolSize: 1 });
  try {
    const template = options.empty ? "template0" : inject("migratedTemplate");
    await admin.query(sql.unsafe`CREATE DATABASE ${sql.identifier([name])} TEMPLATE ${sql.identifier([template])}`);
  } finally {
    await admin.end();
  }
  const url = withDatabase(adminUrl, name);
  const pool = await createDatabasePool(url, {
    maxConnections: options.maxConnections ?? 5,
    statementTimeoutMs: 30_000,
  });
  return {
    pool,
    url,
    name,
    async drop() {
      await pool.end();
      const again = await createPool(adminUrl, { maximumPoolSize: 1 });
      try {
        await again.query(sql.unsafe`DROP DATABASE IF EXISTS ${sql.identifier([name])} WITH (FORCE)`);
      } finally {
        await again.end();
      }
    },
  };
}
