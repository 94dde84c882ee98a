import { type CommonQueryMethods, sql } from "slonik";
import { z } from "zod";

/**
 * Counts one request against `key` in the window starting at `windowStart`,
 * unless the window already holds `limit` requests. Returns the new count,
 * or null when the request was refused.
 *
 * One statement, so it is atomic across every replica: of concurrent
 * callers, Postgres lets one INSERT the row and the others take the
 * ON CONFLICT branch, each seeing the row as updated by the previous one
 * (the conflicting row is locked, then re-read, under READ COMMITTED).
 *
 * The WHERE of the DO UPDATE keeps a refused request from counting: the row
 * stays at `limit` (nothing returned), so a client hammering a closed
 * window neither inflates the counter nor moves anything. The window is
 * aligned on the clock (see rate-limiter.ts), never on the last request,
 * so refusals cannot push it further either.
 */
export async function incrementRateLimitCounter(
  db: CommonQueryMethods,
  key: string,
  windowStart: Date,
  limit: number,
): Promise<number | null> {
  return db.maybeOneFirst(sql.type(z.object({ count: z.number() }))`
    INSERT INTO acme_rate_limit_counters AS c (key, window_start, count)
    VALUES (${key}, ${sql.timestamp(windowStart)}, 1)
    ON CONFLICT (key, window_start) DO UPDATE SET count = c.count + 1
    WHERE c.count < ${limit}
    RETURNING c.count`);
}

/** Deletes the counters of windows that started before `olderThan`; returns how many went. */
export async function deleteRateLimitCountersBefore(db: CommonQueryMethods, olderThan: Date): Promise<number> {
  const result = await db.query(sql.unsafe`
    DELETE FROM acme_rate_limit_counters WHERE window_start < ${sql.timestamp(olderThan)}`);
  return result.rowCount;
}
