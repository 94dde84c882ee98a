import { randomBytes } from "node:crypto";
import { sql } from "slonik";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { createTestDatabase, type TestDatabase } from "../../../test/support/test-database.ts";
import type { Clock } from "../clock.ts";
import { createNonceService, nonceLength } from "./nonce-service.ts";

const minute = 60_000;
const lifetimeMs = 30 * minute;

/** A clock the test moves by hand. */
function manualClock(start = Date.parse("2026-03-01T12:00:00Z")): Clock & { advance(ms: number): void } {
  let now = start;
  return {
    now: () => new Date(now),
    advance(ms) {
      now += ms;
    },
  };
}

describe("ACME nonce service", () => {
  let db: TestDatabase;
  const key = randomBytes(32);

  beforeAll(async () => {
    db = await createTestDatabase({ maxConnections: 4 });
  });
  afterAll(async () => {
    await db?.drop();
  });

  const service = (clock: Clock = manualClock(), k: Uint8Array = key) =>
    createNonceService({ pool: db.pool, clock, key: k, lifetimeMs });

  const rowCount = () =>
    db.pool.oneFirst(sql.type(z.object({ n: z.number() }))`
    SELECT count(*)::int AS n FROM acme_redeemed_nonces`);

  it("mints base64url nonces (RFC 8555 §6.5.1) without a database write, each redeemable once", async () => {
    const nonces = service();
    const before = await rowCount();
    const a = nonces.mint();
    const b = nonces.mint();
    expect(a).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(a).toHaveLength(nonceLength);
    expect(a).not.toBe(b);
    expect(await rowCount()).toBe(before);

    expect(await nonces.redeem(a)).toBe(true);
    expect(await nonces.redeem(a)).toBe(false);
    expect(await nonces.redeem(b)).toBe(true);
    expect(await rowCount()).toBe(before + 2);
  });

  it("refuses malformed, tampered, non-canonical and foreign-key nonces", async () => {
    const nonces = service();
    const good = nonces.mint();
    expect(await nonces.redeem("")).toBe(false);
    expect(await nonces.redeem("not a nonce")).toBe(false);
    expect(await nonces.redeem(`${good}A`)).toBe(false);
    expect(await nonces.redeem(good.slice(1))).toBe(false);
    expect(await nonces.redeem(`${good.slice(0, -2)}==`)).toBe(false);
    // Flip one bit of the random part, of the time and of the MAC.
    for (const index of [3, 25, 50]) {
      const bytes = Buffer.from(good, "base64url");
      bytes[Math.floor((index * 3) / 4)]! ^= 0x01;
      expect(await nonces.redeem(bytes.toString("base64url"))).toBe(false);
    }
    expect(await service(manualClock(), randomBytes(32)).redeem(good)).toBe(false);
    // Still unused: the refused look-alikes did not burn it.
    expect(await nonces.redeem(good)).toBe(true);
  });

  it("refuses a nonce once its lifetime has passed, and one issued implausibly far in the future", async () => {
    const clock = manualClock();
    const nonces = service(clock);
    const fresh = nonces.mint();
    const stale = nonces.mint();
    clock.advance(lifetimeMs - 1);
    expect(await nonces.redeem(fresh)).toBe(true);
    clock.advance(1);
    expect(await nonces.redeem(stale)).toBe(false);

    const ahead = manualClock(clock.now().getTime() + 60 * minute);
    expect(await service(clock).redeem(service(ahead).mint())).toBe(false);
    // A replica whose clock is a minute ahead is tolerated.
    const slightlyAhead = manualClock(clock.now().getTime() + minute);
    expect(await service(clock).redeem(service(slightlyAhead).mint())).toBe(true);
  });

  it("two replicas on one database: a nonce minted by one is good on the other, and redeemed on one is refused on both", async () => {
    const clock = manualClock();
    const replicaA = service(clock);
    const replicaB = service(clock);
    const nonce = replicaA.mint();
    expect(await replicaB.redeem(nonce)).toBe(true);
    expect(await replicaA.redeem(nonce)).toBe(false);
    expect(await replicaB.redeem(nonce)).toBe(false);

    // Concurrent redemptions of one nonce: exactly one wins.
    const raced = replicaB.mint();
    const results = await Promise.all([replicaA.redeem(raced), replicaB.redeem(raced), replicaA.redeem(raced)]);
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  it("purges redemption records once their nonces expired (after the clock-skew margin), and only those", async () => {
    await db.pool.query(sql.unsafe`DELETE FROM acme_redeemed_nonces`);
    const clock = manualClock(Date.parse("2026-04-01T00:00:00Z"));
    const nonces = service(clock);
    const early = nonces.mint();
    expect(await nonces.redeem(early)).toBe(true);
    clock.advance(10 * minute);
    const late = nonces.mint();
    expect(await nonces.redeem(late)).toBe(true);

    // `early` expired, but within the skew margin: its record stays.
    clock.advance(lifetimeMs - 10 * minute + minute);
    expect(await nonces.purgeExpired()).toBe(0);
    clock.advance(5 * minute);
    expect(await nonces.purgeExpired()).toBe(1);
    expect(await rowCount()).toBe(1);
    // Purged or not, an expired nonce stays refused.
    expect(await nonces.redeem(early)).toBe(false);
    clock.advance(10 * minute);
    expect(await nonces.purgeExpired()).toBe(1);
    expect(await rowCount()).toBe(0);
  });

  it("says unavailable, not 'bad nonce', when the database cannot be reached", async () => {
    const broken = createNonceService({
      pool: {
        maybeOneFirst: () => Promise.reject(new Error("connection refused")),
      } as never,
      clock: manualClock(),
      key,
      lifetimeMs,
    });
    await expect(broken.redeem(broken.mint())).rejects.toMatchObject({ name: "ChanceryError", code: "unavailable" });
  });

  it("refuses a key that is not 32 bytes", () => {
    expect(() => service(manualClock(), randomBytes(16))).toThrow(/32 bytes/);
  });
});
