/** One pre-signed response, as served from the cache. */
export interface CachedOcspResponse {
  readonly caId: string;
  readonly der: Uint8Array;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
  /** Lower-case hex SHA-256 of `der`: the HTTP ETag. */
  readonly sha256: string;
  /** Re-sign from here on (half of the window, by default). */
  readonly refreshAtMs: number;
  /** What the status was when signed, to tell whether a re-check changed anything. */
  readonly statusKey: string;
  /** When the status behind it was last read from Postgres. */
  checkedAtMs: number;
}

/**
 * A bounded LRU of pre-signed responses keyed by the request's CertID DER.
 * A Map keeps insertion order, so re-inserting on a hit makes the first key
 * the least recently used one. Per-CA key sets make a revocation's
 * invalidation proportional to that CA's entries, not to the whole cache.
 */
export interface OcspResponseCache {
  get(key: string): CachedOcspResponse | undefined;
  set(key: string, entry: CachedOcspResponse): void;
  delete(key: string): void;
  /** Drops every entry of the CA; returns how many. */
  clearCa(caId: string): number;
  clear(): void;
  readonly size: number;
  readonly capacity: number;
}

export function createOcspResponseCache(capacity: number): OcspResponseCache {
  if (!Number.isInteger(capacity) || capacity < 1)
    throw new RangeError("the OCSP response cache needs room for at least one entry");
  const entries = new Map<string, CachedOcspResponse>();
  const byCa = new Map<string, Set<string>>();

  const forget = (key: string, entry: CachedOcspResponse) => {
    entries.delete(key);
    const keys = byCa.get(entry.caId);
    if (keys) {
      keys.delete(key);
      if (keys.size === 0) byCa.delete(entry.caId);
    }
  };

  return {
    get(key) {
      const entry = entries.get(key);
      if (entry === undefined) return undefined;
      entries.delete(key);
      entries.set(key, entry);
      return entry;
    },
    set(key, entry) {
      const previous = entries.get(key);
      if (previous) forget(key, previous);
      entries.set(key, entry);
      let keys = byCa.get(entry.caId);
      if (!keys) {
        keys = new Set();
        byCa.set(entry.caId, keys);
      }
      keys.add(key);
      while (entries.size > capacity) {
        const oldest = entries.keys().next().value as string;
        forget(oldest, entries.get(oldest)!);
      }
    },
    delete(key) {
      const entry = entries.get(key);
      if (entry) forget(key, entry);
    },
    clearCa(caId) {
      const keys = byCa.get(caId);
      if (!keys) return 0;
      for (const key of keys) entries.delete(key);
      byCa.delete(caId);
      return keys.size;
    },
    clear() {
      entries.clear();
      byCa.clear();
    },
    get size() {
      return entries.size;
    },
    capacity,
  };
}
