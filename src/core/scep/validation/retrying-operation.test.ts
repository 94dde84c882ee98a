import { describe, expect, it } from "vitest";
import { parseRetryAfterMs, retryDelayMs, runWithRetries, type Step } from "./retrying-operation.ts";
import { defaultValidatorTuning } from "./validator-tuning.ts";

const now = new Date("2026-03-01T10:00:00Z");

describe("Retry-After and backoff", () => {
  it("reads delay-seconds and HTTP-dates (RFC 9110 §10.2.3)", () => {
    expect(parseRetryAfterMs("3", now)).toBe(3000);
    expect(parseRetryAfterMs(" 0 ", now)).toBe(0);
    expect(parseRetryAfterMs("Sun, 01 Mar 2026 10:00:04 GMT", now)).toBe(4000);
    expect(parseRetryAfterMs("Sun, 01 Mar 2026 09:00:00 GMT", now)).toBe(0);
    expect(parseRetryAfterMs("soon", now)).toBeNull();
  });

  it("waits as asked within the bound, gives up beyond it, and backs off exponentially otherwise", () => {
    const tuning = { ...defaultValidatorTuning, backoffMs: 100, maxBackoffMs: 300, maxRetryAfterMs: 5000 };
    expect(retryDelayMs(tuning, 0, "2", now)).toBe(2000);
    expect(retryDelayMs(tuning, 0, "6", now)).toBeNull();
    for (let i = 0; i < 20; i++) {
      const first = retryDelayMs(tuning, 0, null, now)!;
      expect(first).toBeGreaterThanOrEqual(50);
      expect(first).toBeLessThanOrEqual(100);
      const capped = retryDelayMs(tuning, 5, "not a number", now)!;
      expect(capped).toBeGreaterThanOrEqual(150);
      expect(capped).toBeLessThanOrEqual(300);
    }
  });

  it("stops at the first permanent failure and after the attempts on transient ones", async () => {
    const deps = {
      tuning: { ...defaultValidatorTuning, attempts: 4 },
      sleep: async () => {},
      clock: { now: () => now },
    };
    let calls = 0;
    const permanent = await runWithRetries(async (): Promise<Step<number>> => {
      calls++;
      return { ok: false, failure: { transient: false, reason: "no" } };
    }, deps);
    expect(permanent).toEqual({ ok: false, failure: { transient: false, reason: "no" } });
    expect(calls).toBe(1);

    calls = 0;
    const transient = await runWithRetries(async (): Promise<Step<number>> => {
      calls++;
      return { ok: false, failure: { transient: true, reason: "busy" } };
    }, deps);
    expect(transient.ok).toBe(false);
    expect(calls).toBe(4);
  });
});
