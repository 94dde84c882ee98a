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
import { testLogger } from "../../../test/support/test-core.ts";
import type { TestDatabase } from "../../../test/support/test-database.ts";
import { revokeCertificateRow } from "../../store/certificate-store.ts";
import { findCertificatesDueForPresign } from "../../store/ocsp-response-store.ts";
import { subscribeToRevocations } from "../../store/ocsp-revocation-channel.ts";
import type { Actor } from "../actor.ts";
import type { CertificateAuthority } from "../ca/certificate-authority.ts";
import type { Clock } from "../clock.ts";
import { createOcspPresigner } from "./ocsp-presigner.ts";
import { createOcspService, type OcspAnswer } from "./ocsp-service.ts";
import type { OcspResponderService } from "./responder-service.ts";
import { opensslOcspRequest, opensslReadResponse } from "./testing/openssl-ocsp.ts";

const admin: Actor = { actor: "user:presign-test" };
const hourMs = 3_600_000;

function successful(answer: OcspAnswer) {
  if (answer.status !== "successful") throw new Error(`expected a successful answer, got ${answer.status}`);
  return answer;
}

const rowShape = z.object({
  hash_algorithm: z.string(),
  status: z.string(),
  der: z.instanceof(Buffer),
  this_update: z.number(),
});

describe("OCSP pre-signed responses in Postgres", () => {
  let db: TestDatabase;
  let core: TestCore;
  let issuing: CertificateAuthority;
  let trusted: Buffer[];
  const clock = movableClock();

  const issue = (name: string) => issueTlsServerCertificate(core, issuing.id, name, admin.actor);

  const hasDueRow = (serialHex: string) =>
    db.pool.exists(sql.unsafe`SELECT 1 FROM ocsp_presign_due WHERE serial_hex = ${serialHex}`);

  const rowsOf = (serialHex: string) =>
    db.pool.any(sql.type(rowShape)`
      SELECT hash_algorithm, status, der, this_update FROM ocsp_responses
      WHERE serial_hex = ${serialHex} ORDER BY hash_algorithm`);

  /** A responder service whose builders count signatures. */
  function countingResponders(): { responders: OcspResponderService; signatures: () => number } {
    let n = 0;
    const wrap = (r: Awaited<ReturnType<OcspResponderService["current"]>>) => ({
      ...r,
      builder: {
        ...r.builder,
        build: (input: Parameters<typeof r.builder.build>[0]) => {
          n++;
          return r.builder.build(input);
        },
      },
    });
    return {
      responders: {
        ...core.ocspResponders,
        current: async (caId) => wrap(await core.ocspResponders.current(caId)),
        rotateIfDue: async (caId, ahead) => wrap(await core.ocspResponders.rotateIfDue(caId, ahead)),
      },
      signatures: () => n,
    };
  }

  function replica(local: Clock = clock) {
    const counted = countingResponders();
    const ocsp = createOcspService({
      pool: db.pool,
      cas: core.cas,
      responders: counted.responders,
      clock: local,
      logger: testLogger,
    });
    return { ocsp, signatures: counted.signatures };
  }

  function presigner(ocsp: ReturnType<typeof replica>["ocsp"], local: Clock = clock, batchSize = 2000) {
    return createOcspPresigner({ pool: db.pool, ocsp, cas: core.cas, clock: local, logger: testLogger, batchSize });
  }

  beforeAll(async () => {
    ({ db, core, issuing } = await startBootstrappedCore({ maxConnections: 8, clock }));
    trusted = [issuing.certificateDer!, ...issuing.chainDer];
  });
  afterAll(() => stopTestCore(db, core));

  it("a second replica (or a restart) serves the stored bytes without signing", async () => {
    const leaf = await issue("restart.presign.example");
    const requestDer = opensslOcspRequest({ issuerDer: issuing.certificateDer!, certsDer: [leaf.der], nonce: false });
    const first = replica();
    const signed = successful(await first.ocsp.respond(requestDer));
    expect(first.signatures()).toBe(1);
    expect((await rowsOf(leaf.serialHex)).map((r) => r.status)).toEqual(["good"]);

    const second = replica();
    const served = successful(await second.ocsp.respond(requestDer));
    expect(second.signatures()).toBe(0);
    expect(Buffer.from(served.der).equals(Buffer.from(signed.der))).toBe(true);
    expect(served.sha256).toBe(signed.sha256);
    const text = opensslReadResponse({
      responseDer: served.der,
      trustedDer: trusted,
      issuerDer: issuing.certificateDer!,
      certsDer: [leaf.der],
    });
    expect(text.stderr.trim()).toBe("Response verify OK");
    expect(text.stdout).toMatch(/cert0\.pem: good/);
  });

  it("fills rows for existing certificates, skips expired ones, re-signs in the second half of the window", async () => {
    const local = movableClock();
    const a = await issue("fill-a.presign.example");
    const b = await issue("fill-b.presign.example");
    const { ocsp, signatures } = replica(local);
    const pass = presigner(ocsp, local, 1);
    expect(await pass.runOnce()).toBeGreaterThanOrEqual(2);
    for (const leaf of [a, b]) {
      expect((await rowsOf(leaf.serialHex)).map((r) => `${r.hash_algorithm}:${r.status}`)).toEqual([
        "sha1:good",
        "sha256:good",
      ]);
    }
    // Both canonical forms verify, and a request asks for exactly them: served without signing.
    const before = signatures();
    for (const sha256 of [false, true]) {
      const requestDer = opensslOcspRequest({
        issuerDer: issuing.certificateDer!,
        certsDer: [a.der],
        nonce: false,
        sha256,
      });
      const text = opensslReadResponse({
        responseDer: successful(await ocsp.respond(requestDer)).der,
        trustedDer: trusted,
        requestDer,
      });
      expect(text.stderr.trim()).toBe("Response verify OK");
    }
    expect(signatures()).toBe(before);

    // Nothing due: a second pass signs nothing.
    expect(await pass.runOnce()).toBe(0);
    const [kept] = await rowsOf(a.serialHex);
    // Past half of the 24 h window: re-signed.
    local.advance(13 * hourMs);
    expect(await pass.runOnce()).toBeGreaterThanOrEqual(2);
    const [renewed] = await rowsOf(a.serialHex);
    expect(renewed!.this_update).toBeGreaterThan(kept!.this_update);
    expect(renewed!.der.equals(kept!.der)).toBe(false);

    // Past every certificate's notAfter: nothing is signed, rows past nextUpdate are pruned, and
    // the expired certificates' due rows are gone.
    local.advance(400 * 24 * hourMs);
    expect(await pass.runOnce()).toBe(0);
    expect(await rowsOf(a.serialHex)).toEqual([]);
    expect(await hasDueRow(a.serialHex)).toBe(false);
  });

  it("a new certificate is due; once signed not until its refresh time; revoked, due at once", async () => {
    const local = movableClock();
    const leaf = await issue("due.presign.example");
    const due = async () =>
      (await findCertificatesDueForPresign(db.pool, issuing.id, local.now(), 10_000)).map((r) => r.serial_hex);
    expect(await due()).toContain(leaf.serialHex);
    const { ocsp } = replica(local);
    await presigner(ocsp, local).runOnce();
    expect(await due()).not.toContain(leaf.serialHex);
    // thisUpdate is backdated 60 s, so the refresh (half of 24 h) comes a minute before 12 h from now.
    local.advance(12 * hourMs - 2 * 60_000);
    expect(await due()).not.toContain(leaf.serialHex);
    local.advance(2 * 60_000);
    expect(await due()).toContain(leaf.serialHex);
    await presigner(ocsp, local).runOnce();
    expect(await due()).not.toContain(leaf.serialHex);

    // Revoked by a replica that dies before its own re-sign (only the revoking transaction ran):
    // due at once, and any replica's next pass writes the revoked rows.
    await db.pool.transaction((tx) =>
      revokeCertificateRow(tx, leaf.serialHex, {
        reason: 1,
        revokedAt: new Date(Math.floor(Date.now() / 1000) * 1000),
      }),
    );
    expect(await due()).toContain(leaf.serialHex);
    const other = replica(local);
    expect(await presigner(other.ocsp, local).runOnce()).toBeGreaterThanOrEqual(1);
    expect((await rowsOf(leaf.serialHex)).map((r) => r.status)).toEqual(["revoked", "revoked"]);
    expect(await due()).not.toContain(leaf.serialHex);
  });

  it("a batch signed from a status read before a revocation leaves the certificate due", async () => {
    const leaf = await issue("stale.presign.example");
    const [stale] = (await findCertificatesDueForPresign(db.pool, issuing.id, clock.now(), 10_000)).filter(
      (r) => r.serial_hex === leaf.serialHex,
    );
    expect(stale).toMatchObject({ status: "valid", revision: 0 });
    await db.pool.transaction((tx) =>
      revokeCertificateRow(tx, leaf.serialHex, {
        reason: 4,
        revokedAt: new Date(Math.floor(Date.now() / 1000) * 1000),
      }),
    );
    const { ocsp } = replica();
    const presign = await ocsp.presignerFor(issuing.id);
    await presign(db.pool, [stale!]);
    // The good rows were stored (nothing said revoked yet), but the certificate is still due...
    expect((await rowsOf(leaf.serialHex)).map((r) => r.status)).toEqual(["good", "good"]);
    const dueNow = await findCertificatesDueForPresign(db.pool, issuing.id, clock.now(), 10_000);
    expect(dueNow.find((r) => r.serial_hex === leaf.serialHex)).toMatchObject({ status: "revoked", revision: 1 });
    // ...so the next pass replaces them with revoked ones.
    await presigner(ocsp).runOnce();
    expect((await rowsOf(leaf.serialHex)).map((r) => r.status)).toEqual(["revoked", "revoked"]);
  });

  it("a revocation rewrites the rows as revoked before the NOTIFY", async () => {
    const leaf = await issue("revoke.presign.example");
    await presigner(core.ocsp).runOnce();
    expect((await rowsOf(leaf.serialHex)).map((r) => r.status)).toEqual(["good", "good"]);
    const seen: string[][] = [];
    let ready = false;
    const subscription = subscribeToRevocations({
      connectionUri: db.url,
      onRevoked: ({ serialHex }) => {
        if (serialHex === leaf.serialHex) void rowsOf(serialHex).then((rows) => seen.push(rows.map((r) => r.status)));
      },
      onResync: () => {
        ready = true;
      },
      logger: testLogger,
    });
    try {
      await expect.poll(() => ready, { timeout: 10_000 }).toBe(true);
      await core.issuance.revoke({ serialHex: leaf.serialHex, reason: "keyCompromise" }, admin);
      await expect.poll(() => seen.length, { timeout: 5_000 }).toBe(1);
      expect(seen[0]).toEqual(["revoked", "revoked"]);
      // Another replica serves it from the row, without signing.
      const other = replica();
      const requestDer = opensslOcspRequest({ issuerDer: issuing.certificateDer!, certsDer: [leaf.der], nonce: false });
      const text = opensslReadResponse({
        responseDer: successful(await other.ocsp.respond(requestDer)).der,
        trustedDer: trusted,
        requestDer,
      });
      expect(text.stdout).toContain("Reason: keyCompromise");
      expect(other.signatures()).toBe(0);
    } finally {
      await subscription.close();
    }
  });

  it("two pre-signers on one database do not sign a certificate twice", async () => {
    for (let i = 0; i < 6; i++) await issue(`race-${i}.presign.example`);
    const dueNow = async () => (await findCertificatesDueForPresign(db.pool, issuing.id, clock.now(), 10_000)).length;
    const before = await dueNow();
    expect(before).toBeGreaterThanOrEqual(6);
    const one = replica();
    const two = replica();
    // Small batches, so both passes take turns on the lock rather than one finishing first.
    await Promise.all([presigner(one.ocsp, clock, 2).runOnce(), presigner(two.ocsp, clock, 2).runOnce()]);
    // Every certificate due was signed once, in both forms, by one of them.
    expect(await dueNow()).toBe(0);
    expect(one.signatures() + two.signatures()).toBe(2 * before);
  });
});
