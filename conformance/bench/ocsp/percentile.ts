/** The value at percentile `p` (0..100) of ascending `values`, by the nearest-rank-below rule the bench has always used; 0 when empty. */
export function percentile(values: readonly number[], p: number): number {
  return values[Math.min(values.length - 1, Math.floor((values.length * p) / 100))] ?? 0;
}
