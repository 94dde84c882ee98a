import { randomUUID } from "node:crypto";
import path from "node:path";
import pino from "pino";
import { type CommonQueryMethods, sql } from "slonik";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { createTestDatabase, type TestDatabase } from "../../test/support/test-database.ts";
import { revokeCertificateRow } from "./certificate-store.ts";
import { migrate, readMigrations } from "./migrate.ts";
import {
  deleteExpiredPresignDue,
  dueForPresignQuery,
  findCertificatesDueForPresign,
  markOcspPresigned,
} from "./ocsp-response-store.ts";

const hourMs = 3_600_000;

/** A CA row the certificates can point at (pending: no key or certificate needed). */
async function insertCa(db: CommonQueryMethods, name: string): Promise<string> {
  const id = randomUUID();
  await db.query(sql.unsafe`
    INSERT INTO certificate_authorities (id, name, kind, status, key_algorithm, sealed_private_key, public_key_spki,
      subject, subject_key_id)
    VALUES (${id}, ${name}, 'intermediate', 'pending', 'ecdsa-p256', '\\x00', '\\x00', ${`CN=${name}`}, '\\x00')`);
  return id;
}

/** `count` certificates of the CA in one statement (as the issuance committer writes a batch), serials prefix || i. */
async function insertCertificates(
  db: CommonQueryMethods,
  caId: string,
  prefix: string,
  count: number,
  notAfterSeconds = 90 * 86_400,
): Promise<void> {
  await db.query(sql.unsafe`
    INSERT INTO certificates (id, ca_id, serial_hex, fingerprint_sha256, subject, sans, not_before, not_after, der,
      requester, source_protocol, issued_at)
    SELECT gen_random_uuid(), ${caId}, ${prefix} || to_hex(i), ${prefix} || '-fp-' || i, 'CN=due', '[]',
      now() - interval '1 day', now() + ${notAfterSeconds}::int * interval '1 second', '\\x00', 'test', 'admin', now()
    FROM generate_series(1, ${count}::int) AS i`);
}

const dueRow = z.object({
  serial_hex: z.string(),
  due_now: z.boolean(),
  due_at: z.number().nullable(),
  revision: z.number(),
});

async function dueRows(db: CommonQueryMethods, caId: string) {
  return db.any(sql.type(dueRow)`
    SELECT serial_hex, due_at = '-infinity' AS due_now, CASE WHEN isfinite(due_at) THEN due_at END AS due_at, revision
    FROM ocsp_presign_due WHERE ca_id = ${caId} ORDER BY serial_hex`);
}

interface PlanNode {
  "Node Type": string;
  "Index Name"?: string;
  "Relation Name"?: string;
  "Actual Rows"?: number;
  "Actual Loops"?: number;
  "Shared Hit Blocks"?: number;
  "Shared Read Blocks"?: number;
  Plans?: PlanNode[];
}

function nodes(plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(nodes)];
}

describe("ocsp_presign_due (migration 0020)", () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => db?.drop());

  it("a new certificate is due at once; a status change makes it due again and bumps its revision", async () => {
    const caId = await insertCa(db.pool, "due-triggers");
    await insertCertificates(db.pool, caId, "a1", 3);
    expect((await dueRows(db.pool, caId)).map((r) => [r.due_now, r.revision])).toEqual([
      [true, 0],
      [true, 0],
      [true, 0],
    ]);
    const now = new Date();
    expect((await findCertificatesDueForPresign(db.pool, caId, now, 10)).map((r) => r.serial_hex).sort()).toEqual([
      "a11",
      "a12",
      "a13",
    ]);

    // Signed: due at the refresh time, not before.
    const refreshAt = new Date(now.getTime() + 12 * hourMs);
    await markOcspPresigned(db.pool, [{ serialHex: "a11", revision: 0, refreshAt }]);
    expect((await findCertificatesDueForPresign(db.pool, caId, now, 10)).map((r) => r.serial_hex)).not.toContain("a11");
    const later = new Date(refreshAt.getTime() + 1000);
    expect((await findCertificatesDueForPresign(db.pool, caId, later, 10)).map((r) => r.serial_hex)).toContain("a11");

    // Revoked through the store function the revocation uses: due again, in that transaction.
    await db.pool.transaction((tx) => revokeCertificateRow(tx, "a11", { reason: 1, revokedAt: new Date() }));
    const [a11] = await dueRows(db.pool, caId);
    expect(a11).toMatchObject({ serial_hex: "a11", due_now: true, revision: 1 });
    const [candidate] = (await findCertificatesDueForPresign(db.pool, caId, now, 10)).filter(
      (r) => r.serial_hex === "a11",
    );
    expect(candidate).toMatchObject({ status: "revoked", revocation_reason: 1, revision: 1 });

    // A pre-signer that read revision 0 (before the revocation) does not move it.
    await markOcspPresigned(db.pool, [{ serialHex: "a11", revision: 0, refreshAt }]);
    expect((await dueRows(db.pool, caId))[0]!.due_now).toBe(true);
    await markOcspPresigned(db.pool, [{ serialHex: "a11", revision: 1, refreshAt }]);
    expect((await dueRows(db.pool, caId))[0]!.due_now).toBe(false);
  });

  it("never lets due_at pass notAfter, and deletes the rows of expired certificates", async () => {
    const caId = await insertCa(db.pool, "due-expiry");
    await insertCertificates(db.pool, caId, "b1", 2, 3600);
    const now = new Date();
    await markOcspPresigned(db.pool, [
      { serialHex: "b11", revision: 0, refreshAt: new Date(now.getTime() + 12 * hourMs) },
    ]);
    const [b11] = await dueRows(db.pool, caId);
    expect(b11!.due_at).toBeLessThanOrEqual(now.getTime() + hourMs + 1000);

    // Expired: never due, and the pass deletes what it finds.
    const afterExpiry = new Date(now.getTime() + 2 * hourMs);
    expect(await findCertificatesDueForPresign(db.pool, caId, afterExpiry, 10)).toEqual([]);
    expect(await deleteExpiredPresignDue(db.pool, caId, afterExpiry)).toBe(2);
    expect(await dueRows(db.pool, caId)).toEqual([]);
    // Revoking an expired certificate brings a row back (due), which the next pass deletes again.
    await db.pool.transaction((tx) => revokeCertificateRow(tx, "b12", { reason: 0, revokedAt: now }));
    expect((await dueRows(db.pool, caId)).map((r) => r.serial_hex)).toEqual(["b12"]);
    expect(await findCertificatesDueForPresign(db.pool, caId, afterExpiry, 10)).toEqual([]);
    expect(await deleteExpiredPresignDue(db.pool, caId, afterExpiry)).toBe(1);

    // A deleted certificate takes its row with it.
    await insertCertificates(db.pool, caId, "b2", 1);
    await db.pool.query(sql.unsafe`DELETE FROM certificates WHERE serial_hex = 'b21'`);
    expect(await dueRows(db.pool, caId)).toEqual([]);
  });

  it("a pass over 20 000 certificates with nothing due reads no row of either table", async () => {
    const caId = await insertCa(db.pool, "due-scale");
    const other = await insertCa(db.pool, "due-scale-other");
    await insertCertificates(db.pool, caId, "c1", 20_000);
    // Another CA's backlog, all due, must not be read either.
    await insertCertificates(db.pool, other, "c2", 2_000);
    // All signed, next due in 12 hours; one of them due now.
    await db.pool.query(sql.unsafe`
      UPDATE ocsp_presign_due SET due_at = now() + interval '12 hours' WHERE ca_id = ${caId} AND serial_hex <> 'c11'`);
    // Steady state: autovacuum has removed the index entries the UPDATE left behind (migration 0020
    // makes it visit this table often). Before it does, an index scan steps over them (see below).
    await db.pool.query(sql.unsafe`VACUUM (ANALYZE) ocsp_presign_due`);
    await db.pool.query(sql.unsafe`ANALYZE certificates`);

    const explain = async (query: ReturnType<typeof dueForPresignQuery>) => {
      const plan = await db.pool.oneFirst(
        sql.type(z.object({ "QUERY PLAN": z.any() }))`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${query}`,
      );
      return nodes((plan as Array<{ Plan: PlanNode }>)[0]!.Plan);
    };
    const now = new Date();
    const one = await explain(dueForPresignQuery(caId, now, 2000));
    expect(one.filter((n) => n["Node Type"] === "Seq Scan")).toEqual([]);
    const dueScan = one.find((n) => n["Index Name"] === "ocsp_presign_due_ca_due_at");
    expect(dueScan).toBeDefined();
    // Only the certificate due is read from the index, and one certificates row for it.
    expect(dueScan!["Actual Rows"]).toBe(1);
    expect((await findCertificatesDueForPresign(db.pool, caId, now, 2000)).map((r) => r.serial_hex)).toEqual(["c11"]);

    await markOcspPresigned(db.pool, [{ serialHex: "c11", revision: 0, refreshAt: new Date(now.getTime() + hourMs) }]);
    const none = await explain(dueForPresignQuery(caId, now, 2000));
    expect(none.filter((n) => n["Node Type"] === "Seq Scan")).toEqual([]);
    // The index range is read (it may still hold the one entry the UPDATE above left dead), no row comes out.
    expect(none.some((n) => n["Index Name"] === "ocsp_presign_due_ca_due_at")).toBe(true);
    expect(none.find((n) => n["Relation Name"] === "ocsp_presign_due")!["Actual Rows"]).toBe(0);
    // The join side never runs: no certificates row is read.
    const certificatesReads = none.filter((n) => n["Relation Name"] === "certificates");
    expect(certificatesReads.every((n) => (n["Actual Loops"] ?? 0) === 0)).toBe(true);
    // A handful of pages in all (the index's root and one leaf; catalog lookups aside), not the 20 000 rows.
    expect(none[0]!["Shared Hit Blocks"]! + (none[0]!["Shared Read Blocks"] ?? 0)).toBeLessThan(10);
  });
});

describe("migration 0020 backfill", () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase({ empty: true });
  });
  afterAll(async () => db?.drop());

  it("makes each existing certificate due as the old query found it", async () => {
    const logger = pino({ level: "silent" });
    const migrations = await readMigrations(path.resolve("migrations"));
    await migrate(
      db.url,
      migrations.filter((m) => m.version < 20),
      logger,
    );
    const caId = await insertCa(db.pool, "backfill");
    await insertCertificates(db.pool, caId, "d", 6);
    await insertCertificates(db.pool, caId, "e", 1, -3600);
    await insertCertificates(db.pool, caId, "f", 1, 2 * 3600);
    await db.pool.query(sql.unsafe`
      UPDATE certificates SET status = 'revoked', revoked_at = date_trunc('second', now()), revocation_reason = 1
      WHERE serial_hex IN ('d3', 'd4')`);
    /** A stored response whose refresh_at is `refreshMinutes` from now. */
    const response = (
      serial: string,
      algorithm: string,
      status: "good" | "revoked",
      refreshMinutes: number,
    ) => sql.fragment`
      (${caId}, ${serial}, ${algorithm}, ${status},
       ${status === "revoked" ? sql.fragment`date_trunc('second', now())` : null}, ${status === "revoked" ? 1 : null},
       '\\x00', 'x', now() - interval '1 hour', now() + interval '23 hours', now() + ${refreshMinutes}::int * interval '1 minute', '01', now())`;
    const rows = [
      // d1: both forms, good, fresh -> due at the earlier refresh
      response("d1", "sha1", "good", 660),
      response("d1", "sha256", "good", 600),
      // d2: one form only -> due now
      response("d2", "sha1", "good", 660),
      // d3: revoked since, rows still say good -> due now
      response("d3", "sha1", "good", 660),
      response("d3", "sha256", "good", 660),
      // d4: revoked, rows say revoked -> due at refresh
      response("d4", "sha1", "revoked", 540),
      response("d4", "sha256", "revoked", 540),
      // d5: past its refresh -> due (in the past)
      response("d5", "sha1", "good", -1),
      response("d5", "sha256", "good", -1),
      // d6: no rows -> due now; e1 expired -> no row; f1: refresh after notAfter -> notAfter
      response("f1", "sha1", "good", 660),
      response("f1", "sha256", "good", 660),
    ];
    await db.pool.query(sql.unsafe`
      INSERT INTO ocsp_responses (ca_id, serial_hex, hash_algorithm, status, revoked_at, revocation_reason, der,
        sha256, this_update, next_update, refresh_at, responder_serial_hex, signed_at)
      VALUES ${sql.join(rows, sql.fragment`, `)}`);

    const before = Date.now();
    await migrate(db.url, migrations, logger);
    const due = new Map((await dueRows(db.pool, caId)).map((r) => [r.serial_hex, r]));
    const hoursFromNow = (serial: string) => Math.round((due.get(serial)!.due_at! - before) / hourMs);
    expect([...due.keys()].sort()).toEqual(["d1", "d2", "d3", "d4", "d5", "d6", "f1"]);
    expect(hoursFromNow("d1")).toBe(10);
    expect(due.get("d2")!.due_now).toBe(true);
    expect(due.get("d3")!.due_now).toBe(true);
    expect(hoursFromNow("d4")).toBe(9);
    expect(due.get("d5")!.due_at!).toBeLessThan(before);
    expect(due.get("d6")!.due_now).toBe(true);
    expect(hoursFromNow("f1")).toBe(2);
    const now = new Date();
    expect((await findCertificatesDueForPresign(db.pool, caId, now, 10)).map((r) => r.serial_hex).sort()).toEqual([
      "d2",
      "d3",
      "d5",
      "d6",
    ]);
  });
});
