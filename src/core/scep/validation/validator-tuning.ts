/**
 * Limits every external challenge validator (Intune, webhook) works within.
 * A SCEP device waits on its HTTP request while we ask the validator, so
 * the whole exchange is bounded: each request has a timeout, the retries
 * are few, and one validation never runs past `deadlineMs`.
 */
export interface ValidatorTuning {
  /** Per HTTP request, in milliseconds. */
  readonly requestTimeoutMs: number;
  /** HTTP attempts per operation, the first included (>= 1). */
  readonly attempts: number;
  /** Wait before the first retry; doubled for each further one, with jitter. */
  readonly backoffMs: number;
  readonly maxBackoffMs: number;
  /** A 429/503 Retry-After longer than this ends the retries at once (the device retries later instead). */
  readonly maxRetryAfterMs: number;
  /** One validate() or notify*() call, retries included, never runs longer than this. */
  readonly deadlineMs: number;
  /** Response bodies are read up to this many bytes; a longer one is a failed exchange. */
  readonly maxResponseBytes: number;
  /** Intune: the discovered ScepActions URL is re-discovered after this long even when it keeps working. */
  readonly discoveryTtlMs: number;
  /** Intune: a cached token is renewed this long before it expires. */
  readonly tokenRefreshMarginMs: number;
}

export const defaultValidatorTuning: ValidatorTuning = {
  requestTimeoutMs: 5_000,
  attempts: 3,
  backoffMs: 250,
  maxBackoffMs: 2_000,
  maxRetryAfterMs: 5_000,
  deadlineMs: 20_000,
  maxResponseBytes: 64 * 1024,
  discoveryTtlMs: 24 * 60 * 60 * 1000,
  tokenRefreshMarginMs: 5 * 60 * 1000,
};

export function resolveTuning(partial: Partial<ValidatorTuning> | undefined): ValidatorTuning {
  const tuning = { ...defaultValidatorTuning, ...partial };
  if (!(tuning.attempts >= 1)) throw new Error("validator tuning: attempts must be at least 1");
  return tuning;
}

export type Sleep = (ms: number) => Promise<void>;

export const realSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
