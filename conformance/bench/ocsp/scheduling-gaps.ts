/**
 * How often this machine stops a process that wants to run, for
 * `npm run bench:ocsp`: a child that only reads the clock for `seconds` and
 * records every gap of more than 1 ms between two readings (the process was
 * not running: another process, the hypervisor, an interrupt). Every server
 * and load client of the bench sees such gaps too; a request in flight
 * during one waits it out, and the requests due meanwhile queue behind it,
 * so they set the latency tail at half of peak whatever the server does.
 */
export interface GapsResult {
  readonly seconds: number;
  /** Gaps longer than 1 ms, per second. */
  readonly perSecond: number;
  /** Gaps longer than 5 ms, per second. */
  readonly over5msPerSecond: number;
  readonly longestMs: number;
}

export function measureGaps(seconds: number): GapsResult {
  const end = performance.now() + seconds * 1000;
  let last = performance.now();
  let gaps = 0;
  let over5 = 0;
  let longest = 0;
  for (;;) {
    const now = performance.now();
    const gap = now - last;
    if (gap > 1) {
      gaps++;
      if (gap > 5) over5++;
      if (gap > longest) longest = gap;
    }
    last = now;
    if (now >= end) break;
  }
  return { seconds, perSecond: gaps / seconds, over5msPerSecond: over5 / seconds, longestMs: longest };
}

if (process.send) {
  process.once("message", (job) => {
    const result = measureGaps((job as { seconds: number }).seconds);
    process.send!(result, () => process.disconnect());
  });
}
