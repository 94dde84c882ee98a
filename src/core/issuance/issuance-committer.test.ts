import { createHash, randomBytes, randomUUID } from "node:crypto";
import { sql } from "slonik";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { holdAuditHead, untilWaitingForAuditHead } from "../../../test/support/audit-head-lock.ts";
import { startBootstrappedCore, stopTestCore, type TestCore } from "../../../test/support/bootstrapped-core.ts";
import { testLogger } from "../../../test/support/test-core.ts";
import type { TestDatabase } from "../../../test/support/test-database.ts";
import type { NewCertificateRow } from "../../store/certificate-store.ts";
import { insertTable, type TableRow } from "../../store/row-insert.ts";
import { type AuditLog, createAuditLog } from "../audit/audit-log.ts";
import { systemClock } from "../clock.ts";
import { type CommitPath, createIssuanceCommitter, type IssuanceCommitter } from "./issuance-committer.ts";

// A table of the test's own for the rows a front end adds (IssuanceAlongside): the committer knows no table.
const notesTable = insertTable("committer_test_notes", [
  { name: "id", type: "text" },
  { name: "serial_hex", type: "text" },
]);

class DuplicateNoteError extends Error {}

describe("issuance committer (decision 0015)", () => {
  let db: TestDatabase;
  let core: TestCore;
  let caId: string;

  beforeAll(async () => {
    let issuing: { id: string };
    ({ db, core, issuing } = await startBootstrappedCore({ maxConnections: 6 }));
    caId = issuing.id;
    await db.pool.query(sql.unsafe`CREATE TABLE committer_test_notes (id text PRIMARY KEY, serial_hex text NOT NULL)`);
  });
  afterAll(async () => stopTestCore(db, core));

  /** A committer over its own AuditLog, as one replica of the gateway has; its paths are recorded. */
  function replica(): { audit: AuditLog; committer: IssuanceCommitter; paths: CommitPath[]; sizes: number[] } {
    const audit = createAuditLog({ pool: db.pool, clock: systemClock });
    const paths: CommitPath[] = [];
    const sizes: number[] = [];
    const committer = createIssuanceCommitter({
      pool: db.pool,
      audit,
      logger: testLogger,
      onBatch: (size, _seconds, path) => {
        sizes.push(size);
        paths.push(path);
      },
    });
    return { audit, committer, paths, sizes };
  }

  function certificate(): NewCertificateRow {
    const der = randomBytes(64);
    const now = new Date();
    return {
      id: randomUUID(),
      caId,
      profileId: null,
      serialHex: randomBytes(12).toString("hex"),
      fingerprintSha256: createHash("sha256").update(der).digest("hex"),
      subject: "CN=committer test",
      sans: [{ type: "dns", value: "committer.test" }],
      notBefore: now,
      notAfter: new Date(now.getTime() + 86_400_000),
      der,
      requester: "test:committer",
      sourceProtocol: "admin",
      issuedAt: now,
      requestId: null,
    };
  }

  function commit(committer: IssuanceCommitter, noteId?: string): Promise<string> {
    const cert = certificate();
    const note: TableRow | undefined = noteId ? { table: notesTable, values: [noteId, cert.serialHex] } : undefined;
    return committer
      .commit({
        certificate: cert,
        audit: { actor: "test:committer", action: "certificate.issue", target: `certificate:${cert.serialHex}` },
        alongside: note && {
          rows: [note],
          events: [{ actor: "test:committer", action: "test.note", target: `note:${noteId}` }],
          duplicateError: () => new DuplicateNoteError(noteId),
        },
      })
      .then(() => cert.serialHex);
  }

  async function stored(serials: string[]): Promise<number> {
    return db.pool.oneFirst(
      sql.unsafe`SELECT count(*)::int FROM certificates WHERE serial_hex = ANY(${sql.array(serials, "text")})`,
    ) as Promise<number>;
  }

  /** How many of the front end's rows have an id LIKE `pattern`. */
  async function notesLike(pattern: string): Promise<number> {
    return db.pool.oneFirst(
      sql.unsafe`SELECT count(*)::int FROM committer_test_notes WHERE id LIKE ${pattern}`,
    ) as Promise<number>;
  }

  async function chainIsSound(): Promise<void> {
    const report = await core.audit.verify();
    expect(
      report.ok,
      JSON.stringify(report, (_, v) => String(v)),
    ).toBe(true);
  }

  it("writes a batch in one statement once it has seen the audit head, and the chain verifies", async () => {
    const { audit, committer, paths, sizes } = replica();
    // Nothing seen yet: the first batch learns the head under the lock.
    await commit(committer);
    expect(paths).toEqual(["locked"]);
    await audit.append([{ actor: "test:committer", action: "test.prime", target: "head" }]);

    const serials = await Promise.all([1, 2, 3, 4, 5].map((i) => commit(committer, `batch-${i}`)));
    expect(paths.slice(1)).toEqual(["one_statement"]);
    expect(sizes.slice(1)).toEqual([5]);
    expect(await stored(serials)).toBe(5);
    expect(await notesLike("batch-%")).toBe(5);
    await chainIsSound();
    await committer.close();
  });

  it("when another replica moved the head, writes nothing in its statement and commits under the lock", async () => {
    const a = replica();
    const b = replica();
    await commit(a.committer);
    await commit(a.committer);
    expect(a.paths).toEqual(["locked", "one_statement"]);

    await b.audit.append([{ actor: "test:committer", action: "test.other-replica", target: "head" }]);
    const before = await db.pool.oneFirst(sql.unsafe`SELECT count(*)::int FROM certificates`);
    const serial = await commit(a.committer);
    expect(a.paths.slice(2)).toEqual(["locked"]);
    // Exactly one row: the guarded statement that found the head moved inserted nothing.
    expect(await db.pool.oneFirst(sql.unsafe`SELECT count(*)::int FROM certificates`)).toBe((before as number) + 1);
    expect(await stored([serial])).toBe(1);
    await commit(a.committer);
    expect(a.paths.slice(3)).toEqual(["one_statement"]);
    await chainIsSound();
    await Promise.all([a.committer.close(), b.committer.close()]);
  });

  it("waits for a writer holding the head lock, then finds the head moved and writes nothing", async () => {
    const a = replica();
    const b = replica();
    await commit(a.committer);
    await commit(a.committer); // a now has a head it wrote itself

    const { promise: held, resolve: release } = Promise.withResolvers<void>();
    const { promise: lockTaken, resolve: locked } = Promise.withResolvers<void>();
    const otherTransaction = db.pool.transaction(async (tx) => {
      await b.audit.appendInTransaction(tx, [{ actor: "test:committer", action: "test.holding", target: "head" }]);
      locked();
      await held;
    });
    await lockTaken;
    const cert = certificate();
    const attempt = a.audit.appendWithRows(
      [{ table: notesTable, values: ["while-locked", cert.serialHex] }],
      [{ actor: "test:committer", action: "test.note", target: "note:while-locked" }],
    );
    // Give the statement time to reach the lock, then let the other transaction commit.
    await new Promise((resolve) => setTimeout(resolve, 200));
    release();
    await otherTransaction;
    expect(await attempt).toBeUndefined();
    expect(await notesLike("while-locked")).toBe(0);
    await chainIsSound();
    await Promise.all([a.committer.close(), b.committer.close()]);
  });

  it("the locking path takes the head before it writes a row, as the one-statement path does, so the two cannot deadlock", async () => {
    const { committer } = replica();
    // Another replica's one-statement commit holds the head and is about to insert the same row.
    const head = await holdAuditHead(db.pool);
    const cert = certificate();
    const attempt = committer.commit({
      certificate: cert,
      audit: { actor: "test:committer", action: "certificate.issue", target: `certificate:${cert.serialHex}` },
      // A front end's own statement (a claimed SCEP transaction settled) sends the batch down the locking path.
      async alsoInTransaction(tx) {
        await tx.query(sql.unsafe`INSERT INTO committer_test_notes VALUES ('contended', ${cert.serialHex})`);
        return [];
      },
    });
    try {
      await untilWaitingForAuditHead(db.pool, "the locking path");
      // It waits for the head before its rows: the holder inserts the same row without waiting for it. (Rows
      // first, this insert waited for the committer, which waited for the head: a deadlock.)
      await db.pool.transaction(async (tx) => {
        await tx.query(sql.unsafe`SET LOCAL lock_timeout = '3s'`);
        await tx.query(sql.unsafe`INSERT INTO committer_test_notes VALUES ('contended', 'the other replica')`);
      });
    } finally {
      await head.release();
    }
    // The committer then finds the row taken: its certificate is refused, nothing of it stored.
    await expect(attempt).rejects.toMatchObject({ code: "unavailable" });
    expect(await stored([cert.serialHex])).toBe(0);
    await chainIsSound();
    await committer.close();
  });

  it("two replicas committing at once: every certificate once, one sound chain", async () => {
    const a = replica();
    const b = replica();
    const serials = await Promise.all(
      Array.from({ length: 60 }, async (_, i) => {
        // Spread over several batches per replica.
        await new Promise((resolve) => setTimeout(resolve, (i % 6) * 3));
        return commit(i % 2 === 0 ? a.committer : b.committer, `race-${i}`);
      }),
    );
    expect(await stored(serials)).toBe(60);
    expect(await notesLike("race-%")).toBe(60);
    expect(a.sizes.reduce((n, s) => n + s, 0)).toBe(30);
    expect(b.sizes.reduce((n, s) => n + s, 0)).toBe(30);
    await chainIsSound();
    await Promise.all([a.committer.close(), b.committer.close()]);
  });

  it("a row refused as a duplicate fails its own record with the front end's error, and the batch's others commit", async () => {
    const { committer } = replica();
    await commit(committer, "taken");
    const outcomes = await Promise.allSettled([
      commit(committer, "dup-1"),
      commit(committer, "taken"),
      commit(committer, "dup-2"),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect((outcomes[1] as PromiseRejectedResult).reason).toBeInstanceOf(DuplicateNoteError);
    const serials = outcomes.flatMap((o) => (o.status === "fulfilled" ? [o.value] : []));
    expect(await stored(serials)).toBe(2);
    await chainIsSound();
    await committer.close();
  });
});
