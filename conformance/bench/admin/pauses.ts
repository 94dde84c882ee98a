import { monitorEventLoopDelay, PerformanceObserver } from "node:perf_hooks";

/** A stretch of time, in ms since the epoch, so two processes' records compare. */
export interface Interval {
  readonly start: number;
  readonly end: number;
}

export interface PauseRecord {
  /** Garbage collections of this process, each stopping its JavaScript. */
  readonly gc: Interval[];
  /** Event loop delay (ms): how late timers ran, whatever held the loop. */
  readonly loopDelay: { readonly p50: number; readonly p99: number; readonly max: number };
}

/** Records this process's GC pauses and event loop delay until `stop()`. */
export function recordPauses(): { stop(): PauseRecord } {
  const gc: Interval[] = [];
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const start = performance.timeOrigin + entry.startTime;
      gc.push({ start, end: start + entry.duration });
    }
  });
  observer.observe({ entryTypes: ["gc"] });
  const delay = monitorEventLoopDelay({ resolution: 5 });
  delay.enable();
  return {
    stop() {
      observer.disconnect();
      delay.disable();
      const ms = (ns: number) => ns / 1e6;
      return {
        gc,
        loopDelay: { p50: ms(delay.percentile(50)), p99: ms(delay.percentile(99)), max: ms(delay.max) },
      };
    },
  };
}

/** Summary of pauses: how many, their total and the longest, in ms. */
export function pauseSummary(gc: readonly Interval[]) {
  const durations = gc.map((p) => p.end - p.start);
  return {
    count: durations.length,
    totalMs: durations.reduce((a, b) => a + b, 0),
    maxMs: Math.max(0, ...durations),
    over10Ms: durations.filter((d) => d > 10).length,
  };
}

/** How many of `calls` overlap at least one of `pauses` longer than `minMs`. */
export function overlapping(calls: readonly Interval[], pauses: readonly Interval[], minMs: number): number {
  const long = pauses.filter((p) => p.end - p.start > minMs);
  return calls.filter((c) => long.some((p) => p.start < c.end && p.end > c.start)).length;
}
