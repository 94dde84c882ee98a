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
 * Longest request key that gets an alias (see alias()): an RFC 9919 request
 * is about 80 to 130 octets, at most about 200 characters as a URL-encoded
 * base64 path. Longer keys (signed requests, odd encodings) are served the
 * slow way, which bounds what the aliases hold.
 */
export const maxRequestKeyLength = 256;

/**
 * Most aliases per entry: the forms one certificate is asked in (GET with
 * and without URL encoding, POST, ...). A further one replaces the oldest,
 * so a client cycling through encodings cannot grow the cache.
 */
const maxAliasesPerEntry = 4;

/**
 * Most aliases in all, per entry the cache can hold: with the length bound,
 * aliases take at most about as much memory as the entries themselves
 * (about 500 octets each), however the requests are spelled.
 */
const aliasesPerCapacity = 2;

/** A hit through an alias moves the entry to the back of the LRU order at most this often. */
const aliasPromotionMs = 1000;

/**
 * A bounded LRU of pre-signed responses keyed by the request's CertID DER.
 * A Map keeps insertion order, so re-inserting on a hit makes the first key
 * the least recently used one. A per-CA, per-serial key index makes a
 * revocation's invalidation touch only that certificate's entries (one per
 * CertID form a client used: SHA-1, SHA-256, NULL or absent parameters).
 *
 * Aliases map a request's own bytes (a "request key": whatever the front end
 * derives from the raw request, one key always standing for the same DER) to
 * the entry its CertID found, so a repeated request is answered without
 * parsing it again. An alias belongs to its CertID key, not to one signed
 * response: replacing the entry (re-signed, revoked) keeps it, and it goes
 * when the key goes (eviction, invalidation), so it never outlives what it
 * points at and never answers with a dropped response.
 */
export interface OcspResponseCache {
  get(key: string): CachedOcspResponse | undefined;
  set(key: string, entry: CachedOcspResponse): void;
  delete(key: string): void;
  /** Makes `requestKey` find the entry of `key` (if it is cached and the request key is short enough). */
  alias(requestKey: string, key: string): void;
  /** The entry a request key was aliased to, if still cached. */
  getByAlias(requestKey: string, nowMs: number): CachedOcspResponse | undefined;
  /** Drops every entry of the CA; returns how many. */
  clearCa(caId: string): number;
  /** Drops the entries of one certificate of the CA; returns how many. */
  clearSerial(caId: string, serialHex: string): number;
  /** Entries of the CA and the oldest thisUpdate among them (null when none), for the admin API. */
  caState(caId: string): { entries: number; oldestThisUpdate: Date | null };
  clear(): void;
  readonly size: number;
  readonly capacity: number;
  /** Request keys aliased now (at most maxAliasesPerEntry per entry). */
  readonly aliasCount: number;
}

interface Slot {
  readonly key: string;
  entry: CachedOcspResponse;
  aliases: string[] | null;
  promotedAtMs: number;
}

export function createOcspResponseCache(capacity: number): OcspResponseCache {
  if (!Number.isInteger(capacity) || capacity < 1)
    throw new RangeError("the OCSP response cache needs room for at least one entry");
  const slots = new Map<string, Slot>();
  const aliases = new Map<string, Slot>();
  /** caId -> serialHex -> cache keys. */
  const byCa = new Map<string, Map<string, Set<string>>>();

  const unindex = (slot: Slot) => {
    const { caId, serialHex } = slot.entry;
    const serials = byCa.get(caId);
    const keys = serials?.get(serialHex);
    if (!serials || !keys) return;
    keys.delete(slot.key);
    if (keys.size > 0) return;
    serials.delete(serialHex);
    if (serials.size === 0) byCa.delete(caId);
  };

  const index = (slot: Slot) => {
    const { caId, serialHex } = slot.entry;
    let serials = byCa.get(caId);
    if (!serials) {
      serials = new Map();
      byCa.set(caId, serials);
    }
    let keys = serials.get(serialHex);
    if (!keys) {
      keys = new Set();
      serials.set(serialHex, keys);
    }
    keys.add(slot.key);
  };

  const forget = (slot: Slot) => {
    slots.delete(slot.key);
    for (const requestKey of slot.aliases ?? []) aliases.delete(requestKey);
    slot.aliases = null;
    unindex(slot);
  };

  /** Moves the slot to the back of the LRU order; `nowMs` (the caller's clock) only for alias hits. */
  const promote = (slot: Slot, nowMs = Number.NEGATIVE_INFINITY) => {
    slots.delete(slot.key);
    slots.set(slot.key, slot);
    slot.promotedAtMs = nowMs;
  };

  return {
    get(key) {
      const slot = slots.get(key);
      if (slot === undefined) return undefined;
      promote(slot);
      return slot.entry;
    },
    set(key, entry) {
      const previous = slots.get(key);
      if (previous) {
        // Same CertID: the aliases stay (they name the key), the response is replaced.
        unindex(previous);
        previous.entry = entry;
        index(previous);
        promote(previous);
        return;
      }
      const slot: Slot = { key, entry, aliases: null, promotedAtMs: Number.NEGATIVE_INFINITY };
      slots.set(key, slot);
      index(slot);
      while (slots.size > capacity) forget(slots.values().next().value as Slot);
    },
    delete(key) {
      const slot = slots.get(key);
      if (slot) forget(slot);
    },
    alias(requestKey, key) {
      if (requestKey.length > maxRequestKeyLength) return;
      const slot = slots.get(key);
      if (!slot) return;
      const current = aliases.get(requestKey);
      if (current === slot) return;
      const full = (slot.aliases?.length ?? 0) >= maxAliasesPerEntry;
      // A new alias that would add to the total waits for room (entries going take theirs along).
      if (current === undefined && !full && aliases.size >= capacity * aliasesPerCapacity) return;
      // A request key stands for one DER, so for one CertID key, and a dropped slot takes its aliases
      // along: another live slot here would be a caller whose keys are not one-to-one. Moved, not shared.
      if (current) current.aliases = current.aliases?.filter((k) => k !== requestKey) ?? null;
      slot.aliases ??= [];
      if (full) aliases.delete(slot.aliases.shift()!);
      slot.aliases.push(requestKey);
      aliases.set(requestKey, slot);
    },
    getByAlias(requestKey, nowMs) {
      const slot = aliases.get(requestKey);
      if (slot === undefined) return undefined;
      // Hot entries are reordered once a second rather than on every hit: the LRU order is as good
      // for eviction, and a hit costs one Map lookup.
      if (nowMs - slot.promotedAtMs >= aliasPromotionMs) promote(slot, nowMs);
      return slot.entry;
    },
    clearCa(caId) {
      const serials = byCa.get(caId);
      if (!serials) return 0;
      let dropped = 0;
      for (const keys of [...serials.values()])
        for (const key of [...keys]) {
          forget(slots.get(key)!);
          dropped++;
        }
      return dropped;
    },
    clearSerial(caId, serialHex) {
      const keys = byCa.get(caId)?.get(serialHex);
      if (!keys) return 0;
      const dropped = keys.size;
      for (const key of [...keys]) forget(slots.get(key)!);
      return dropped;
    },
    caState(caId) {
      const serials = byCa.get(caId);
      let count = 0;
      let oldest: number | null = null;
      for (const keys of serials?.values() ?? []) {
        for (const key of keys) {
          count++;
          const at = slots.get(key)!.entry.thisUpdate.getTime();
          if (oldest === null || at < oldest) oldest = at;
        }
      }
      return { entries: count, oldestThisUpdate: oldest === null ? null : new Date(oldest) };
    },
    clear() {
      slots.clear();
      aliases.clear();
      byCa.clear();
    },
    get size() {
      return slots.size;
    },
    capacity,
    get aliasCount() {
      return aliases.size;
    },
  };
}
