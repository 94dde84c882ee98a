import type { Logger } from "pino";
import type { DatabasePool } from "slonik";
import {
  deleteExpiredPresignDue,
  findCertificatesDueForPresign,
  pruneStoredOcspResponses,
  tryLockOcspPresign,
} from "../../store/ocsp-response-store.ts";
import type { CaService } from "../ca/ca-service.ts";
import type { Clock } from "../clock.ts";
import type { SchedulerTimers } from "../crl/crl-scheduler.ts";
import { createPeriodicPass } from "../periodic-pass.ts";
import type { OcspService } from "./ocsp-service.ts";

export interface OcspPresigner {
  /** Runs a pass every `intervalMs` after the previous one ends (the first after one interval). */
  start(): void;
  /** One pass now over every active CA; resolves with how many certificates got new responses. */
  runOnce(): Promise<number>;
  /** Cancels the timer and waits for a running pass (which stops after its current batch). */
  stop(): Promise<void>;
}

/**
 * Most batches per CA in one pass. A row the store refuses to replace (a
 * clock set back, so the new thisUpdate is older) stays due; the cap keeps
 * that from looping, and is far above what a CA needs (a million
 * certificates re-signed every 12 h is about 3 000 a minute).
 */
const maxBatchesPerPass = 50;

/**
 * Signs OCSP responses ahead of requests (docs/decisions/0007): for each
 * active CA, every certificate not yet expired (revoked ones too, until
 * they expire) whose stored responses are missing, say an outdated status,
 * or are past their refresh time (half their window) gets both canonical
 * CertIDs (SHA-1, SHA-256) signed and stored, so requests read rows instead
 * of signing. Newly issued certificates get theirs on the next pass.
 *
 * What is due is kept, not searched for (migration 0020, docs/decisions/0012):
 * each unexpired certificate has a due time, "now" when it is issued or its
 * status changes (set in that transaction), moved to the refresh time once
 * both forms are stored. A pass reads the (ca_id, due_at) index up to now,
 * so one with nothing due reads no certificate. Times compare against the
 * injected clock: a clock set back makes fewer certificates due, and a row
 * the store refuses to replace (the clock set back, so the new thisUpdate is
 * older) leaves its certificate due.
 *
 * Batches are bounded and the event loop is yielded between them, so a
 * pass over many certificates never holds up requests. Each batch runs in
 * one transaction under the CA's pg_try_advisory_xact_lock and re-reads
 * what is due under it: replicas running passes together sign each
 * certificate once, and a replica that finds the lock taken leaves the CA
 * to the holder for this pass.
 */
export function createOcspPresigner(deps: {
  pool: DatabasePool;
  ocsp: Pick<OcspService, "presignerFor">;
  cas: Pick<CaService, "list">;
  clock: Clock;
  logger: Logger;
  /** Between passes (default 60 s). */
  intervalMs?: number | undefined;
  /** Certificates per batch (two signatures each; default 2000). */
  batchSize?: number | undefined;
  timers?: SchedulerTimers | undefined;
}): OcspPresigner {
  const { pool, ocsp, clock, logger } = deps;
  const intervalMs = deps.intervalMs ?? 60_000;
  const batchSize = deps.batchSize ?? 2000;
  if (!(intervalMs > 0)) throw new RangeError("the OCSP pre-signing interval must be positive");
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError("the OCSP pre-signing batch must be >= 1");

  /** Batches for one CA until nothing is due, the lock is elsewhere, or stop(); returns certificates signed. */
  async function presignCa(caId: string): Promise<number> {
    let signed = 0;
    for (let batch = 0; batch < maxBatchesPerPass; batch++) {
      if (periodic.stopped()) return signed;
      // Issuer hashes and responder are loaded outside the transaction: a responder rotation needs a connection.
      const presign = await ocsp.presignerFor(caId);
      const done = await pool.transaction(async (tx) => {
        if (!(await tryLockOcspPresign(tx, caId))) return null;
        const now = clock.now();
        if (signed === 0) {
          await pruneStoredOcspResponses(tx, caId, now);
          await deleteExpiredPresignDue(tx, caId, now);
        }
        const due = await findCertificatesDueForPresign(tx, caId, now, batchSize);
        if (due.length > 0) await presign(tx, due);
        return due.length;
      });
      if (done === null) {
        logger.debug({ caId }, "OCSP pre-signing: another replica holds the CA; skipped this pass");
        return signed;
      }
      signed += done;
      if (done < batchSize) return signed;
      // Let requests in between batches.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    return signed;
  }

  async function presignAll(): Promise<number> {
    let cas: Awaited<ReturnType<CaService["list"]>>;
    try {
      cas = await deps.cas.list();
    } catch (err) {
      logger.warn({ err }, "OCSP pre-signing: cannot list the CAs");
      return 0;
    }
    const nowMs = clock.now().getTime();
    let total = 0;
    for (const ca of cas) {
      if (periodic.stopped()) break;
      // Disabled CAs' certificates are still answered, on demand: pre-signing is for the CAs in use.
      if (ca.status !== "active" || !ca.certificateDer) continue;
      if (ca.notAfter !== null && ca.notAfter.getTime() <= nowMs) continue;
      try {
        const signed = await presignCa(ca.id);
        total += signed;
        if (signed > 0) logger.info({ caId: ca.id, certificates: signed }, "OCSP responses pre-signed");
      } catch (err) {
        logger.warn({ err, caId: ca.id }, "OCSP pre-signing failed; retried on the next pass");
      }
    }
    return total;
  }

  const periodic = createPeriodicPass(presignAll, { intervalMs, timers: deps.timers });
  return { start: periodic.start, runOnce: periodic.runOnce, stop: periodic.stop };
}
