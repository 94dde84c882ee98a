import { sql } from "slonik";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { createTestDatabase, type TestDatabase } from "../../../test/support/test-database.ts";
import type { Clock } from "../clock.ts";
import { createRateLimiter, type RateLimiter } from "./rate-limiter.ts";

describe("ACME rate limiter (fixed windows in Postgres)", () => {
  let database: TestDatabase;
  let limiter: RateLimiter;
  // 2030-01-01T00:00:00Z is a multiple of one hour since the epoch: a window start.
  const hourStart = Date.UTC(2030, 0, 1);
  let nowMs = hourStart;
  const clock: Clock = { now: () => new Date(nowMs) };
  const hour = { limit: 3, windowMs: 3_600_000 };

  beforeAll(async () => {
    database = await createTestDatabase({ maxConnections: 10 });
    limiter = createRateLimiter({ pool: database.pool, clock });
  });
  afterAll(async () => {
    await database?.drop();
  });

  const countOf = (key: string) =>
    database.pool.anyFirst(sql.type(z.object({ count: z.number() }))`
      SELECT count FROM acme_rate_limit_counters WHERE key = ${key} ORDER BY window_start`);

  it("allows up to the limit, then refuses with Retry-After until the window ends, without counting refusals", async () => {
    nowMs = hourStart + 15 * 60_000;
    for (let i = 0; i < 3; i++) expect((await limiter.consume("orders:d:acct1", hour)).allowed).toBe(true);
    nowMs = hourStart + 59 * 60_000 + 30_500; // 29.5 s before the window ends
    for (let i = 0; i < 4; i++)
      expect(await limiter.consume("orders:d:acct1", hour)).toEqual({ allowed: false, retryAfterSeconds: 30 });
    expect(await countOf("orders:d:acct1")).toEqual([3]);
    // Another key has its own counter.
    expect((await limiter.consume("orders:d:acct2", hour)).allowed).toBe(true);
  });

  it("allows again in the next window, and Retry-After is never below one second", async () => {
    nowMs = hourStart + 3_600_000 - 1;
    expect(await limiter.consume("orders:d:acct1", hour)).toEqual({ allowed: false, retryAfterSeconds: 1 });
    nowMs = hourStart + 3_600_000;
    expect(await limiter.consume("orders:d:acct1", hour)).toEqual({ allowed: true, retryAfterSeconds: 3600 });
    expect(await countOf("orders:d:acct1")).toEqual([3, 1]);
  });

  it("counts exactly across concurrent consumers: 50 at once with limit 10 allow 10", async () => {
    nowMs = hourStart + 7_200_000 + 1234;
    const decisions = await Promise.all(
      Array.from({ length: 50 }, () => limiter.consume("accounts:d:192.0.2.1", { limit: 10, windowMs: 3_600_000 })),
    );
    expect(decisions.filter((d) => d.allowed)).toHaveLength(10);
    expect(await countOf("accounts:d:192.0.2.1")).toEqual([10]);
  });

  it("purges windows that started before a time and reports how many went", async () => {
    expect(await limiter.purgeExpired(new Date(hourStart + 3_600_000))).toBe(2); // acct1 and acct2, first hour
    expect(await countOf("orders:d:acct1")).toEqual([1]);
    expect(await limiter.purgeExpired(new Date(hourStart + 3_600_000))).toBe(0);
  });

  it("refuses nonsensical limits", async () => {
    await expect(limiter.consume("k", { limit: 0, windowMs: 1000 })).rejects.toThrow(RangeError);
    await expect(limiter.consume("k", { limit: 1.5, windowMs: 1000 })).rejects.toThrow(RangeError);
    await expect(limiter.consume("k", { limit: 1, windowMs: 0 })).rejects.toThrow(RangeError);
  });
});
