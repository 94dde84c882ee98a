import type { Logger } from "pino";
import type { CommonQueryMethods, DatabasePool } from "slonik";
import { insertCertificates, type NewCertificateRow } from "../../store/certificate-store.ts";
import type { AuditEventInput } from "../audit/audit-event.ts";
import type { AuditLog } from "../audit/audit-log.ts";
import { ChanceryError } from "../errors.ts";

export interface IssuanceRecord {
  certificate: NewCertificateRow;
  audit: AuditEventInput;
  /**
   * The front end's own state change for this certificate (a SCEP
   * transaction settled, an EST enrollment recorded), run in the same
   * transaction after the certificate is inserted; the events it returns are
   * sealed right after the certificate's. Throwing fails this certificate:
   * nothing is issued that the front end could not record.
   */
  alsoInTransaction?: ((tx: CommonQueryMethods) => Promise<AuditEventInput[]>) | undefined;
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
 * Group commit for issued certificates (docs/decisions/0003-audit-chain.md).
 * A certificate is persisted in the same transaction as its audit event, and
 * the audit chain needs its head row locked per transaction; one fsync and
 * one head lock per certificate would cap issuance at the disk's commit
 * rate. So records that arrive while a commit is in flight wait and go
 * together in the next transaction: one multi-row INSERT of certificates,
 * one sealed run of audit events, one COMMIT. Under light load a batch is
 * one record and latency is one round of commit; under heavy load batches
 * grow by themselves up to maxBatch.
 */
export function createIssuanceCommitter(deps: {
  pool: DatabasePool;
  audit: AuditLog;
  logger: Logger;
  maxBatch?: number;
  onBatch?: (size: number, seconds: number) => void;
}): IssuanceCommitter {
  const maxBatch = deps.maxBatch ?? 500;
  let queue: Pending[] = [];
  let inFlight: Promise<void> | null = null;
  let closed = false;

  async function writeBatch(batch: Pending[]): Promise<void> {
    await deps.pool.transaction(async (tx) => {
      await insertCertificates(
        tx,
        batch.map((p) => p.record.certificate),
      );
      const events: AuditEventInput[] = [];
      for (const { record } of batch) {
        events.push(record.audit);
        if (record.alsoInTransaction) events.push(...(await record.alsoInTransaction(tx)));
      }
      await deps.audit.appendInTransaction(tx, events);
    });
  }

  async function flush(batch: Pending[]): Promise<void> {
    const started = performance.now();
    try {
      await writeBatch(batch);
      deps.onBatch?.(batch.length, (performance.now() - started) / 1000);
      for (const p of batch) p.resolve();
    } catch (err) {
      if (batch.length === 1) {
        batch[0]!.reject(toChanceryError(err));
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

function toChanceryError(err: unknown): ChanceryError {
  if (err instanceof ChanceryError) return err;
  return new ChanceryError("unavailable", "the certificate could not be stored; nothing was issued", { cause: err });
}
