import { createHash } from "node:crypto";
import { sql } from "slonik";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  issueTlsServerCertificate,
  startBootstrappedCore,
  stopTestCore,
  type TestCore,
} from "../../../test/support/bootstrapped-core.ts";
import { testLogger } from "../../../test/support/test-core.ts";
import type { TestDatabase } from "../../../test/support/test-database.ts";
import type { Actor } from "../actor.ts";
import type { CertificateAuthority } from "../ca/certificate-authority.ts";
import { type Clock, systemClock } from "../clock.ts";
import { isChanceryError } from "../errors.ts";
import { buildCaUrls } from "../profiles/ca-urls.ts";
import type { RevocationReason } from "../revocation/revocation-reason.ts";
import { certificatePem, createScratchDir, openssl } from "../x509/testing/openssl.ts";
import { crlPem } from "./build-crl.ts";
import { createCrlScheduler } from "./crl-scheduler.ts";
import { type CrlServiceOptions, createCrlService } from "./crl-service.ts";
import { createManualTime } from "./testing/manual-time.ts";

const admin: Actor = { actor: "user:crl-test" };
const hourMs = 3_600_000;

describe("CRL service", () => {
  let db: TestDatabase;
  let core: TestCore;
  let issuing: CertificateAuthority;
  let root: CertificateAuthority;

  /** A service as a replica would build it; several over one database act as several replicas. */
  function service(options: { clock?: Clock; options?: CrlServiceOptions } = {}) {
    return createCrlService({
      pool: db.pool,
      cas: core.cas,
      audit: core.audit,
      clock: options.clock ?? systemClock,
      logger: testLogger,
      // The URL builder createTestCore's issuance uses, so IDP and CDP agree.
      urlsFor: (caId) => buildCaUrls("http://pki.test:8081", caId),
      options: options.options,
    });
  }

  const issue = (name: string) => issueTlsServerCertificate(core, issuing.id, name, admin.actor);

  async function revoke(serialHex: string, reason: RevocationReason = "keyCompromise") {
    await core.issuance.revoke({ serialHex, reason }, admin);
  }

  beforeAll(async () => {
    ({ db, core, issuing, root } = await startBootstrappedCore({ maxConnections: 6 }));
  });
  afterAll(() => stopTestCore(db, core));

  it("publishes CRLs openssl verifies, and `openssl verify -crl_check` rejects the revoked leaf only", async () => {
    const revoked = await issue("revoked.example.com");
    const good = await issue("good.example.com");
    await revoke(revoked.serialHex, "keyCompromise");
    const crls = service();
    const issuingCrl = await crls.generate(issuing.id, admin);
    const rootCrl = await crls.generate(root.id, admin);
    expect(issuingCrl.entryCount).toBe(1);
    expect(rootCrl.entryCount).toBe(0);

    const scratch = createScratchDir();
    try {
      const chain = scratch.file(
        "chain.pem",
        certificatePem(issuing.certificateDer!) + certificatePem(root.certificateDer!),
      );
      const rootPem = scratch.file("root.pem", certificatePem(root.certificateDer!));
      const crlFile = scratch.file("issuing.crl", issuingCrl.der);
      const bothCrls = scratch.file("crls.pem", crlPem(issuingCrl.der) + crlPem(rootCrl.der));
      const verify = openssl(["crl", "-inform", "DER", "-in", crlFile, "-CAfile", chain, "-verify", "-noout"]);
      expect(verify.stderr).toContain("verify OK");
      const rootVerify = openssl([
        "crl",
        "-inform",
        "DER",
        "-in",
        scratch.file("root.crl", rootCrl.der),
        "-CAfile",
        rootPem,
        "-verify",
        "-noout",
      ]);
      expect(rootVerify.stderr).toContain("verify OK");

      const text = openssl(["crl", "-inform", "DER", "-in", crlFile, "-text", "-noout"]).stdout;
      expect(text).toContain("X509v3 Issuing Distribution Point: critical");
      // The root's CRL has no IDP: see prepare() in crl-service.ts (the -crl_check_all run below needs that).
      expect(openssl(["crl", "-inform", "DER", "-text", "-noout"], rootCrl.der).stdout).not.toContain(
        "Issuing Distribution Point",
      );
      expect(text).toMatch(new RegExp(`X509v3 CRL Number:\\s*\\n\\s*${issuingCrl.number}\\n`));
      expect(text).toContain(`URI:${buildCaUrls("http://pki.test:8081", issuing.id).crl}`);
      expect(text).toMatch(new RegExp(`Serial Number: ${revoked.serialHex.toUpperCase()}[\\s\\S]*Key Compromise`));
      expect(text).not.toContain(`Serial Number: ${good.serialHex.toUpperCase()}`);
      expect(text).toMatch(/Last Update: .* GMT\n\s*Next Update: .* GMT/);
      // Default validity: 24 hours.
      expect(issuingCrl.nextUpdate.getTime() - issuingCrl.thisUpdate.getTime()).toBe(24 * hourMs);

      const leaf = (der: Uint8Array, name: string) => scratch.file(name, certificatePem(der));
      const check = (file: string, extra: string[] = []) =>
        openssl(["verify", "-crl_check", ...extra, "-CRLfile", bothCrls, "-CAfile", chain, file]);
      const rejected = check(leaf(revoked.der, "revoked.pem"));
      expect(rejected.ok).toBe(false);
      expect(rejected.stdout + rejected.stderr).toContain("certificate revoked");
      expect(check(leaf(good.der, "good.pem")).stdout).toContain(": OK");
      // The whole chain: the intermediate's CDP points at the root's CRL, whose IDP matches.
      const all = check(leaf(good.der, "good2.pem"), ["-crl_check_all"]);
      expect(all.stdout + all.stderr).toContain(": OK");
    } finally {
      scratch.cleanup();
    }

    const events = await db.pool.any(sql.unsafe`
      SELECT actor, target, details FROM audit_events WHERE action = 'crl.generate' ORDER BY seq`);
    expect(events).toContainEqual({
      actor: admin.actor,
      target: `ca:${issuing.id}`,
      details: expect.objectContaining({
        crlNumber: issuingCrl.number.toString(),
        entries: 1,
        sha256: issuingCrl.sha256,
      }),
    });
    expect((await core.audit.verify()).ok).toBe(true);
  });

  it("never hands out a CRL number twice, also with replicas generating at once", async () => {
    const replicaA = service();
    const replicaB = service();
    const before = (await replicaA.latest(issuing.id))?.number ?? 0n;
    const results = await Promise.all([
      replicaA.generate(issuing.id, admin),
      replicaB.generate(issuing.id, admin),
      replicaA.generate(issuing.id, admin),
      replicaB.generate(issuing.id, admin),
      replicaA.generate(issuing.id, admin),
    ]);
    const numbers = results.map((crl) => crl.number).sort((a, b) => (a < b ? -1 : 1));
    expect(numbers).toEqual([1n, 2n, 3n, 4n, 5n].map((n) => before + n));
    // thisUpdate follows the number: never earlier than the CRL before it.
    const byNumber = [...results].sort((a, b) => (a.number < b.number ? -1 : 1));
    for (let i = 1; i < byNumber.length; i++)
      expect(byNumber[i]!.thisUpdate.getTime()).toBeGreaterThanOrEqual(byNumber[i - 1]!.thisUpdate.getTime());
    // Both replicas serve the newest, whoever built it.
    expect((await replicaA.latest(issuing.id))?.number).toBe(before + 5n);
    expect((await replicaB.latest(issuing.id))?.number).toBe(before + 5n);
  });

  it("keeps counting past 9 (regression: the newest CRL was picked by the number's text, and 10 sorted below 9)", async () => {
    const crls = service();
    let previous = (await crls.generate(root.id, admin)).number;
    for (let i = 0; i < 11; i++) {
      const next = (await crls.generate(root.id, admin)).number;
      expect(next).toBe(previous + 1n);
      previous = next;
    }
    expect(previous).toBeGreaterThanOrEqual(12n);
    expect((await service().latest(root.id))?.number).toBe(previous);
  });

  it("serves the latest CRL on every replica, with the hash for an ETag, and prunes old ones", async () => {
    const replicaA = service({ options: { keep: 3 } });
    const replicaB = service();
    const first = await replicaA.generate(root.id, admin);
    expect(await replicaB.latest(root.id)).toMatchObject({ number: first.number, sha256: first.sha256 });
    const second = await replicaA.generate(root.id, admin);
    const served = await replicaB.latest(root.id);
    expect(served?.number).toBe(second.number);
    expect(createHash("sha256").update(served!.der).digest("hex")).toBe(served!.sha256);
    expect(served?.der.equals(second.der)).toBe(true);
    // Unchanged number: the cached bytes, same object.
    expect(await replicaB.latest(root.id)).toBe(served);

    await replicaA.generate(root.id, admin);
    const kept = await db.pool.any(
      sql.unsafe`SELECT crl_number::int AS n FROM crls WHERE ca_id = ${root.id} ORDER BY crl_number`,
    );
    expect(kept).toHaveLength(3);

    expect(await replicaB.latest("not-a-uuid")).toBeNull();
    expect(await replicaB.latest("00000000-0000-4000-8000-000000000000")).toBeNull();
    await expect(replicaA.generate("00000000-0000-4000-8000-000000000000", admin)).rejects.toSatisfy((err) =>
      isChanceryError(err, "not_found"),
    );
  });

  it("refreshes only what is missing, due or stale, and once across replicas", async () => {
    const time = createManualTime(new Date());
    const crls = service({ clock: time.clock });
    const other = await core.cas.createRoot(
      {
        name: "crl-refresh-root",
        subject: [{ type: "CN", value: "CRL Refresh Root" }],
        keyAlgorithm: "ecdsa-p256",
        validityDays: 30,
      },
      admin,
    );
    // A CA without a CRL is due at once.
    expect(await crls.dueCaIds()).toContain(other.id);
    const made = await crls.refresh(other.id, admin, { wait: false });
    expect(made.status).toBe("generated");
    expect(await crls.refresh(other.id, admin, { wait: true })).toEqual({ status: "current" });
    expect(await crls.dueCaIds()).not.toContain(other.id);

    // Another replica holding the CA's lock: a non-blocking refresh leaves it to them.
    // (Held from outside the call's async context: slonik refuses pool queries inside a transaction callback.)
    const { promise: released, resolve: release } = Promise.withResolvers<void>();
    const { promise: held, resolve: holding } = Promise.withResolvers<void>();
    const holder = db.pool.transaction(async (tx) => {
      await tx.query(sql.unsafe`SELECT pg_advisory_xact_lock(${0x63726c20}::int, hashtext(${other.id}::text))`);
      holding();
      await released;
    });
    await held;
    expect(await crls.refresh(other.id, admin, { wait: false })).toEqual({ status: "busy" });
    release();
    await holder;

    // Half of the validity later it is due again.
    time.advance(12 * hourMs - 1000);
    expect(await crls.dueCaIds()).not.toContain(other.id);
    time.advance(1000);
    expect(await crls.dueCaIds()).toContain(other.id);
    const again = await crls.refresh(other.id, admin, { wait: true });
    expect(again.status === "generated" && again.crl.number).toBe(made.status === "generated" && made.crl.number + 1n);

    // A revocation not yet on the CRL makes it stale (the issuing CA's CRL is current after a build).
    await crls.generate(issuing.id, admin);
    expect(await crls.dueCaIds()).not.toContain(issuing.id);
    const leaf = await issue("stale.example.com");
    await revoke(leaf.serialHex, "superseded");
    expect(await crls.dueCaIds()).toContain(issuing.id);
    const rebuilt = await crls.refresh(issuing.id, admin, { wait: true });
    expect(rebuilt.status).toBe("generated");
    expect(await crls.dueCaIds()).not.toContain(issuing.id);

    // A pending CA needs (and can have) no CRL.
    const { ca: pending } = await core.cas.createExternalIntermediate(
      { name: "crl-pending", subject: [{ type: "CN", value: "Pending" }], keyAlgorithm: "ecdsa-p256" },
      admin,
    );
    expect(await crls.refresh(pending.id, admin, { wait: true })).toEqual({ status: "not_applicable" });
    await expect(crls.generate(pending.id, admin)).rejects.toSatisfy((err) =>
      isChanceryError(err, "failed_precondition"),
    );
  });

  it("drops entries of long-expired certificates but keeps recently expired ones (RFC 5280 §3.3)", async () => {
    const crls = service();
    await crls.generate(issuing.id, admin);
    await db.pool.query(sql.unsafe`
      INSERT INTO certificates (id, ca_id, serial_hex, fingerprint_sha256, subject, sans, not_before, not_after, der,
        requester, source_protocol, status, revoked_at, revocation_reason, issued_at)
      VALUES
        (gen_random_uuid(), ${issuing.id}, '7e0000000000000001', 'fp-expired-long', 'CN=old', '[]',
          now() - interval '90 days', now() - interval '30 days', '\\x00', 'test', 'admin', 'revoked',
          date_trunc('second', now() - interval '60 days'), 1, now() - interval '90 days'),
        (gen_random_uuid(), ${issuing.id}, '7e0000000000000002', 'fp-expired-recent', 'CN=recent', '[]',
          now() - interval '90 days', now() - interval '1 day', '\\x00', 'test', 'admin', 'revoked',
          date_trunc('second', now() - interval '2 days'), 4, now() - interval '90 days')`);
    const crl = await crls.generate(issuing.id, admin);
    const text = openssl(["crl", "-inform", "DER", "-text", "-noout"], crl.der).stdout;
    expect(text).not.toContain("Serial Number: 7E0000000000000001");
    expect(text).toMatch(/Serial Number: 7E0000000000000002[\s\S]*?Superseded/);
  });

  it("builds a CRL of 20 000 revoked certificates quickly", async () => {
    const other = await core.cas.createIntermediate(
      {
        name: "crl-bulk",
        parentId: root.id,
        subject: [{ type: "CN", value: "CRL Bulk" }],
        keyAlgorithm: "ecdsa-p256",
        validityDays: 30,
        pathLen: 0,
      },
      admin,
    );
    await db.pool.query(sql.unsafe`
      INSERT INTO certificates (id, ca_id, serial_hex, fingerprint_sha256, subject, sans, not_before, not_after, der,
        requester, source_protocol, status, revoked_at, revocation_reason, issued_at)
      SELECT gen_random_uuid(), ${other.id}, '7f' || md5(i::text), 'bulk-' || i, 'CN=bulk', '[]',
        now() - interval '1 day', now() + interval '20 days', '\\x00', 'test', 'admin', 'revoked',
        date_trunc('second', now() - i * interval '1 second'), (ARRAY[0, 1, 4, 5])[1 + i % 4], now() - interval '1 day'
      FROM generate_series(1, 20000) AS i`);
    const crls = service();
    const started = performance.now();
    const crl = await crls.generate(other.id, admin);
    const elapsed = performance.now() - started;
    expect(crl.entryCount).toBe(20_000);
    expect(elapsed).toBeLessThan(1000); // about 0.2 s here: read, build, sign, store, audit
    const scratch = createScratchDir();
    try {
      const ca = scratch.file("ca.pem", certificatePem(other.certificateDer!));
      const verify = openssl([
        "crl",
        "-inform",
        "DER",
        "-in",
        scratch.file("bulk.crl", crl.der),
        "-CAfile",
        ca,
        "-verify",
        "-noout",
      ]);
      expect(verify.stderr).toContain("verify OK");
    } finally {
      scratch.cleanup();
    }
    // The staleness check is exact: nothing new, so the bulk CA is not due.
    expect(await crls.dueCaIds()).not.toContain(other.id);
  });

  it("rebuilds once for a burst of revocations, through the scheduler", async () => {
    const time = createManualTime(new Date());
    const crls = service({ clock: time.clock });
    const scheduler = createCrlScheduler({ crls, clock: time.clock, logger: testLogger, timers: time.timers });
    scheduler.start();
    time.advance(0);
    await scheduler.whenIdle();
    // The first pass left every CA with a current CRL.
    expect(await crls.dueCaIds()).toEqual([]);
    const before = (await crls.latest(issuing.id))!;

    const leaves = await Promise.all([
      issue("burst-1.example.com"),
      issue("burst-2.example.com"),
      issue("burst-3.example.com"),
    ]);
    for (const leaf of leaves) {
      await revoke(leaf.serialHex, "cessationOfOperation");
      scheduler.requestRegeneration(issuing.id);
      time.advance(500);
    }
    await scheduler.whenIdle();
    expect((await crls.latest(issuing.id))!.number).toBe(before.number);
    time.advance(500); // 2 s after the first request
    await scheduler.whenIdle();
    const after = (await crls.latest(issuing.id))!;
    expect(after.number).toBe(before.number + 1n);
    expect(after.entryCount).toBe(before.entryCount + 3);

    await scheduler.stop();
    expect(time.pendingTimers()).toBe(0);
  });
});
