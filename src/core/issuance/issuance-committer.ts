import type { Logger } from "pino";
import type { CommonQueryMethods, DatabasePool } from "slonik";
import { certificateTableRow, type NewCertificateRow } from "../../store/certificate-store.ts";
import { insertTableRows, type TableRow } from "../../store/row-insert.ts";
import { isUniqueViolation } from "../../store/unique-violation.ts";
import type { AuditEventInput } from "../audit/audit-event.ts";
import type { AuditLog } from "../audit/audit-log.ts";
import { ChanceryError } from "../errors.ts";

export interface IssuanceRecord {
  certificate: NewCertificateRow;
  audit: AuditEventInput;
  /** The front end's own record of this certificate, written with it; see IssuanceAlongside. */
  alongside?: IssuanceAlongside | undefined;
  /**
   * The front end's own state change for this certificate (a SCEP
   * transaction settled, an EST enrollment recorded), run in the same
   * transaction after the certificate is inserted; the events it returns are
   * sealed right after the certificate's. Throwing fails this certificate:
   * nothing is issued that the front end could not record. A batch with
   * such a record takes the locking path; prefer `alongside` when the front
   * end only adds rows.
   */
  alsoInTransaction?: ((tx: CommonQueryMethods) => Promise<AuditEventInput[]>) | undefined;
}

/**
 * Rows and audit events a front end adds to a certificate's commit (a SCEP
 * transaction recorded in its final state). Unlike alsoInTransaction they are
 * known before the commit, so a batch made only of such records is written
 * in one statement.
 */
export interface IssuanceAlongside {
  rows: TableRow[];
  events: AuditEventInput[];
  /**
   * What the caller gets when one of `rows` is refused as a duplicate (a
   * unique key another request took first) instead of "unavailable":
   * nothing was issued.
   */
  duplicateError?: (() => Error) | undefined;
}

export interface IssuanceCommitter {
  /** Resolves once the certificate and its audit event are durably committed together. */
  commit(record: IssuanceRecord): Promise<void>;
  /** Waits for everything submitted so far; later commits are refused. */
  close(): Promise<void>;
}

interface Pending {
  record: IssuanceRecord;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit for issued certificates (docs/decisions/0003-audit-chain-and-group-commit.md).
 * A certificate is persisted in the same commit as its audit event, and
 * the audit chain takes its head row in turn per commit; one fsync and
 * one head update per certificate would cap issuance at the disk's commit
 * rate. So records that arrive while a commit is in flight wait and go
 * together in the next commit. Under light load a batch is one record and
 * latency is one round of commit; under heavy load batches grow by
 * themselves up to maxBatch.
 *
 * A batch is written in one statement when it can be (decision 0015): the
 * certificates, the front ends' rows and the sealed events, guarded by the
 * audit head this process last saw. When the head has moved, or a record
 * needs statements of its own, it takes the locking path instead: a
 * transaction with the head locked, one INSERT per table, the events sealed,
 * one COMMIT.
 */
export function createIssuanceCommitter(deps: {
  pool: DatabasePool;
  audit: AuditLog;
  logger: Logger;
  maxBatch?: number;
  onBatch?: (size: number, seconds: number, path: CommitPath) => void;
}): IssuanceCommitter {
  const maxBatch = deps.maxBatch ?? 500;
  let queue: Pending[] = [];
  let inFlight: Promise<void> | null = null;
  let closed = false;

  async function writeBatch(batch: Pending[]): Promise<CommitPath> {
    const records = batch.map((p) => p.record);
    const rows = records.flatMap((r) => [certificateTableRow(r.certificate), ...(r.alongside?.rows ?? [])]);
    const eventsOf = (r: IssuanceRecord) => [r.audit, ...(r.alongside?.events ?? [])];
    if (!records.some((r) => r.alsoInTransaction) && (await deps.audit.appendWithRows(rows, records.flatMap(eventsOf))))
      return "one_statement";
    // The head before the rows, as the one-statement path takes them: the other way round, this transaction
    // could hold a row another replica's statement inserts too (a SCEP sender nonce) while that one holds the head.
    await deps.pool.transaction((tx) =>
      deps.audit.appendAfterLocking(tx, async () => {
        await insertTableRows(tx, rows);
        const events: AuditEventInput[] = [];
        for (const record of records) {
          events.push(...eventsOf(record));
          if (record.alsoInTransaction) events.push(...(await record.alsoInTransaction(tx)));
        }
        return events;
      }),
    );
    return "locked";
  }

  async function flush(batch: Pending[]): Promise<void> {
    const started = performance.now();
    try {
      const path = await writeBatch(batch);
      deps.onBatch?.(batch.length, (performance.now() - started) / 1000, path);
      for (const p of batch) p.resolve();
    } catch (err) {
      if (batch.length === 1) {
        batch[0]!.reject(refusal(batch[0]!.record, err));
        return;
      }
      // One bad record (say a serial that collided) must not fail the
      // others: retry each alone, so each caller gets its own answer.
      deps.logger.warn({ err, size: batch.length }, "issuance batch failed; retrying records one by one");
      for (const p of batch) await flush([p]);
    }
  }

  function pump(): void {
    if (inFlight || queue.length === 0) return;
    const batch = queue.slice(0, maxBatch);
    queue = queue.slice(batch.length);
    inFlight = flush(batch).finally(() => {
      inFlight = null;
      pump();
    });
  }

  return {
    commit(record) {
      if (closed) return Promise.reject(new ChanceryError("unavailable", "the gateway is shutting down"));
      return new Promise<void>((resolve, reject) => {
        queue.push({ record, resolve, reject });
        // Let records submitted in the same tick join this batch.
        if (!inFlight) queueMicrotask(pump);
      });
    },
    async close() {
      closed = true;
      while (inFlight || queue.length > 0) {
        pump();
        await inFlight;
      }
    },
  };
}

/** How a batch was written: one self-committing statement, or a transaction holding the audit head lock. */
export type CommitPath = "one_statement" | "locked";

function refusal(record: IssuanceRecord, err: unknown): Error {
  const duplicate = record.alongside?.duplicateError;
  if (duplicate && isUniqueViolation(err) && record.alongside?.rows.some((r) => r.table.name === tableOf(err)))
    return duplicate();
  return toChanceryError(err);
}

function tableOf(err: unknown): unknown {
  return typeof err === "object" && err !== null ? (err as { table?: unknown }).table : undefined;
}

function toChanceryError(err: unknown): ChanceryError {
  if (err instanceof ChanceryError) return err;
  return new ChanceryError("unavailable", "the certificate could not be stored; nothing was issued", { cause: err });
}
