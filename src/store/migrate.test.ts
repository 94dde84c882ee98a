import path from "node:path";
import pino from "pino";
import { sql } from "slonik";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../test/support/test-database.ts";
import { migrate, readMigrations } from "./migrate.ts";

const logger = pino({ level: "silent" });

describe("migrate", () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase({ empty: true, maxConnections: 6 });
  });
  afterAll(async () => db?.drop());

  it("applies every migration once even when several replicas start at the same moment", async () => {
    const migrations = await readMigrations(path.resolve("migrations"));
    // Five concurrent runners on separate connections: the advisory lock
    // lets exactly one apply; the others find nothing left.
    const results = await Promise.all(Array.from({ length: 5 }, () => migrate(db.url, migrations, logger)));
    const applied = results.flat();
    expect(applied.sort((a, b) => a - b)).toEqual(migrations.map((m) => m.version));
    expect(results.filter((r) => r.length > 0)).toHaveLength(1);
    const rows = await db.pool.anyFirst(sql.unsafe`SELECT version FROM schema_migrations ORDER BY version`);
    expect(rows).toEqual(migrations.map((m) => m.version));
    expect(await migrate(db.url, migrations, logger)).toEqual([]);
  });

  it("refuses a migration that was edited after it was applied", async () => {
    const migrations = await readMigrations(path.resolve("migrations"));
    const edited = migrations.map((m, i) => (i === 0 ? { ...m, checksum: "0".repeat(64) } : m));
    await expect(migrate(db.url, edited, logger)).rejects.toThrow(/was changed after it was applied/);
  });

  it("refuses to run an older build against a database migrated by a newer one", async () => {
    const migrations = await readMigrations(path.resolve("migrations"));
    await expect(migrate(db.url, migrations.slice(0, -1), logger)).rejects.toThrow(/newer Chancery/);
  });

  it("rolls a failing migration back whole, leaving nothing half-applied", async () => {
    const migrations = await readMigrations(path.resolve("migrations"));
    const broken = {
      version: 9999,
      name: "broken",
      sql: "CREATE TABLE half_applied (id int); SELECT no_such_function();",
      checksum: "x",
    };
    await expect(migrate(db.url, [...migrations, broken], logger)).rejects.toThrow();
    const exists = await db.pool.oneFirst(sql.unsafe`SELECT to_regclass('half_applied') IS NOT NULL`);
    expect(exists).toBe(false);
  });
});
