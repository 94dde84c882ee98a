import { describe, expect, it } from "vitest";
import { createTtlCache } from "./ttl-cache.ts";

function manualClock(start = 0) {
  let now = start;
  return { now: () => new Date(now), advance: (ms: number) => (now += ms) };
}

describe("createTtlCache", () => {
  it("loads once within the TTL and again after it", async () => {
    const clock = manualClock();
    const loads: string[] = [];
    const load = async (key: string) => {
      loads.push(key);
      return `${key}#${loads.length}`;
    };
    const cache = createTtlCache(load, { ttlMs: 5000, clock });
    expect(await cache.get("a")).toBe("a#1");
    clock.advance(4999);
    expect(await cache.get("a")).toBe("a#1");
    clock.advance(1);
    expect(await cache.get("a")).toBe("a#2");
    expect(loads).toEqual(["a", "a"]);
  });

  it("shares one load between concurrent misses", async () => {
    let loads = 0;
    let release!: (v: number) => void;
    const cache = createTtlCache(
      () => {
        loads++;
        return new Promise<number>((resolve) => (release = resolve));
      },
      { ttlMs: 5000, clock: manualClock() },
    );
    const both = Promise.all([cache.get("k"), cache.get("k")]);
    release(7);
    expect(await both).toEqual([7, 7]);
    expect(loads).toBe(1);
  });

  it("does not keep a failed load", async () => {
    let calls = 0;
    const cache = createTtlCache(
      async () => {
        calls++;
        if (calls === 1) throw new Error("database down");
        return "ok";
      },
      { ttlMs: 5000, clock: manualClock() },
    );
    await expect(cache.get("k")).rejects.toThrow("database down");
    expect(await cache.get("k")).toBe("ok");
  });

  it("forget() makes the next get read again", async () => {
    let calls = 0;
    const cache = createTtlCache(async () => ++calls, { ttlMs: 5000, clock: manualClock() });
    expect(await cache.get("k")).toBe(1);
    cache.forget("k");
    expect(await cache.get("k")).toBe(2);
    cache.forget();
    expect(await cache.get("k")).toBe(3);
  });

  it("holds at most maxEntries keys, dropping the oldest", async () => {
    const loads: string[] = [];
    const cache = createTtlCache(async (key) => loads.push(key), { ttlMs: 5000, clock: manualClock(), maxEntries: 2 });
    await cache.get("a");
    await cache.get("b");
    await cache.get("c");
    await cache.get("b");
    await cache.get("a");
    expect(loads).toEqual(["a", "b", "c", "a"]);
  });
});
