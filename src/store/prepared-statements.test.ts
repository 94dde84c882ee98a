import { createPool, type DatabasePool, sql } from "slonik";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { createTestDatabase, type TestDatabase } from "../../test/support/test-database.ts";
import { createDatabasePool } from "./pool.ts";
import { createPreparingDriverFactory, type PreparedStatementLimits } from "./prepared-statements.ts";

let db: TestDatabase;
const pools: DatabasePool[] = [];

beforeAll(async () => {
  db = await createTestDatabase({ empty: true });
  await db.pool.query(sql.unsafe`CREATE TABLE prepared_probe (id int PRIMARY KEY, label text NOT NULL)`);
  await db.pool.query(sql.unsafe`INSERT INTO prepared_probe VALUES (1, 'one'), (2, 'two'), (3, 'three')`);
});
afterAll(async () => {
  for (const pool of pools) await pool.end();
  await db.drop();
});

/** One connection, so every statement of a test lands on the same backend. */
async function onePool(limits: PreparedStatementLimits): Promise<DatabasePool> {
  const pool = await createPool(db.url, {
    maximumPoolSize: 1,
    resetConnection: async () => {},
    driverFactory: createPreparingDriverFactory(limits),
  });
  pools.push(pool);
  return pool;
}

const preparedRow = z.object({ name: z.string(), statement: z.string() });
/** The statements the pool's one backend holds. `TABLE` is not preparable, so asking adds none. */
const preparedOn = async (pool: DatabasePool) => pool.any(sql.type(preparedRow)`TABLE pg_prepared_statements`);

const labelOf = (pool: DatabasePool, id: number) =>
  pool.oneFirst(sql.type(z.object({ label: z.string() }))`SELECT label FROM prepared_probe WHERE id = ${id}`);

describe("named statements", () => {
  it("prepares a statement once per connection and binds it again with other values", async () => {
    const pool = await onePool({ perConnection: 10, distinctTexts: 10 });
    expect(await labelOf(pool, 1)).toBe("one");
    expect(await labelOf(pool, 2)).toBe("two");
    const held = await preparedOn(pool);
    expect(held).toHaveLength(1);
    expect(held[0]!.statement).toContain("SELECT label FROM prepared_probe WHERE id = $1");
  });

  it("leaves transaction control and other statements PostgreSQL cannot prepare unnamed", async () => {
    const pool = await onePool({ perConnection: 10, distinctTexts: 10 });
    await pool.transaction(async (tx) => {
      await tx.query(sql.unsafe`SET LOCAL lock_timeout = '1s'`);
      await tx.query(sql.unsafe`LOCK TABLE prepared_probe IN SHARE MODE`);
    });
    expect(await preparedOn(pool)).toEqual([]);
  });

  it("leaves a page of a listing (LIMIT as a parameter) unnamed, and prepares LIMIT 1", async () => {
    const pool = await onePool({ perConnection: 10, distinctTexts: 10 });
    const labels = sql.type(z.object({ label: z.string() }))`SELECT label FROM prepared_probe ORDER BY id LIMIT ${2}`;
    expect(await pool.anyFirst(labels)).toEqual(["one", "two"]);
    const first = sql.type(
      z.object({ label: z.string() }),
    )`SELECT label FROM prepared_probe WHERE id > ${0} ORDER BY id LIMIT 1`;
    expect(await pool.oneFirst(first)).toBe("one");
    expect((await preparedOn(pool)).map((row) => row.statement)).toEqual([
      "SELECT label FROM prepared_probe WHERE id > $1 ORDER BY id LIMIT 1",
    ]);
  });

  it("sends statements beyond a connection's bound unnamed, and they still run", async () => {
    const pool = await onePool({ perConnection: 2, distinctTexts: 10 });
    const texts = [
      sql.type(z.object({ n: z.number() }))`SELECT 1 AS n WHERE ${1} = 1`,
      sql.type(z.object({ n: z.number() }))`SELECT 2 AS n WHERE ${1} = 1`,
      sql.type(z.object({ n: z.number() }))`SELECT 3 AS n WHERE ${1} = 1`,
    ];
    const answers = [];
    for (const query of texts) answers.push(await pool.oneFirst(query));
    expect(answers).toEqual([1, 2, 3]);
    expect((await preparedOn(pool)).map((row) => row.statement).sort()).toEqual([
      "SELECT 1 AS n WHERE $1 = 1",
      "SELECT 2 AS n WHERE $1 = 1",
    ]);
  });

  it("names at most the process's bound of distinct texts, on every connection", async () => {
    const limits = { perConnection: 10, distinctTexts: 1 };
    const pool = await onePool(limits);
    await labelOf(pool, 1);
    await pool.oneFirst(sql.type(z.object({ n: z.number() }))`SELECT ${5}::int AS n`);
    expect((await preparedOn(pool)).map((row) => row.statement)).toEqual([
      "SELECT label FROM prepared_probe WHERE id = $1",
    ]);
  });

  it("recovers when a migration changes the columns a prepared statement returns", async () => {
    const pool = await onePool({ perConnection: 10, distinctTexts: 10 });
    const everything = () => pool.one(sql.unsafe`SELECT * FROM prepared_probe WHERE id = ${3}`);
    expect(await everything()).toEqual({ id: 3, label: "three" });
    // A newer replica's migration, on another connection.
    await db.pool.query(sql.unsafe`ALTER TABLE prepared_probe ADD COLUMN note text`);
    try {
      // PostgreSQL refuses the old prepared form once ("cached plan must not change result type")...
      await expect(everything()).rejects.toThrow(/cached plan must not change result type/);
      // ...and the text is sent unnamed from then on.
      expect(await everything()).toEqual({ id: 3, label: "three", note: null });
      expect(await everything()).toEqual({ id: 3, label: "three", note: null });
    } finally {
      await db.pool.query(sql.unsafe`ALTER TABLE prepared_probe DROP COLUMN note`);
    }
  });

  it("is off when the pool is told so (a pooler in transaction mode)", async () => {
    const pool = await createDatabasePool(db.url, {
      maxConnections: 2,
      statementTimeoutMs: 5_000,
      preparedStatements: false,
    });
    pools.push(pool);
    await pool.connect(async (connection) => {
      await connection.oneFirst(
        sql.type(z.object({ label: z.string() }))`SELECT label FROM prepared_probe WHERE id = ${1}`,
      );
      expect(await connection.any(sql.type(preparedRow)`TABLE pg_prepared_statements`)).toEqual([]);
    });
  });
});
