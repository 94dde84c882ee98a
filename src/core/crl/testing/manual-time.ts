import type { Clock } from "../../clock.ts";
import type { SchedulerTimers } from "../crl-scheduler.ts";

/**
 * Test-only: a clock and timers that move only when told to, so a
 * scheduler's windows and intervals can be checked without waiting and
 * without vitest's global fake timers (which would also stop the Postgres
 * driver's own timers).
 */
export interface ManualTime {
  readonly clock: Clock;
  readonly timers: SchedulerTimers;
  /** Moves the clock forward, firing each timer that comes due, in order, at its own time. */
  advance(ms: number): void;
  /** Timers set and not yet fired or cleared. */
  pendingTimers(): number;
}

export function createManualTime(start: Date): ManualTime {
  let now = start.getTime();
  let nextId = 1;
  const due = new Map<number, { at: number; callback: () => void }>();
  return {
    clock: { now: () => new Date(now) },
    timers: {
      setTimeout(callback, ms) {
        const id = nextId++;
        due.set(id, { at: now + Math.max(0, ms), callback });
        return id;
      },
      clearTimeout(handle) {
        due.delete(handle as number);
      },
    },
    advance(ms) {
      const target = now + ms;
      for (;;) {
        let first: [number, { at: number; callback: () => void }] | undefined;
        for (const entry of due) if (entry[1].at <= target && (!first || entry[1].at < first[1].at)) first = entry;
        if (!first) break;
        due.delete(first[0]);
        now = first[1].at;
        first[1].callback();
      }
      now = target;
    },
    pendingTimers: () => due.size,
  };
}
