import { realTimers, type SchedulerTimers } from "./crl/crl-scheduler.ts";

/** A background pass run again `intervalMs` after the previous one ends. */
export interface PeriodicPass<T> {
  /** Schedules the first pass one interval from now; later calls do nothing. */
  start(): void;
  /** One pass now, or the running one: passes never overlap. */
  runOnce(): Promise<T>;
  /** Cancels the timer and waits for a running pass; later calls do nothing. */
  stop(): Promise<void>;
  /** True once stop() was called: a long pass checks it between steps and ends early. */
  stopped(): boolean;
}

/**
 * The timer loop the OCSP pre-signer and the responder rotation share:
 * never overlapping, unref'd timers (SchedulerTimers), injected for tests,
 * and a stop() that waits for the running pass so the pool can close after it.
 */
export function createPeriodicPass<T>(
  run: () => Promise<T>,
  options: { intervalMs: number; timers?: SchedulerTimers | undefined },
): PeriodicPass<T> {
  const timers = options.timers ?? realTimers;
  let timer: unknown = null;
  let pass: Promise<T> | null = null;
  let stopped = false;
  let started = false;

  function runOnce(): Promise<T> {
    if (pass) return pass;
    pass = run().finally(() => {
      pass = null;
    });
    return pass;
  }

  function schedule(): void {
    if (stopped) return;
    timer = timers.setTimeout(() => {
      timer = null;
      void runOnce().finally(schedule);
    }, options.intervalMs);
  }

  return {
    start() {
      if (stopped || started) return;
      started = true;
      schedule();
    },
    runOnce,
    async stop() {
      stopped = true;
      if (timer !== null) timers.clearTimeout(timer);
      timer = null;
      await pass;
    },
    stopped: () => stopped,
  };
}
