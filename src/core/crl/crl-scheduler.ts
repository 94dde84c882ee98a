import type { Logger } from "pino";
import { type Actor, systemActor } from "../actor.ts";
import type { Clock } from "../clock.ts";
import type { CrlService } from "./crl-service.ts";

/** The timer functions the scheduler uses, injectable so tests drive them with a fake clock. */
export interface SchedulerTimers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Real timers, unref'd: a forgotten scheduler must not keep the process alive (stop() is still expected). */
export const realTimers: SchedulerTimers = {
  setTimeout: (callback, ms) => setTimeout(callback, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export interface CrlScheduler {
  /** Runs a pass at once, then one every `intervalMs` after the previous pass ends. */
  start(): void;
  /**
   * Asks for the CA's CRL to be rebuilt soon, e.g. after a revocation. Calls
   * within `coalesceMs` of the first one are served by one rebuild, which
   * also skips the CA if another replica's CRL already lists everything.
   */
  requestRegeneration(caId: string): void;
  /** One pass now: refreshes every CA whose CRL is missing, due or missing a revocation. */
  runOnce(): Promise<void>;
  /** Resolves when no pass and no requested rebuild is running (pending timers do not count). */
  whenIdle(): Promise<void>;
  /** Cancels the timers and waits for running work; later calls do nothing. */
  stop(): Promise<void>;
}

/**
 * Keeps every CA's CRL fresh. Each replica may run one; the per-CA advisory
 * lock inside CrlService.refresh makes the work happen once: a periodic pass
 * uses the non-blocking pg_try_advisory_xact_lock and leaves a CA another
 * replica is already building, and every build re-checks, under the lock,
 * that a build is still needed. Requested rebuilds (after a revocation) wait
 * for the lock instead, because the replica holding it may have read the
 * certificates before the revocation committed; the re-check makes the
 * wait cheap when it did not.
 */
export function createCrlScheduler(deps: {
  crls: Pick<CrlService, "refresh" | "dueCaIds">;
  clock: Clock;
  logger: Logger;
  /** Between periodic passes (default 60 s): also the bound on noticing a revocation whose request was lost. */
  intervalMs?: number | undefined;
  /** Requests for rebuilds are gathered this long from the first one (default 2 s). */
  coalesceMs?: number | undefined;
  timers?: SchedulerTimers | undefined;
  /** Who the audit events of scheduled builds name (default "system"). */
  actor?: Actor | undefined;
}): CrlScheduler {
  const { crls, clock, logger } = deps;
  const intervalMs = deps.intervalMs ?? 60_000;
  const coalesceMs = deps.coalesceMs ?? 2_000;
  const timers = deps.timers ?? realTimers;
  const actor = deps.actor ?? systemActor;

  let stopped = false;
  let started = false;
  let passTimer: unknown = null;
  let pass: Promise<void> | null = null;
  let pending = new Set<string>();
  /** Clock time of the first request still waiting, for the coalescing window. */
  let firstPendingAt = 0;
  let flushTimer: unknown = null;
  let flush: Promise<void> | null = null;

  async function refreshDue(): Promise<void> {
    let due: string[];
    try {
      due = await crls.dueCaIds();
    } catch (err) {
      logger.warn({ err }, "CRL pass: cannot list the CAs that need a CRL");
      return;
    }
    for (const caId of due) {
      if (stopped) return;
      try {
        const outcome = await crls.refresh(caId, actor, { wait: false });
        if (outcome.status === "generated")
          logger.info({ caId, crlNumber: outcome.crl.number.toString() }, "CRL refreshed");
      } catch (err) {
        // One CA failing (e.g. its key cannot be opened) must not hold up the others.
        logger.error({ err, caId }, "CRL refresh failed");
      }
    }
  }

  function runOnce(): Promise<void> {
    if (!pass) {
      pass = refreshDue().finally(() => {
        pass = null;
      });
    }
    return pass;
  }

  function schedulePass(delayMs: number): void {
    if (stopped) return;
    passTimer = timers.setTimeout(() => {
      passTimer = null;
      void runOnce().then(() => schedulePass(intervalMs));
    }, delayMs);
  }

  async function rebuildRequested(): Promise<void> {
    const batch = pending;
    pending = new Set();
    for (const caId of batch) {
      if (stopped) return;
      try {
        const outcome = await crls.refresh(caId, actor, { wait: true });
        if (outcome.status === "generated")
          logger.info({ caId, crlNumber: outcome.crl.number.toString() }, "CRL rebuilt on request");
      } catch (err) {
        // The next periodic pass sees the missing revocation (refresh's staleness check) and retries.
        logger.error({ err, caId }, "requested CRL rebuild failed");
      }
    }
  }

  function armFlush(): void {
    if (stopped || flushTimer !== null || flush || pending.size === 0) return;
    const delay = Math.max(0, firstPendingAt + coalesceMs - clock.now().getTime());
    flushTimer = timers.setTimeout(() => {
      flushTimer = null;
      flush = rebuildRequested().finally(() => {
        flush = null;
        // Requests that came in during the rebuild form the next batch, timed from their first.
        armFlush();
      });
    }, delay);
  }

  return {
    start() {
      if (stopped || started) return;
      started = true;
      schedulePass(0);
    },

    requestRegeneration(caId) {
      if (stopped) return;
      if (pending.size === 0) firstPendingAt = clock.now().getTime();
      pending.add(caId);
      armFlush();
    },

    runOnce,

    async whenIdle() {
      while (pass || flush) await (pass ?? flush);
    },

    async stop() {
      stopped = true;
      if (passTimer !== null) timers.clearTimeout(passTimer);
      if (flushTimer !== null) timers.clearTimeout(flushTimer);
      passTimer = null;
      flushTimer = null;
      pending.clear();
      while (pass || flush) await (pass ?? flush);
    },
  };
}
