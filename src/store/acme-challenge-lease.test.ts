import { randomUUID } from "node:crypto";
import { sql } from "slonik";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { createTestDatabase, type TestDatabase } from "../../test/support/test-database.ts";
import { leaseDueAcmeChallenges } from "./acme-authorization-store.ts";
import { createDatabasePool } from "./pool.ts";

let db: TestDatabase;
const now = new Date("2026-11-22T12:00:00Z");
const later = new Date(now.getTime() + 30_000);
const at = (offsetMs: number) => sql.timestamp(new Date(now.getTime() + offsetMs));

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

/** Challenges of one authorization: [status, next attempt relative to now in ms]. The account and order rows are left out. */
async function challenges(...specs: Array<[string, number | null]>): Promise<string[]> {
  const authorization = randomUUID();
  const ids = specs.map(() => randomUUID());
  await db.pool.connect(async (connection) => {
    // Foreign keys off on this connection only: the rows they point to are not what is tested.
    await connection.query(sql.unsafe`SET session_replication_role = replica`);
    try {
      await connection.query(sql.unsafe`
        INSERT INTO acme_authorizations (id, account_id, identifier_type, identifier_value, status, expires_at, created_at, updated_at)
        VALUES (${authorization}, ${randomUUID()}, 'dns', 'lease.example', 'pending', ${at(3_600_000)}, ${at(0)}, ${at(0)})`);
      const types = ["http-01", "dns-01", "tls-alpn-01"];
      for (const [i, [status, due]] of specs.entries())
        await connection.query(sql.unsafe`
          INSERT INTO acme_challenges (id, authorization_id, type, token, status, next_attempt_at, created_at, updated_at)
          VALUES (${ids[i]!}, ${authorization}, ${types[i]!}, ${`token-${i}`}, ${status},
                  ${due === null ? null : at(due)}, ${at(0)}, ${at(0)})`);
    } finally {
      await connection.query(sql.unsafe`RESET session_replication_role`);
    }
  });
  return ids;
}

const leaseOf = (id: string) =>
  db.pool.one(sql.type(z.object({ next_attempt_at: z.number(), attempts: z.number() }))`
    SELECT next_attempt_at, attempts FROM acme_challenges WHERE id = ${id}`);

describe("leaseDueAcmeChallenges", () => {
  it("leases the processing challenges that are due, once, and leaves the others", async () => {
    const [due, notYet, pending] = await challenges(["processing", -1_000], ["processing", 60_000], ["pending", null]);
    const leased = await leaseDueAcmeChallenges(db.pool, now, 10, later);
    expect(leased).toContain(due);
    expect(leased).not.toContain(notYet);
    expect(leased).not.toContain(pending);
    expect(await leaseOf(due!)).toEqual({ next_attempt_at: later.getTime(), attempts: 1 });
    expect((await leaseOf(notYet!)).attempts).toBe(0);
    // Leased until `later`: not due again now.
    expect(await leaseDueAcmeChallenges(db.pool, now, 10, later)).not.toContain(due);
  });

  it("takes at most `limit`, the longest due first", async () => {
    const [oldest, middle, newest] = await challenges(
      ["processing", -3_000_000],
      ["processing", -2_000_000],
      ["processing", -1_000_000],
    );
    const leased = await leaseDueAcmeChallenges(db.pool, now, 2, later);
    expect(leased.sort()).toEqual([oldest, middle].sort());
    expect(await leaseDueAcmeChallenges(db.pool, now, 2, later)).toContain(newest);
  });

  it("with `only`, leases that challenge alone, and only when it is processing and due", async () => {
    const [answered, otherDue, notYet] = await challenges(
      ["processing", -6_000_000],
      ["processing", -7_000_000],
      ["processing", 60_000],
    );
    expect(await leaseDueAcmeChallenges(db.pool, now, 1, later, notYet)).toEqual([]);
    expect(await leaseDueAcmeChallenges(db.pool, now, 1, later, answered)).toEqual([answered]);
    expect(await leaseOf(answered!)).toEqual({ next_attempt_at: later.getTime(), attempts: 1 });
    expect((await leaseOf(otherDue!)).attempts).toBe(0);
    // Leased: not taken again until the lease ends.
    expect(await leaseDueAcmeChallenges(db.pool, now, 1, later, answered)).toEqual([]);
  });

  it("skips a challenge another replica holds instead of waiting for it", async () => {
    const [held, free] = await challenges(["processing", -5_000_000], ["processing", -4_000_000]);
    const replica = await createDatabasePool(db.url, { maxConnections: 2, statementTimeoutMs: 5_000 });
    const { promise: released, resolve: release } = Promise.withResolvers<void>();
    const { promise: isLocked, resolve: locked } = Promise.withResolvers<void>();
    // The other replica's worker, holding `held` in its open transaction.
    const holder = replica.transaction(async (tx) => {
      await tx.query(sql.unsafe`SELECT id FROM acme_challenges WHERE id = ${held!} FOR UPDATE`);
      locked();
      await released;
    });
    try {
      await isLocked;
      const leased = await leaseDueAcmeChallenges(db.pool, now, 10, later);
      expect(leased).toContain(free);
      expect(leased).not.toContain(held);
    } finally {
      release();
      await holder;
      await replica.end();
    }
    expect(await leaseDueAcmeChallenges(db.pool, now, 10, later)).toContain(held);
  });
});
