/** One pre-signed response, as served from the cache. */
export interface CachedOcspResponse {
  readonly caId: string;
  /** The certificate's serial as the store writes it (CertId.serialHex), for per-serial invalidation. */
  readonly serialHex: string;
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
 * the least recently used one. A per-CA, per-serial key index makes a
 * revocation's invalidation touch only that certificate's entries (one per
 * CertID form a client used: SHA-1, SHA-256, NULL or absent parameters).
 */
export interface OcspResponseCache {
  get(key: string): CachedOcspResponse | undefined;
  set(key: string, entry: CachedOcspResponse): void;
  delete(key: string): void;
  /** Drops every entry of the CA; returns how many. */
  clearCa(caId: string): number;
  /** Drops the entries of one certificate of the CA; returns how many. */
  clearSerial(caId: string, serialHex: string): number;
  /** Entries of the CA and the oldest thisUpdate among them (null when none), for the admin API. */
  caState(caId: string): { entries: number; oldestThisUpdate: Date | null };
  clear(): void;
  readonly size: number;
  readonly capacity: number;
}

export function createOcspResponseCache(capacity: number): OcspResponseCache {
  if (!Number.isInteger(capacity) || capacity < 1)
    throw new RangeError("the OCSP response cache needs room for at least one entry");
  const entries = new Map<string, CachedOcspResponse>();
  /** caId -> serialHex -> cache keys. */
  const byCa = new Map<string, Map<string, Set<string>>>();

  const forget = (key: string, entry: CachedOcspResponse) => {
    entries.delete(key);
    const serials = byCa.get(entry.caId);
    const keys = serials?.get(entry.serialHex);
    if (!serials || !keys) return;
    keys.delete(key);
    if (keys.size > 0) return;
    serials.delete(entry.serialHex);
    if (serials.size === 0) byCa.delete(entry.caId);
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
      let serials = byCa.get(entry.caId);
      if (!serials) {
        serials = new Map();
        byCa.set(entry.caId, serials);
      }
      let keys = serials.get(entry.serialHex);
      if (!keys) {
        keys = new Set();
        serials.set(entry.serialHex, keys);
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
      const serials = byCa.get(caId);
      if (!serials) return 0;
      let dropped = 0;
      for (const keys of serials.values()) {
        for (const key of keys) entries.delete(key);
        dropped += keys.size;
      }
      byCa.delete(caId);
      return dropped;
    },
    clearSerial(caId, serialHex) {
      const keys = byCa.get(caId)?.get(serialHex);
      if (!keys) return 0;
      const dropped = keys.size;
      for (const key of [...keys]) forget(key, entries.get(key)!);
      return dropped;
    },
    caState(caId) {
      const serials = byCa.get(caId);
      let count = 0;
      let oldest: number | null = null;
      for (const keys of serials?.values() ?? []) {
        for (const key of keys) {
          count++;
          const at = entries.get(key)!.thisUpdate.getTime();
          if (oldest === null || at < oldest) oldest = at;
        }
      }
      return { entries: count, oldestThisUpdate: oldest === null ? null : new Date(oldest) };
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
