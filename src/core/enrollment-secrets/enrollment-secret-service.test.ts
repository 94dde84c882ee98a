import { createHash, randomUUID } from "node:crypto";
import { type DatabasePool, sql } from "slonik";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { startBootstrappedCore, stopTestCore, type TestCore } from "../../../test/support/bootstrapped-core.ts";
import { movableClock } from "../../../test/support/movable-clock.ts";
import { refusal } from "../../../test/support/refusal.ts";
import { testLogger } from "../../../test/support/test-core.ts";
import type { TestDatabase } from "../../../test/support/test-database.ts";
import { findEnrollmentSecretHash } from "../../store/enrollment-secret-store.ts";
import { createDatabasePool } from "../../store/pool.ts";
import type { Actor } from "../actor.ts";
import type { CertificateAuthority } from "../ca/certificate-authority.ts";
import { estSecretScope } from "../est/est-secret-scope.ts";
import { createEstLabelService } from "../est/label-service.ts";
import { createScepEndpointService } from "../scep/endpoint-service.ts";
import { scepSecretScope } from "../scep/scep-secret-scope.ts";
import type { ScepEndpointService } from "../scep/scep-types.ts";
import { parseCsr } from "../x509/parse-csr.ts";
import { opensslCsr } from "../x509/testing/openssl.ts";
import { createEnrollmentSecretService, looksLikeEnrollmentSecret } from "./enrollment-secret-service.ts";
import type { EnrollmentSecretScope, EnrollmentSecretService } from "./enrollment-secret-types.ts";

const admin: Actor = { actor: "user:enrollment-secret-test", sourceIp: "203.0.113.9" };

/**
 * The shared one-time secret service, tested once for both protocols: every
 * rule runs against a SCEP endpoint and an EST label alike, and the
 * protocol rules (which scope takes secrets, its default lifetime) come from
 * each protocol's scope rules.
 */
describe("one-time enrollment secrets", () => {
  let db: TestDatabase;
  let core: TestCore;
  let issuing: CertificateAuthority;
  let secrets: EnrollmentSecretService;
  let endpoints: ScepEndpointService;
  /** A second replica: its own pool (its own connections), the same database. */
  let replicaPool: DatabasePool;
  let replica: EnrollmentSecretService;
  const clock = movableClock();
  const scopes = { scep_endpoint: scepSecretScope, est_label: estSecretScope };
  let counter = 0;
  const cases: Record<"scep" | "est", { scope: EnrollmentSecretScope; defaultLifetimeMs: number; name: string }> = {
    scep: { scope: { kind: "scep_endpoint", id: "" }, defaultLifetimeMs: 600_000, name: "mdm" },
    est: { scope: { kind: "est_label", id: "" }, defaultLifetimeMs: 7_200_000, name: "routers" },
  };

  const spend = (
    scope: EnrollmentSecretScope,
    secret: string,
    overrides: Partial<Parameters<EnrollmentSecretService["spend"]>[0]> = {},
  ) => secrets.spend({ scope, secret, usedBy: `tx-${++counter}`, csrSubject: "CN=device", csrSans: [], ...overrides });

  beforeAll(async () => {
    ({ db, core, issuing } = await startBootstrappedCore({ maxConnections: 12 }));
    endpoints = createScepEndpointService({
      pool: db.pool,
      audit: core.audit,
      clock,
      keyEncryption: core.keyEncryption,
      logger: testLogger,
    });
    const labels = createEstLabelService({ pool: db.pool, audit: core.audit, clock });
    secrets = createEnrollmentSecretService({ pool: db.pool, audit: core.audit, clock, scopes });
    replicaPool = await createDatabasePool(db.url, { maxConnections: 6, statementTimeoutMs: 30_000 });
    replica = createEnrollmentSecretService({ pool: replicaPool, audit: core.audit, clock, scopes });
    const endpoint = await endpoints.create(
      { name: "mdm", caId: issuing.id, profileName: "device", challengeMode: "dynamic", challengeLifetimeSeconds: 600 },
      admin,
    );
    const label = await labels.create(
      { name: "routers", caId: issuing.id, profileName: "device", authMode: "basic", secretLifetimeSeconds: 7200 },
      admin,
    );
    cases.scep.scope = { kind: "scep_endpoint", id: endpoint.id };
    cases.est.scope = { kind: "est_label", id: label.id };
  });
  afterAll(async () => {
    await replicaPool?.end();
    await stopTestCore(db, core);
  });

  describe.each(["scep", "est"] as const)("in a %s scope", (protocol) => {
    const scope = () => cases[protocol].scope;

    it("mints a secret shown once as 40 hex digits, stored as SHA-256, audited by id", async () => {
      const before = clock.now().getTime();
      const { secret, record } = await secrets.mint({ scope: scope() }, admin);
      expect(secret).toMatch(/^[0-9a-f]{40}$/);
      expect(looksLikeEnrollmentSecret(secret)).toBe(true);
      expect(record).toMatchObject({
        scope: scope(),
        boundSubject: null,
        boundSans: null,
        createdBy: admin.actor,
        usedAt: null,
        usedBy: null,
        revokedAt: null,
      });
      // The scope's default lifetime.
      expect(record.expiresAt.getTime() - record.createdAt.getTime()).toBe(cases[protocol].defaultLifetimeMs);
      expect(record.createdAt.getTime()).toBeGreaterThanOrEqual(before - 1);
      expect(await secrets.get(record.id)).toEqual(record);

      const stored = await db.pool.oneFirst(sql.type(z.object({ row: z.string() }))`
        SELECT row_to_json(s)::text AS row FROM enrollment_secrets s WHERE id = ${record.id}`);
      expect(stored).not.toContain(secret);
      expect(await findEnrollmentSecretHash(db.pool, record.id)).toEqual(createHash("sha256").update(secret).digest());

      const [event] = await core.audit.find(
        { target: `enrollment-secret:${record.id}` },
        { order: "oldest", cursor: undefined, limit: 10 },
      );
      expect(event).toMatchObject({
        actor: admin.actor,
        sourceIp: admin.sourceIp,
        action: "enrollment_secret.create",
        details: {
          scope: scope().kind,
          scopeId: scope().id,
          scopeName: cases[protocol].name,
          expiresAt: record.expiresAt.toISOString(),
        },
      });
      expect(JSON.stringify(event?.details)).not.toContain(secret);
    });

    it("refuses bad input and unknown scopes", async () => {
      const bad: Array<[Parameters<EnrollmentSecretService["mint"]>[0], RegExp]> = [
        [{ scope: scope(), lifetimeSeconds: 59 }, /^lifetime_seconds:/],
        [{ scope: scope(), lifetimeSeconds: 2_592_001 }, /^lifetime_seconds:/],
        [{ scope: scope(), lifetimeSeconds: 1.5 }, /^lifetime_seconds:/],
        [{ scope: scope(), boundSubject: "CN" }, /^bound_subject:/],
        [{ scope: scope(), boundSubject: "XYZ=1" }, /^bound_subject: unknown attribute type/],
        [{ scope: scope(), boundSans: ["host.example.com"] }, /^bound_sans:/],
        [{ scope: scope(), boundSans: ["ip:1.2.3"] }, /^bound_sans:/],
      ];
      for (const [input, message] of bad) {
        const err = await refusal(secrets.mint(input, admin));
        expect({ input, code: err.code, message: err.message }).toMatchObject({
          code: "invalid_argument",
          message: expect.stringMatching(message),
        });
      }
      const unknown = { kind: scope().kind, id: randomUUID() };
      const noun = protocol === "scep" ? "SCEP endpoint" : "EST label";
      for (const call of [() => secrets.mint({ scope: unknown }, admin), () => secrets.list(unknown, { pageSize: 1 })])
        expect(await refusal(call())).toMatchObject({ code: "not_found", message: `no ${noun} with id ${unknown.id}` });
      expect((await refusal(secrets.describe({ kind: scope().kind, id: "nope" }))).code).toBe("not_found");
      expect(await secrets.describe(scope())).toEqual({ name: cases[protocol].name, caId: issuing.id });
    });

    it("is spent by exactly one of ten concurrent spends from two replicas (two pools)", async () => {
      const { secret, record } = await secrets.mint({ scope: scope() }, admin);
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          (i % 2 === 0 ? secrets : replica).spend({
            scope: scope(),
            secret,
            usedBy: `race-${i}`,
            csrSubject: "CN=device",
            csrSans: [],
          }),
        ),
      );
      expect(results.filter((r) => r.ok)).toEqual([{ ok: true, secretId: record.id }]);
      expect(results.filter((r) => !r.ok)).toEqual(Array.from({ length: 9 }, () => ({ ok: false, reason: "used" })));
      const spent = await secrets.get(record.id);
      expect(spent.usedAt).not.toBeNull();
      expect(spent.usedBy).toMatch(/^race-\d$/);
      // And a later reuse is refused the same way.
      expect(await spend(scope(), secret)).toEqual({ ok: false, reason: "used" });
    });

    it("tells unknown, expired and another scope's secrets apart; an expired one stays unspent", async () => {
      const { secret } = await secrets.mint({ scope: scope(), lifetimeSeconds: 60 }, admin);
      const other = protocol === "scep" ? cases.est.scope : cases.scep.scope;
      expect(await spend(scope(), "0".repeat(40))).toEqual({ ok: false, reason: "unknown" });
      expect(await spend(scope(), "")).toEqual({ ok: false, reason: "unknown" });
      expect(await spend(scope(), "never-minted-here")).toEqual({ ok: false, reason: "unknown" });
      expect(await spend(other, secret)).toEqual({ ok: false, reason: "unknown" });
      expect(await spend({ kind: scope().kind, id: randomUUID() }, secret)).toEqual({ ok: false, reason: "unknown" });
      expect(await spend({ kind: scope().kind, id: "not-a-uuid" }, secret)).toEqual({ ok: false, reason: "unknown" });
      expect(await secrets.find(other, secret)).toBeNull();
      clock.advance(61_000);
      try {
        expect(await spend(scope(), secret)).toEqual({ ok: false, reason: "expired" });
      } finally {
        clock.advance(-61_000);
      }
      // The clock going back (a test artefact) shows the expired one was not spent by the refusal.
      expect(await spend(scope(), secret)).toMatchObject({ ok: true });
      expect((await refusal(spend(scope(), secret, { usedBy: "" }))).code).toBe("invalid_argument");
    });

    it("revokes a secret once, audited; a spent one cannot be revoked", async () => {
      const { secret, record } = await secrets.mint({ scope: scope() }, admin);
      const revoked = await secrets.revoke(record.id, admin);
      expect(revoked.revokedAt).not.toBeNull();
      expect(await secrets.revoke(record.id, admin)).toEqual(revoked);
      expect(await spend(scope(), secret)).toEqual({ ok: false, reason: "revoked" });
      const events = await core.audit.find(
        { target: `enrollment-secret:${record.id}`, action: "enrollment_secret.revoke" },
        { order: "oldest", cursor: undefined, limit: 10 },
      );
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({ actor: admin.actor, details: { scope: scope().kind, scopeId: scope().id } });

      const spent = await secrets.mint({ scope: scope() }, admin);
      expect(await spend(scope(), spent.secret, { usedBy: "spender" })).toMatchObject({ ok: true });
      const used = await refusal(secrets.revoke(spent.record.id, admin));
      expect(used).toMatchObject({
        code: "failed_precondition",
        message: expect.stringMatching(/already used \(spender\)/),
      });
      expect((await refusal(secrets.revoke(randomUUID(), admin))).code).toBe("not_found");
      expect((await refusal(secrets.revoke("nope", admin))).code).toBe("not_found");
      expect((await refusal(secrets.get("nope"))).code).toBe("not_found");
    });

    it("checks the binding before spending: a mismatched CSR leaves the secret for the right one", async () => {
      const { secret, record } = await secrets.mint(
        {
          scope: scope(),
          boundSubject: "CN=device-42, O=Example",
          boundSans: ["DNS:Device-42.Example.com", "ip:2001:DB8::1"],
        },
        admin,
      );
      expect(record.boundSubject).toBe("CN=device-42,O=Example");
      expect(record.boundSans).toEqual(["dns:device-42.example.com", "ip:2001:db8::1"]);

      const csr = parseCsr(
        opensslCsr({ subject: "/O=Example/CN=device-42", sans: "DNS:device-42.example.com,IP:2001:db8:0::1" }),
      );
      const csrSans = csr.requestedSans.map((san) => `${san.type}:${san.value}`);
      const wrong = parseCsr(opensslCsr({ subject: "/O=Example/CN=device-43", sans: "DNS:device-42.example.com" }));
      for (const attempt of [
        { csrSubject: wrong.subjectString, csrSans },
        { csrSubject: csr.subjectString, csrSans: csrSans.slice(0, 1) },
        { csrSubject: csr.subjectString, csrSans: [...csrSans, "dns:extra.example.com"] },
        { csrSubject: "CN=device-42", csrSans },
      ])
        expect(await spend(scope(), secret, attempt)).toEqual({ ok: false, reason: "binding_mismatch" });
      expect((await secrets.get(record.id)).usedAt).toBeNull();

      expect(await spend(scope(), secret, { csrSubject: csr.subjectString, csrSans, usedBy: "bound-ok" })).toEqual({
        ok: true,
        secretId: record.id,
      });
      expect(await spend(scope(), secret, { csrSubject: csr.subjectString, csrSans })).toEqual({
        ok: false,
        reason: "used",
      });
    });

    it("finds a secret whatever its state; gives it back and settles it only for what spent it", async () => {
      const { secret, record } = await secrets.mint({ scope: scope() }, admin);
      expect(await secrets.find(scope(), secret)).toEqual(record);
      expect(await secrets.find(scope(), secret.toUpperCase())).toBeNull();
      expect(await spend(scope(), secret, { usedBy: "enrollment:a" })).toMatchObject({ ok: true });
      expect((await secrets.find(scope(), secret))?.usedBy).toBe("enrollment:a");
      await secrets.unspend(record.id, "enrollment:b");
      expect((await secrets.get(record.id)).usedBy).toBe("enrollment:a");
      await secrets.unspend(record.id, "enrollment:a");
      expect(await secrets.get(record.id)).toMatchObject({ usedAt: null, usedBy: null });
      expect(await spend(scope(), secret, { usedBy: "enrollment:c" })).toMatchObject({ ok: true });
      await secrets.settle(record.id, "enrollment:x", "certificate:00");
      expect((await secrets.get(record.id)).usedBy).toBe("enrollment:c");
      await db.pool.transaction((tx) => secrets.settle(record.id, "enrollment:c", "certificate:0a1b", tx));
      expect((await secrets.get(record.id)).usedBy).toBe("certificate:0a1b");
    });

    it("lists a scope's secrets oldest first, a page at a time", async () => {
      const records = [];
      for (let i = 0; i < 5; i++) records.push((await secrets.mint({ scope: scope() }, admin)).record);
      const all: string[] = [];
      let token = "";
      do {
        const page = await secrets.list(scope(), { pageSize: 2, pageToken: token });
        expect(page.secrets.length).toBeLessThanOrEqual(2);
        expect(page.secrets.every((s) => s.scope.id === scope().id)).toBe(true);
        all.push(...page.secrets.map((s) => s.id));
        token = page.nextPageToken;
      } while (token);
      // By (created_at, id): two minted in the same millisecond are ordered by id.
      const everything = await secrets.list(scope(), { pageSize: 1000 });
      const sorted = [...everything.secrets]
        .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || (a.id < b.id ? -1 : 1))
        .map((s) => s.id);
      expect(all).toEqual(sorted);
      expect(all).toEqual(expect.arrayContaining(records.map((r) => r.id)));
      expect((await refusal(secrets.list(scope(), { pageSize: 10, pageToken: "x" }))).code).toBe("invalid_argument");
      expect((await refusal(secrets.list(scope(), { pageSize: -1 }))).code).toBe("invalid_argument");
    });
  });

  it("lists every scope's secrets together when no scope is named", async () => {
    const all = await secrets.list(null, { pageSize: 1000 });
    const kinds = new Set(all.secrets.map((s) => s.scope.kind));
    expect(kinds).toEqual(new Set(["scep_endpoint", "est_label"]));
    const scep = await secrets.list(cases.scep.scope, { pageSize: 1000 });
    const est = await secrets.list(cases.est.scope, { pageSize: 1000 });
    expect(all.secrets).toHaveLength(scep.secrets.length + est.secrets.length);
  });

  it("mints only where the protocol allows one-time secrets", async () => {
    const staticEndpoint = await endpoints.create(
      {
        name: "static-ep",
        caId: issuing.id,
        profileName: "device",
        challengeMode: "static",
        staticChallenge: "s3cret-s3cret",
      },
      admin,
    );
    const scep = await refusal(secrets.mint({ scope: { kind: "scep_endpoint", id: staticEndpoint.id } }, admin));
    expect(scep).toMatchObject({ code: "failed_precondition" });
    expect(scep.message).toMatch(/static mode; one-time challenges need dynamic mode/);

    const labels = createEstLabelService({ pool: db.pool, audit: core.audit, clock });
    const certificateOnly = await labels.create(
      { name: "idevid", caId: issuing.id, profileName: "device", authMode: "certificate", clientCaIds: [issuing.id] },
      admin,
    );
    const est = await refusal(secrets.mint({ scope: { kind: "est_label", id: certificateOnly.id } }, admin));
    expect(est).toMatchObject({ code: "failed_precondition" });
    expect(est.message).toMatch(/accepts client certificates only/);
  });

  it("still takes a secret minted by EST before the two were one (chancery_est_ + 40 hex)", async () => {
    const legacy = `chancery_est_${"ab".repeat(20)}`;
    expect(looksLikeEnrollmentSecret(legacy)).toBe(true);
    const id = randomUUID();
    const now = clock.now();
    await db.pool.query(sql.unsafe`
      INSERT INTO enrollment_secrets (id, est_label_id, secret_hash, created_by, created_at, expires_at)
      VALUES (${id}, ${cases.est.scope.id}, ${sql.binary(createHash("sha256").update(legacy).digest())}, 'test',
        ${sql.timestamp(now)}, ${sql.timestamp(new Date(now.getTime() + 60_000))})`);
    expect((await secrets.find(cases.est.scope, legacy))?.id).toBe(id);
    expect(await spend(cases.est.scope, legacy)).toEqual({ ok: true, secretId: id });
    expect(looksLikeEnrollmentSecret(`chancery_pat_${"ab".repeat(20)}`)).toBe(false);
  });
});
