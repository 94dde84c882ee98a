const unitSeconds: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };

/**
 * Seconds from a duration as written in profiles and config: a whole number
 * of seconds, or a number with one unit suffix ("90d", "8760h", "30m",
 * "3600s", "2w"). Months and years are deliberately absent: their length
 * varies, and validity limits (CA/B BRs: 397 days) are stated in days.
 * Returns undefined for anything else.
 */
export function parseDuration(value: string | number): number | undefined {
  if (typeof value === "number") return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  const match = /^\s*(\d{1,10})\s*([smhdw]?)\s*$/.exec(value);
  if (!match) return undefined;
  const seconds = Number(match[1]) * unitSeconds[match[2] || "s"]!;
  return Number.isSafeInteger(seconds) ? seconds : undefined;
}
