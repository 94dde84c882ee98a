import type { Logger } from "pino";
import type { CaService } from "../ca/ca-service.ts";
import type { Clock } from "../clock.ts";
import type { SchedulerTimers } from "../crl/crl-scheduler.ts";
import { createPeriodicPass } from "../periodic-pass.ts";
import type { OcspResponderService } from "./responder-service.ts";

export interface ResponderRotation {
  /** Runs a pass every `intervalMs` after the previous one ends (the first after one interval). */
  start(): void;
  /** One pass now: every active CA's responder is rotated if it is due within the lead. */
  runOnce(): Promise<void>;
  /** Cancels the timer and waits for a running pass; later calls do nothing. */
  stop(): Promise<void>;
}

/**
 * Rotates OCSP responder certificates in the background, so that no OCSP
 * request pays for making one (a key generation and a CA signature, under
 * the per-CA advisory lock). A responder is rotated `leadMs` before
 * requests would find it due (OcspResponderService.rotateIfDue); the lead
 * is twice the interval by default, so one failed or skipped pass still
 * leaves the rotation to the next one. Each replica may run one: the
 * advisory lock and the re-check under it make one responder per rotation,
 * and the others' passes just load it.
 */
export function createResponderRotation(deps: {
  responders: Pick<OcspResponderService, "rotateIfDue">;
  cas: Pick<CaService, "list">;
  clock: Clock;
  logger: Logger;
  /** Between passes (default 10 minutes). */
  intervalMs?: number | undefined;
  /** How much earlier than a request would, a responder is rotated (default two intervals). */
  leadMs?: number | undefined;
  timers?: SchedulerTimers | undefined;
}): ResponderRotation {
  const { responders, clock, logger } = deps;
  const intervalMs = deps.intervalMs ?? 10 * 60_000;
  const leadMs = deps.leadMs ?? 2 * intervalMs;

  async function rotateAll(): Promise<void> {
    let cas: Awaited<ReturnType<CaService["list"]>>;
    try {
      cas = await deps.cas.list();
    } catch (err) {
      logger.warn({ err }, "OCSP responder rotation: cannot list the CAs");
      return;
    }
    const nowMs = clock.now().getTime();
    for (const ca of cas) {
      if (periodic.stopped()) return;
      // Disabled CAs keep answering for what they issued, but only active ones get a new responder
      // here: a disabled CA's responder is still rotated by the request that finds it due.
      if (ca.status !== "active" || !ca.certificateDer) continue;
      if (ca.notAfter !== null && ca.notAfter.getTime() <= nowMs) continue;
      try {
        await responders.rotateIfDue(ca.id, leadMs);
      } catch (err) {
        logger.warn({ err, caId: ca.id }, "OCSP responder rotation failed; retried on the next pass");
      }
    }
  }

  const periodic = createPeriodicPass(rotateAll, { intervalMs, timers: deps.timers });
  return { start: periodic.start, runOnce: periodic.runOnce, stop: periodic.stop };
}
