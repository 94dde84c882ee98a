import type { BoundedOutcome } from "./bounded-fetch.ts";
import { isTransientStatus, type StepFailure } from "./retrying-operation.ts";

/** A failed exchange (no usable answer) as a step failure: always transient, as the next try may get through. */
export function exchangeFailure(what: string, outcome: Extract<BoundedOutcome, { kind: "failed" }>): StepFailure {
  // An oversized body is a broken or hostile answer, not a slow one: retrying gets the same.
  return { transient: outcome.cause !== "oversized", reason: `${what}: ${outcome.message}` };
}

/** An HTTP status nobody expected, transient for 408, 429 and 5xx. */
export function statusFailure(what: string, status: number, retryAfter: string | null, detail?: string): StepFailure {
  return {
    transient: isTransientStatus(status),
    reason: `${what} answered HTTP ${status}${detail ? ` (${detail})` : ""}`,
    retryAfter,
  };
}

/** JSON.parse that answers undefined instead of throwing. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Text from a remote party made fit for a log line and a stored reason:
 * first line, control characters out, at most `max` characters.
 */
export function remoteText(value: unknown, max = 200): string {
  if (typeof value !== "string") return "";
  const firstLine = value.split(/\r?\n/, 1)[0] ?? "";
  // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping control characters is the point.
  const clean = firstLine.replace(/[\u0000-\u001f\u007f]/g, " ").trim();
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean;
}
