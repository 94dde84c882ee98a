import type { DatabasePool } from "slonik";
import { deleteRateLimitCountersBefore, incrementRateLimitCounter } from "../../store/acme-rate-limit-store.ts";
import type { Clock } from "../clock.ts";

export interface RateLimitOptions {
  /** Requests allowed per window; a positive integer. */
  readonly limit: number;
  /** Window length in milliseconds; a positive integer. */
  readonly windowMs: number;
}

export interface RateLimitDecision {
  readonly allowed: boolean;
  /** Seconds until the current window ends (RFC 8555 §6.6 Retry-After); at least 1. */
  readonly retryAfterSeconds: number;
}

export interface RateLimiter {
  /**
   * Counts one request for `key` ("<limit>:<directory>:<subject>") and says
   * whether it is allowed. A refused request is not counted.
   */
  consume(key: string, options: RateLimitOptions): Promise<RateLimitDecision>;
  /** Deletes counters of windows that started before `olderThan` (pass now minus the longest window). */
  purgeExpired(olderThan: Date): Promise<number>;
}

/**
 * Fixed-window counters in acme_rate_limit_counters, shared by every
 * replica (a per-process counter would multiply the limit by the number of
 * replicas behind the load balancer).
 *
 * Windows are aligned on the epoch: the window of `now` starts at
 * floor(now / windowMs) * windowMs. Every replica computes the same start
 * from its clock without reading anything, and a refused request cannot
 * extend the window (unlike a "window starts at the first request" or a
 * penalty scheme): Retry-After is simply the end of the current window,
 * after which a new row starts at zero. The cost of fixed windows (up to
 * 2 × limit across a boundary) is acceptable for abuse limits like these.
 */
export function createRateLimiter(deps: { pool: DatabasePool; clock: Clock }): RateLimiter {
  return {
    async consume(key, options) {
      const { limit, windowMs } = options;
      if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`rate limit must be a positive integer`);
      if (!Number.isSafeInteger(windowMs) || windowMs < 1)
        throw new RangeError(`rate limit window must be a positive integer of milliseconds`);
      const now = deps.clock.now().getTime();
      const windowStart = Math.floor(now / windowMs) * windowMs;
      const count = await incrementRateLimitCounter(deps.pool, key, new Date(windowStart), limit);
      // Rounded up so a client that waits exactly this long lands in the next window.
      const retryAfterSeconds = Math.max(1, Math.ceil((windowStart + windowMs - now) / 1000));
      return { allowed: count !== null, retryAfterSeconds };
    },
    purgeExpired(olderThan) {
      return deleteRateLimitCountersBefore(deps.pool, olderThan);
    },
  };
}
