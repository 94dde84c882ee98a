import { sql } from "slonik";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../../test/support/test-database.ts";
import { systemClock } from "../clock.ts";
import { type AuditLog, createAuditLog } from "./audit-log.ts";

describe("audit log", () => {
  let db: TestDatabase;
  let audit: AuditLog;
  beforeAll(async () => {
    db = await createTestDatabase();
    audit = createAuditLog({ pool: db.pool, clock: systemClock });
  });
  afterAll(async () => db?.drop());

  it("chains events across separate and concurrent appends and verifies", async () => {
    await audit.append([
      { actor: "system", action: "test.one", target: "x:1", details: { n: 1, nested: { b: 2, a: [1, "x"] } } },
    ]);
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        audit.append([
          { actor: "user:a", action: "test.many", target: `x:${i}`, sourceIp: "127.0.0.1" },
          { actor: "user:b", action: "test.many", target: `y:${i}`, details: { skipped: undefined as never, i } },
        ]),
      ),
    );
    const report = await audit.verify({ pageSize: 7 });
    expect(report).toEqual({ ok: true, checked: 41, headSeq: 41n });
  });

  it("verifies a sound chain while appends keep committing (regression: read the head last, saw a truncation)", async () => {
    let appending = true;
    const writer = (async () => {
      for (let i = 0; appending && i < 200; i++)
        await audit.append([{ actor: "system", action: "test.background", target: `bg:${i}` }]);
    })();
    const reports = [];
    for (let i = 0; i < 10; i++) reports.push(await audit.verify({ pageSize: 3 }));
    appending = false;
    await writer;
    for (const report of reports)
      expect(
        report.ok,
        JSON.stringify(report, (_, v) => String(v)),
      ).toBe(true);
  });

  it("refuses UPDATE, DELETE and TRUNCATE on audit_events", async () => {
    await expect(db.pool.query(sql.unsafe`UPDATE audit_events SET actor = 'mallory' WHERE seq = 1`)).rejects.toThrow(
      /append-only/,
    );
    await expect(db.pool.query(sql.unsafe`DELETE FROM audit_events WHERE seq = 2`)).rejects.toThrow(/append-only/);
    await expect(db.pool.query(sql.unsafe`TRUNCATE audit_events`)).rejects.toThrow(/append-only/);
    expect((await audit.verify()).ok).toBe(true);
  });

  it("detects an edited row, a deleted row and a removed tail once the trigger is bypassed", async () => {
    // A superuser can disable the trigger; the hash chain is what still tells.
    await db.pool.query(sql.unsafe`ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_delete`);
    try {
      await db.pool.query(sql.unsafe`UPDATE audit_events SET details = '{"n": 2}' WHERE seq = 1`);
      expect(await audit.verify()).toMatchObject({ ok: false, brokenAtSeq: 1n, reason: /content/ });
      await db.pool.query(
        sql.unsafe`UPDATE audit_events SET details = '{"n": 1, "nested": {"a": [1, "x"], "b": 2}}' WHERE seq = 1`,
      );
      expect((await audit.verify()).ok).toBe(true);

      await db.pool.query(sql.unsafe`DELETE FROM audit_events WHERE seq = 41`);
      expect(await audit.verify()).toMatchObject({ ok: false, reason: /chain head/ });

      await db.pool.query(sql.unsafe`DELETE FROM audit_events WHERE seq = 10`);
      expect(await audit.verify()).toMatchObject({ ok: false, brokenAtSeq: 10n, reason: /missing/ });
    } finally {
      await db.pool.query(sql.unsafe`ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update_delete`);
    }
  });
});
