import type { Clock } from "./clock.ts";

/** Configuration a front end reads on every request (an endpoint, a profile, a CA chain), kept briefly. */
export interface TtlCache<V> {
  /** The cached value while it is younger than the TTL, else loaded again; one load per key at a time. */
  get(key: string): Promise<V>;
  /** Drops one key (or all), so the next get() reads it again. */
  forget(key?: string): void;
}

/**
 * A per-process cache with a time-to-live. Admin changes are written to
 * Postgres by whichever replica took them; the others see them once their
 * entry is older than `ttlMs`, which is what bounds how stale a replica may
 * be: configuration has no cross-replica invalidation, a few seconds of
 * staleness is the price of not reading it per request. Concurrent misses
 * share one load; a failed load is not
 * kept. At most `maxEntries` keys are held (oldest dropped first), so keys
 * taken from requests cannot grow it without bound.
 */
export function createTtlCache<V>(
  load: (key: string) => Promise<V>,
  options: { ttlMs: number; clock: Clock; maxEntries?: number | undefined },
): TtlCache<V> {
  const maxEntries = options.maxEntries ?? 1_000;
  const entries = new Map<string, { value: Promise<V>; at: number }>();
  return {
    get(key) {
      const now = options.clock.now().getTime();
      const cached = entries.get(key);
      if (cached && now - cached.at < options.ttlMs) return cached.value;
      const value = load(key);
      const entry = { value, at: now };
      entries.delete(key);
      if (entries.size >= maxEntries) entries.delete(entries.keys().next().value!);
      entries.set(key, entry);
      value.catch(() => {
        if (entries.get(key) === entry) entries.delete(key);
      });
      return value;
    },
    forget(key) {
      if (key === undefined) entries.clear();
      else entries.delete(key);
    },
  };
}
