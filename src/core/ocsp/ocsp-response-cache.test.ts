import { describe, expect, it } from "vitest";
import { type CachedOcspResponse, createOcspResponseCache, maxRequestKeyLength } from "./ocsp-response-cache.ts";

function entry(caId: string, serialHex = "01", der = 1): CachedOcspResponse {
  return {
    caId,
    serialHex,
    der: Uint8Array.of(der),
    thisUpdate: new Date(0),
    nextUpdate: new Date(1000),
    sha256: "",
    refreshAtMs: 500,
    statusKey: "good",
    checkedAtMs: 0,
  };
}

describe("OCSP response cache aliases (raw request keys)", () => {
  it("finds the entry of the CertID key, including one that replaced it (re-signed, revoked)", () => {
    const cache = createOcspResponseCache(4);
    cache.alias("/ocsp/get-form", "certid"); // nothing cached yet: ignored
    expect(cache.getByAlias("/ocsp/get-form", 0)).toBeUndefined();
    cache.set("certid", entry("ca1", "01", 1));
    cache.alias("/ocsp/get-form", "certid");
    cache.alias("0post-form", "certid");
    expect(cache.getByAlias("/ocsp/get-form", 0)!.der).toEqual(Uint8Array.of(1));
    cache.set("certid", entry("ca1", "01", 2));
    expect(cache.getByAlias("0post-form", 0)!.der).toEqual(Uint8Array.of(2));
    expect(cache.aliasCount).toBe(2);
  });

  it("drops aliases with their entry: per serial, per CA, evicted, deleted, cleared", () => {
    const cache = createOcspResponseCache(2);
    cache.set("a", entry("ca1", "01"));
    cache.alias("ka", "a");
    cache.set("b", entry("ca1", "02"));
    cache.alias("kb", "b");
    expect(cache.clearSerial("ca1", "01")).toBe(1);
    expect(cache.getByAlias("ka", 0)).toBeUndefined();
    expect(cache.getByAlias("kb", 0)).toBeDefined();
    expect(cache.clearCa("ca1")).toBe(1);
    expect(cache.getByAlias("kb", 0)).toBeUndefined();
    expect(cache.aliasCount).toBe(0);

    // Eviction: the least recently used entry goes, with its aliases.
    cache.set("c", entry("ca2", "03"));
    cache.alias("kc", "c");
    cache.set("d", entry("ca2", "04"));
    cache.alias("kd", "d");
    cache.set("e", entry("ca2", "05"));
    expect(cache.getByAlias("kc", 0)).toBeUndefined();
    expect(cache.getByAlias("kd", 0)).toBeDefined();
    cache.delete("d");
    expect(cache.getByAlias("kd", 0)).toBeUndefined();
    cache.alias("ke", "e");
    cache.clear();
    expect(cache.getByAlias("ke", 0)).toBeUndefined();
    expect(cache.aliasCount).toBe(0);
  });

  it("bounds the aliases: at most four per entry, twice the capacity in all, none for long keys", () => {
    const cache = createOcspResponseCache(2);
    cache.set("a", entry("ca1"));
    for (let i = 0; i < 6; i++) cache.alias(`k${i}`, "a");
    expect(cache.aliasCount).toBe(4);
    // The oldest two went.
    expect(cache.getByAlias("k0", 0)).toBeUndefined();
    expect(cache.getByAlias("k1", 0)).toBeUndefined();
    expect(cache.getByAlias("k5", 0)).toBeDefined();
    cache.alias("x".repeat(maxRequestKeyLength + 1), "a");
    expect(cache.getByAlias("x".repeat(maxRequestKeyLength + 1), 0)).toBeUndefined();

    const wide = createOcspResponseCache(2);
    wide.set("a", entry("ca1", "01"));
    wide.set("b", entry("ca1", "02"));
    for (let i = 0; i < 4; i++) wide.alias(`a${i}`, "a");
    for (let i = 0; i < 4; i++) wide.alias(`b${i}`, "b");
    expect(wide.aliasCount).toBe(4);
    expect(wide.getByAlias("b0", 0)).toBeUndefined();
    // Room again once an entry (and its aliases) went.
    wide.delete("a");
    wide.alias("b0", "b");
    expect(wide.getByAlias("b0", 0)).toBeDefined();
  });

  it("keeps hot entries in the LRU order when they are only hit through aliases", () => {
    const cache = createOcspResponseCache(2);
    cache.set("hot", entry("ca1", "01"));
    cache.alias("k-hot", "hot");
    cache.set("cold", entry("ca1", "02"));
    // A hit through the alias moves "hot" behind "cold" (at most once a second per entry).
    expect(cache.getByAlias("k-hot", 10_000)).toBeDefined();
    cache.set("new", entry("ca1", "03"));
    expect(cache.get("cold")).toBeUndefined();
    expect(cache.getByAlias("k-hot", 10_001)).toBeDefined();
  });
});
