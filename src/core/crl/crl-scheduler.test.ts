import { describe, expect, it } from "vitest";
import { testLogger } from "../../../test/support/test-core.ts";
import type { Actor } from "../actor.ts";
import { createCrlScheduler } from "./crl-scheduler.ts";
import type { CrlRefreshOutcome, CrlService } from "./crl-service.ts";
import { createManualTime } from "./testing/manual-time.ts";

interface RefreshCall {
  caId: string;
  wait: boolean;
  at: number;
  actor: string;
}

/** A stand-in CrlService: records calls; each refresh resolves when the test says so (or at once). */
function fakeCrls(time: ReturnType<typeof createManualTime>, options: { due?: string[]; hold?: boolean } = {}) {
  const calls: RefreshCall[] = [];
  const held: Array<() => void> = [];
  let passes = 0;
  let failFor: string | undefined;
  const crls: Pick<CrlService, "refresh" | "dueCaIds"> = {
    async dueCaIds() {
      passes++;
      return options.due ?? [];
    },
    async refresh(caId: string, by: Actor, refreshOptions: { wait: boolean }): Promise<CrlRefreshOutcome> {
      calls.push({ caId, wait: refreshOptions.wait, at: time.clock.now().getTime(), actor: by.actor });
      if (options.hold) await new Promise<void>((resolve) => held.push(resolve));
      if (caId === failFor) throw new Error("key unavailable");
      return { status: "current" };
    },
  };
  return {
    crls,
    calls,
    passes: () => passes,
    releaseAll: () => {
      for (const release of held.splice(0)) release();
    },
    failFor: (caId: string) => {
      failFor = caId;
    },
  };
}

/** Lets the promise callbacks a timer started run to their next await. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe("CRL scheduler", () => {
  it("coalesces a burst of requests into one rebuild per CA, 2 s after the first", async () => {
    const time = createManualTime(new Date("2030-01-01T00:00:00Z"));
    const start = time.clock.now().getTime();
    const fake = fakeCrls(time);
    const scheduler = createCrlScheduler({
      crls: fake.crls,
      clock: time.clock,
      logger: testLogger,
      timers: time.timers,
    });
    for (let i = 0; i < 10; i++) {
      scheduler.requestRegeneration("ca-a");
      if (i % 3 === 0) scheduler.requestRegeneration("ca-b");
      time.advance(150);
    }
    await scheduler.whenIdle();
    expect(fake.calls).toEqual([]);
    time.advance(500); // 2 000 ms after the first request
    await scheduler.whenIdle();
    expect(fake.calls).toEqual([
      { caId: "ca-a", wait: true, at: start + 2000, actor: "system" },
      { caId: "ca-b", wait: true, at: start + 2000, actor: "system" },
    ]);
    // Quiet now: no more rebuilds, no timers left.
    time.advance(10_000);
    await scheduler.whenIdle();
    expect(fake.calls).toHaveLength(2);
    expect(time.pendingTimers()).toBe(0);
    await scheduler.stop();
  });

  it("runs requests made during a rebuild after it, never two rebuilds at once", async () => {
    const time = createManualTime(new Date("2030-01-01T00:00:00Z"));
    const start = time.clock.now().getTime();
    const fake = fakeCrls(time, { hold: true });
    const scheduler = createCrlScheduler({
      crls: fake.crls,
      clock: time.clock,
      logger: testLogger,
      timers: time.timers,
    });
    scheduler.requestRegeneration("ca-a");
    time.advance(2000);
    await settle();
    expect(fake.calls).toHaveLength(1); // running, held
    scheduler.requestRegeneration("ca-a");
    time.advance(5000); // the window of the second request has passed, but the first rebuild still runs
    await settle();
    expect(fake.calls).toHaveLength(1);
    fake.releaseAll();
    await settle();
    // Its window (from 2 000 ms) is over: it runs at once after the first (a 0 ms timer).
    time.advance(0);
    await settle();
    expect(fake.calls.map((c) => c.at - start)).toEqual([2000, 7000]);
    fake.releaseAll();
    await scheduler.stop();
  });

  it("passes periodically, without blocking on the lock, and one failing CA does not stop the others", async () => {
    const time = createManualTime(new Date("2030-01-01T00:00:00Z"));
    const fake = fakeCrls(time, { due: ["ca-a", "ca-b", "ca-c"] });
    fake.failFor("ca-b");
    const scheduler = createCrlScheduler({
      crls: fake.crls,
      clock: time.clock,
      logger: testLogger,
      timers: time.timers,
      intervalMs: 30_000,
    });
    scheduler.start();
    scheduler.start(); // idempotent
    time.advance(0);
    await scheduler.whenIdle();
    expect(fake.passes()).toBe(1);
    expect(fake.calls.map((c) => `${c.caId}:${c.wait}`)).toEqual(["ca-a:false", "ca-b:false", "ca-c:false"]);
    time.advance(29_999);
    await scheduler.whenIdle();
    expect(fake.passes()).toBe(1);
    time.advance(1);
    await scheduler.whenIdle();
    expect(fake.passes()).toBe(2);
    await scheduler.stop();
  });

  it("stops cleanly: timers cancelled, running work awaited, later requests ignored", async () => {
    const time = createManualTime(new Date("2030-01-01T00:00:00Z"));
    const fake = fakeCrls(time, { due: ["ca-a"], hold: true });
    const scheduler = createCrlScheduler({
      crls: fake.crls,
      clock: time.clock,
      logger: testLogger,
      timers: time.timers,
    });
    scheduler.start();
    time.advance(0);
    await settle();
    scheduler.requestRegeneration("ca-b");
    expect(time.pendingTimers()).toBe(1); // the request's window
    let stopped = false;
    const stopping = scheduler.stop().then(() => {
      stopped = true;
    });
    await settle();
    expect(stopped).toBe(false); // the pass's refresh is still running
    expect(time.pendingTimers()).toBe(0);
    fake.releaseAll();
    await stopping;
    scheduler.requestRegeneration("ca-c");
    scheduler.start();
    time.advance(60_000);
    await scheduler.whenIdle();
    expect(fake.calls.map((c) => c.caId)).toEqual(["ca-a"]);
    expect(time.pendingTimers()).toBe(0);
  });
});
