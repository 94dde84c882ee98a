import type { Clock } from "../../clock.ts";
import { type BoundedOutcome, type BoundedRequest, boundedFetch, type FetchFunction } from "./bounded-fetch.ts";
import type { Sleep, ValidatorTuning } from "./validator-tuning.ts";

/** One step of a validator exchange: its value, or why it failed. */
export type Step<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly failure: StepFailure };

export interface StepFailure {
  /** Worth another attempt: unreachable, too slow, overloaded, 5xx or 429. */
  readonly transient: boolean;
  /** Safe to log and to record with the enrolment: never a secret, a token or a request header. */
  readonly reason: string;
  /** The server's Retry-After, when it sent one. */
  readonly retryAfter?: string | null | undefined;
  /** A stale cache entry (token, discovered URL) was dropped: retry at once, without backoff. */
  readonly retryNow?: boolean | undefined;
}

export function stepFailure(failure: StepFailure): { ok: false; failure: StepFailure } {
  return { ok: false, failure };
}

/** The time budget of one validate() or notify*() call, shared by all its requests and retries. */
export interface Operation {
  /** Milliseconds the next request may take: the per-request timeout, or less near the deadline. */
  requestTimeoutMs(): number;
  remainingMs(): number;
  /**
   * True the first time it is called with `key` in this operation: for
   * recoveries worth trying once (a fresh token after a 401, a new
   * discovery after a 404), so a persistent refusal is not retried blindly.
   */
  firstTime(key: string): boolean;
}

export function startOperation(tuning: ValidatorTuning): Operation {
  // Monotonic time: the injected Clock drives token and cache expiry, and tests may freeze it.
  const deadline = performance.now() + tuning.deadlineMs;
  const remainingMs = () => deadline - performance.now();
  const seen = new Set<string>();
  return {
    remainingMs,
    requestTimeoutMs: () => Math.min(tuning.requestTimeoutMs, remainingMs()),
    firstTime(key) {
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    },
  };
}

/** boundedFetch within the operation's budget: once it is spent, a timeout without a request. */
export async function fetchWithin(
  op: Operation,
  fetchFn: FetchFunction,
  tuning: ValidatorTuning,
  request: Omit<BoundedRequest, "timeoutMs" | "maxBodyBytes">,
): Promise<BoundedOutcome> {
  const timeoutMs = op.requestTimeoutMs();
  if (timeoutMs < 1) return { kind: "failed", cause: "timeout", message: "the validation deadline passed" };
  return boundedFetch(fetchFn, { ...request, timeoutMs, maxBodyBytes: tuning.maxResponseBytes });
}

/** RFC 9110 §15.5.9/§15.6.4 statuses worth retrying: timeout, throttling and server errors. */
export function isTransientStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/**
 * Runs `attempt` until it succeeds, fails for good, or the attempts or the
 * deadline run out. Between attempts it waits with exponential backoff and
 * jitter, or as long as a Retry-After asks when that is within
 * maxRetryAfterMs (a longer one ends the retries: holding the device's
 * request that long helps nobody, and it will retry itself). The last
 * failure is returned as it is: still transient when the validator was
 * only unreachable.
 */
export async function runWithRetries<T>(
  attempt: (op: Operation) => Promise<Step<T>>,
  deps: { readonly tuning: ValidatorTuning; readonly sleep: Sleep; readonly clock: Clock },
): Promise<Step<T>> {
  const { tuning } = deps;
  const op = startOperation(tuning);
  let backoffIndex = 0;
  for (let n = 1; ; n++) {
    const result = await attempt(op);
    if (result.ok || !result.failure.transient || n >= tuning.attempts) return result;
    let delay = 0;
    if (!result.failure.retryNow) {
      const wanted = retryDelayMs(tuning, backoffIndex++, result.failure.retryAfter, deps.clock.now());
      if (wanted === null) return result;
      delay = wanted;
    }
    // Not enough time left for the wait and a useful request after it.
    if (delay + 1 >= op.remainingMs()) return result;
    if (delay > 0) await deps.sleep(delay);
  }
}

/** Milliseconds to wait before retry number `index` (0-based), or null when Retry-After asks for too long. */
export function retryDelayMs(
  tuning: ValidatorTuning,
  index: number,
  retryAfter: string | null | undefined,
  now: Date,
): number | null {
  if (retryAfter !== null && retryAfter !== undefined) {
    const asked = parseRetryAfterMs(retryAfter, now);
    if (asked !== null) return asked > tuning.maxRetryAfterMs ? null : asked;
  }
  const base = Math.min(tuning.maxBackoffMs, tuning.backoffMs * 2 ** index);
  // Half fixed, half random: replicas that failed together do not retry in step.
  return Math.round(base / 2 + Math.random() * (base / 2));
}

/** RFC 9110 §10.2.3: delay-seconds or an HTTP-date; null when it is neither. */
export function parseRetryAfterMs(value: string, now: Date): number | null {
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return null;
  return Math.max(0, at - now.getTime());
}
