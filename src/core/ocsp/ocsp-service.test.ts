import { sql } from "slonik";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import {
  issueTlsServerCertificate,
  startBootstrappedCore,
  stopTestCore,
  type TestCore,
} from "../../../test/support/bootstrapped-core.ts";
import { movableClock } from "../../../test/support/movable-clock.ts";
import { createTestCore, testLogger } from "../../../test/support/test-core.ts";
import type { TestDatabase } from "../../../test/support/test-database.ts";
import { subscribeToRevocations } from "../../store/ocsp-revocation-channel.ts";
import type { Actor } from "../actor.ts";
import type { CertificateAuthority } from "../ca/certificate-authority.ts";
import { createOcspResponseCache } from "./ocsp-response-cache.ts";
import { ocspErrorResponse } from "./ocsp-response-status.ts";
import { createOcspService, type OcspAnswer } from "./ocsp-service.ts";
import { createResponderRotation } from "./responder-rotation.ts";
import { createOcspResponderService } from "./responder-service.ts";
import { opensslOcspRequest, opensslReadResponse } from "./testing/openssl-ocsp.ts";
import { createTestPki } from "./testing/test-pki.ts";

const admin: Actor = { actor: "user:ocsp-test" };
const dayMs = 86_400_000;

function successful(answer: OcspAnswer) {
  if (answer.status !== "successful") throw new Error(`expected a successful answer, got ${answer.status}`);
  return answer;
}

describe("OCSP service", () => {
  let db: TestDatabase;
  let core: TestCore;
  let issuing: CertificateAuthority;
  let trusted: Buffer[];
  const clock = movableClock();

  const issue = (name: string) => issueTlsServerCertificate(core, issuing.id, name, admin.actor);

  /** What openssl reads in a response for `leafDer`, verified against the chain. */
  function read(responseDer: Uint8Array, leafDer: Uint8Array, requestDer?: Uint8Array) {
    const result = opensslReadResponse({
      responseDer,
      trustedDer: trusted,
      ...(requestDer ? { requestDer } : { issuerDer: issuing.certificateDer!, certsDer: [leafDer] }),
    });
    expect(result.stderr.trim()).toBe("Response verify OK");
    return result.stdout;
  }

  beforeAll(async () => {
    ({ db, core, issuing } = await startBootstrappedCore({ maxConnections: 8, clock }));
    trusted = [issuing.certificateDer!, ...issuing.chainDer];
  });
  afterAll(() => stopTestCore(db, core));

  it("creates one responder per CA when replicas ask at once, audited once", async () => {
    const replicas = [1, 2, 3].map(() =>
      createOcspResponderService({
        pool: db.pool,
        cas: core.cas,
        audit: core.audit,
        keyEncryption: core.keyEncryption,
        clock,
        logger: testLogger,
      }),
    );
    const responders = await Promise.all(replicas.flatMap((r) => [r.current(issuing.id), r.current(issuing.id)]));
    expect(new Set(responders.map((r) => r.id)).size).toBe(1);
    const count = await db.pool.oneFirst(
      sql.type(z.object({ n: z.number() }))`SELECT count(*)::int AS n FROM ocsp_responders WHERE ca_id = ${issuing.id}`,
    );
    expect(count).toBe(1);
    const events = await db.pool.oneFirst(
      sql.type(z.object({ n: z.number() }))`
        SELECT count(*)::int AS n FROM audit_events WHERE action = 'ocsp.responder.create' AND target = ${`ca:${issuing.id}`}`,
    );
    expect(events).toBe(1);
  });

  it("rotates the responder when less than a third of its lifetime is left", async () => {
    const local = movableClock();
    const responders = createOcspResponderService({
      pool: db.pool,
      cas: core.cas,
      audit: core.audit,
      keyEncryption: core.keyEncryption,
      clock: local,
      logger: testLogger,
    });
    const first = await responders.current(issuing.id);
    local.advance(first.notAfter.getTime() - Date.now() - 3 * dayMs);
    expect((await responders.current(issuing.id)).id).toBe(first.id);
    local.advance(dayMs);
    const second = await responders.current(issuing.id);
    expect(second.id).not.toBe(first.id);
    expect(second.notAfter.getTime()).toBeGreaterThan(first.notAfter.getTime());
    local.advance(dayMs);
    expect((await responders.current(issuing.id)).id).toBe(second.id);
  });

  it("rotates responders in the background ahead of requests, on its timer, and stops", async () => {
    const local = movableClock();
    const responders = createOcspResponderService({
      pool: db.pool,
      cas: core.cas,
      audit: core.audit,
      keyEncryption: core.keyEncryption,
      clock: local,
      logger: testLogger,
    });
    const timers: Array<{ callback: () => void; ms: number } | null> = [];
    const rotation = createResponderRotation({
      responders,
      cas: core.cas,
      clock: local,
      logger: testLogger,
      intervalMs: 600_000,
      timers: {
        setTimeout: (callback, ms) => timers.push({ callback, ms }) - 1,
        clearTimeout: (handle) => {
          timers[handle as number] = null;
        },
      },
    });
    await rotation.runOnce();
    const first = await responders.current(issuing.id);
    // Inside the lead (two intervals) before a request would find it due: the pass rotates...
    local.advance(first.notAfter.getTime() - local.now().getTime() - responders.renewBeforeMs - 15 * 60_000);
    rotation.start();
    expect(timers).toHaveLength(1);
    expect(timers[0]!.ms).toBe(600_000);
    timers[0]!.callback();
    await expect.poll(() => timers.length).toBe(2);
    // ...so the request that follows finds the new responder ready.
    const next = await responders.current(issuing.id);
    expect(next.id).not.toBe(first.id);
    await rotation.stop();
    expect(timers[1]).toBeNull();
  });

  it("answers good from a pre-signed cache, then revoked with the reason right after a revocation", async () => {
    const leaf = await issue("rev.ocsp.example");
    const requestDer = opensslOcspRequest({ issuerDer: issuing.certificateDer!, certsDer: [leaf.der], nonce: false });
    const first = successful(await core.ocsp.respond(requestDer));
    expect(first.cacheable).toBe(true);
    expect(first.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(first.nextUpdate.getTime() - first.thisUpdate.getTime()).toBe(dayMs);
    expect(read(first.der, leaf.der)).toMatch(/cert0\.pem: good/);
    // The same bytes again: not re-signed.
    const again = successful(await core.ocsp.respond(requestDer));
    expect(Buffer.from(again.der).equals(Buffer.from(first.der))).toBe(true);

    await core.issuance.revoke({ serialHex: leaf.serialHex, reason: "keyCompromise" }, admin);
    const revoked = successful(await core.ocsp.respond(requestDer));
    const text = read(revoked.der, leaf.der);
    expect(text).toMatch(/cert0\.pem: revoked/);
    expect(text).toContain("Reason: keyCompromise");
  });

  it("answers unknown for a serial that is not ours and unauthorized for a CA we do not serve", async () => {
    const unknown = successful(
      await core.ocsp.respond(
        opensslOcspRequest({ issuerDer: issuing.certificateDer!, serials: ["0x0123456789abcdef"], nonce: false }),
      ),
    );
    const result = opensslReadResponse({ responseDer: unknown.der, trustedDer: trusted });
    expect(result.stdout).toContain("Cert Status: unknown");

    const other = await createTestPki();
    const otherLeaf = await other.leaf("elsewhere.example");
    const answer = await core.ocsp.respond(
      opensslOcspRequest({ issuerDer: other.issuing.der, certsDer: [otherLeaf.der] }),
    );
    expect(answer.status).toBe("unauthorized");
    expect(Buffer.from(answer.der)).toEqual(Buffer.from(ocspErrorResponse("unauthorized")));
  });

  it("signs a fresh answer echoing the nonce, and answers several CertIDs at once", async () => {
    const a = await issue("a.nonce.example");
    const b = await issue("b.nonce.example");
    await core.issuance.revoke({ serialHex: b.serialHex, reason: "superseded" }, admin);
    const requestDer = opensslOcspRequest({ issuerDer: issuing.certificateDer!, certsDer: [a.der, b.der] });
    const answer = successful(await core.ocsp.respond(requestDer));
    expect(answer.cacheable).toBe(false);
    const text = read(answer.der, a.der, requestDer);
    expect(text).toContain("Cert Status: good");
    expect(text).toContain("Revocation Reason: superseded (0x4)");
    expect(text).toContain("OCSP Nonce:");
    const twice = successful(await core.ocsp.respond(requestDer));
    expect(Buffer.from(twice.der).equals(Buffer.from(answer.der))).toBe(false);
  });

  it("answers malformedRequest for garbage, empty and truncated requests", async () => {
    const valid = opensslOcspRequest({ issuerDer: issuing.certificateDer!, serials: ["0x01"], nonce: false });
    for (const der of [new Uint8Array(), Uint8Array.of(0x30, 0x03, 0x01), valid.subarray(0, valid.length - 3)]) {
      const answer = await core.ocsp.respond(der);
      expect(answer.status).toBe("malformedRequest");
    }
  });

  it("keeps at most cacheEntries pre-signed answers (LRU)", async () => {
    const cache = createOcspResponseCache(2);
    const entry = (caId: string, serialHex = "01") => ({
      caId,
      serialHex,
      der: new Uint8Array(1),
      thisUpdate: new Date(),
      nextUpdate: new Date(),
      sha256: "",
      refreshAtMs: 0,
      statusKey: "good",
      checkedAtMs: 0,
    });
    cache.set("a", entry("ca1"));
    cache.set("b", entry("ca1"));
    cache.get("a");
    cache.set("c", entry("ca2"));
    expect(cache.size).toBe(2);
    expect(cache.get("b")).toBeUndefined();
    expect(cache.get("a")).toBeDefined();
    expect(cache.clearCa("ca1")).toBe(1);
    expect(cache.size).toBe(1);
    // Per serial: only that certificate's entries (every CertID form) go.
    const wide = createOcspResponseCache(4);
    wide.set("sha1-form", entry("ca2", "02"));
    wide.set("sha256-form", entry("ca2", "02"));
    wide.set("other", entry("ca2", "03"));
    expect(wide.caState("ca2").entries).toBe(3);
    expect(wide.clearSerial("ca2", "02")).toBe(2);
    expect(wide.get("sha1-form")).toBeUndefined();
    expect(wide.get("other")).toBeDefined();
    expect(wide.caState("ca2").entries).toBe(1);
    expect(wide.clearSerial("ca2", "ff")).toBe(0);

    const small = createOcspService({
      pool: db.pool,
      cas: core.cas,
      responders: core.ocspResponders,
      clock,
      logger: testLogger,
      options: { cacheEntries: 2 },
    });
    for (const serial of ["0x0a", "0x0b", "0x0c", "0x0d"])
      await small.respond(opensslOcspRequest({ issuerDer: issuing.certificateDer!, serials: [serial], nonce: false }));
    expect(small.cacheState()).toEqual({ entries: 2, capacity: 2 });
  });

  it("another replica's revocation: served stale at most the max cache age without a notification, at once with one", async () => {
    const replica = createTestCore(db, { kek: core.kek, clock });
    try {
      const leaf = await issue("replica.ocsp.example");
      const requestDer = opensslOcspRequest({ issuerDer: issuing.certificateDer!, certsDer: [leaf.der], nonce: false });
      expect(read(successful(await core.ocsp.respond(requestDer)).der, leaf.der)).toMatch(/good/);
      // No listener on this replica: the cached "good" stands until the max cache age (60 s) passes.
      await replica.issuance.revoke({ serialHex: leaf.serialHex, reason: "cessationOfOperation" }, admin);
      expect(read(successful(await core.ocsp.respond(requestDer)).der, leaf.der)).toMatch(/cert0\.pem: good/);
      clock.advance(61_000);
      expect(read(successful(await core.ocsp.respond(requestDer)).der, leaf.der)).toMatch(/cert0\.pem: revoked/);

      // With LISTEN: the other replica's NOTIFY drops the cached answer within moments.
      const other = await issue("replica2.ocsp.example");
      const otherRequest = opensslOcspRequest({
        issuerDer: issuing.certificateDer!,
        certsDer: [other.der],
        nonce: false,
      });
      await core.ocsp.respond(otherRequest);
      let resynced = false;
      const subscription = subscribeToRevocations({
        connectionUri: db.url,
        onRevoked: ({ caId, serialHex }) => core.ocsp.invalidate(caId, serialHex),
        onResync: () => {
          resynced = true;
          core.ocsp.invalidateAll();
        },
        logger: testLogger,
      });
      try {
        await expect.poll(() => resynced, { timeout: 10_000 }).toBe(true);
        await core.ocsp.respond(otherRequest);
        await replica.issuance.revoke({ serialHex: other.serialHex, reason: "affiliationChanged" }, admin);
        await expect
          .poll(async () => read(successful(await core.ocsp.respond(otherRequest)).der, other.der), { timeout: 5_000 })
          .toContain("Reason: affiliationChanged");
      } finally {
        await subscription.close();
      }
    } finally {
      await replica.committer.close();
    }
  });

  it("a revocation drops only that certificate's answers; the CA's others keep their signed bytes", async () => {
    const kept = await issue("kept.serial.example");
    const gone = await issue("gone.serial.example");
    const keptRequest = opensslOcspRequest({ issuerDer: issuing.certificateDer!, certsDer: [kept.der], nonce: false });
    const goneRequest = opensslOcspRequest({ issuerDer: issuing.certificateDer!, certsDer: [gone.der], nonce: false });
    const keptFirst = successful(await core.ocsp.respond(keptRequest));
    await core.ocsp.respond(goneRequest);
    const before = core.ocsp.caCacheState(issuing.id);
    expect(before.entries).toBeGreaterThanOrEqual(2);
    expect(before.oldestThisUpdate).toBeInstanceOf(Date);

    await core.issuance.revoke({ serialHex: gone.serialHex, reason: "superseded" }, admin);
    expect(core.ocsp.caCacheState(issuing.id).entries).toBe(before.entries - 1);
    expect(read(successful(await core.ocsp.respond(goneRequest)).der, gone.der)).toContain("Reason: superseded");
    const keptAfter = successful(await core.ocsp.respond(keptRequest));
    expect(Buffer.from(keptAfter.der).equals(Buffer.from(keptFirst.der))).toBe(true);
    const after = core.ocsp.caCacheState(issuing.id);
    expect(after.hits).toBeGreaterThan(before.hits);
    expect(after.misses).toBeGreaterThan(before.misses);

    // A bare CA id (an older replica's payload) still drops the whole CA.
    core.ocsp.invalidate(issuing.id);
    expect(core.ocsp.caCacheState(issuing.id).entries).toBe(0);
  });

  it("never caches an answer read before a revocation that is invalidated while it is being signed", async () => {
    let release!: () => void;
    let reached!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const inSigning = new Promise<void>((resolve) => (reached = resolve));
    let hold = true;
    const service = createOcspService({
      pool: db.pool,
      cas: core.cas,
      // Holds the signing step (after the status read) until the revocation is through.
      responders: {
        ...core.ocspResponders,
        async current(caId) {
          if (hold) {
            hold = false;
            reached();
            await gate;
          }
          return core.ocspResponders.current(caId);
        },
      },
      clock,
      logger: testLogger,
    });
    const leaf = await issue("race.serial.example");
    const requestDer = opensslOcspRequest({ issuerDer: issuing.certificateDer!, certsDer: [leaf.der], nonce: false });
    const pending = service.respond(requestDer);
    await inSigning;
    await core.issuance.revoke({ serialHex: leaf.serialHex, reason: "keyCompromise" }, admin);
    service.invalidate(issuing.id, leaf.serialHex);
    release();
    // Read before the revocation: "good" is a correct answer for that moment...
    expect(read(successful(await pending).der, leaf.der)).toMatch(/cert0\.pem: good/);
    // ...but it must not be what the next request gets.
    expect(read(successful(await service.respond(requestDer)).der, leaf.der)).toContain("Reason: keyCompromise");
  });
});
