import { createHash, randomBytes, randomUUID } from "node:crypto";
import { sql } from "slonik";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { startBootstrappedCore, stopTestCore, type TestCore } from "../../../test/support/bootstrapped-core.ts";
import { refusal } from "../../../test/support/refusal.ts";
import { testLogger } from "../../../test/support/test-core.ts";
import type { TestDatabase } from "../../../test/support/test-database.ts";
import type { Actor } from "../actor.ts";
import type { CertificateAuthority } from "../ca/certificate-authority.ts";
import { createEnrollmentSecretService } from "../enrollment-secrets/enrollment-secret-service.ts";
import { estSecretScope } from "../est/est-secret-scope.ts";
import { createScepEndpointService, intuneDefaults, validationSecretBinding } from "./endpoint-service.ts";
import { scepSecretScope } from "./scep-secret-scope.ts";
import type { NewScepEndpoint, ScepEndpointService } from "./scep-types.ts";

const admin: Actor = { actor: "user:scep-admin", sourceIp: "192.0.2.7" };

const storedRow = z.object({
  static_challenge_hash: z.instanceof(Buffer).nullable(),
  validation_settings: z.record(z.unknown()),
  sealed_validation_secret: z.instanceof(Buffer).nullable(),
});

describe("SCEP endpoints", () => {
  let db: TestDatabase;
  let core: TestCore;
  let issuing: CertificateAuthority;
  let endpoints: ScepEndpointService;
  const base = (overrides: Partial<NewScepEndpoint> = {}): NewScepEndpoint => ({
    name: `ep-${randomBytes(4).toString("hex")}`,
    caId: issuing.id,
    profileName: "device",
    challengeMode: "none",
    ...overrides,
  });

  async function row(id: string) {
    return db.pool.one(sql.type(storedRow)`
      SELECT static_challenge_hash, validation_settings, sealed_validation_secret FROM scep_endpoints WHERE id = ${id}`);
  }

  /** Every audit event's details as text, to search for a secret. */
  async function auditText(id: string): Promise<string> {
    return JSON.stringify((await auditOf(id)).map((e) => e.details));
  }

  /** The one-time secrets service (a dynamic endpoint's challenges), over this file's database. */
  const secrets = () =>
    createEnrollmentSecretService({
      pool: db.pool,
      audit: core.audit,
      clock: { now: () => new Date() },
      scopes: { scep_endpoint: scepSecretScope, est_label: estSecretScope },
    });

  async function auditOf(id: string) {
    return core.audit.find({ target: `scep-endpoint:${id}` }, { order: "oldest", cursor: undefined, limit: 50 });
  }

  beforeAll(async () => {
    ({ db, core, issuing } = await startBootstrappedCore({ maxConnections: 8 }));
    endpoints = createScepEndpointService({
      pool: db.pool,
      audit: core.audit,
      clock: { now: () => new Date() },
      keyEncryption: core.keyEncryption,
      logger: testLogger,
    });
  });
  afterAll(() => stopTestCore(db, core));

  it("creates an endpoint with the defaults, reads it back by id and name, and audits it", async () => {
    const made = await endpoints.create(base({ name: "routers" }), admin);
    expect(made).toMatchObject({
      name: "routers",
      caId: issuing.id,
      profileName: "device",
      challengeMode: "none",
      intune: null,
      webhook: null,
      challengeLifetimeSeconds: 3600,
      caCertificateMode: "chain",
      nextCaId: null,
      legacyCrypto: false,
      renewalAllowed: true,
      enabled: true,
    });
    expect(await endpoints.get(made.id)).toEqual(made);
    expect(await endpoints.getByName("routers")).toEqual(made);
    const [event] = await auditOf(made.id);
    expect(event).toMatchObject({
      actor: "user:scep-admin",
      sourceIp: "192.0.2.7",
      action: "scep.endpoint.create",
      details: { name: "routers", challengeMode: "none", profileName: "device" },
    });

    expect((await refusal(endpoints.create(base({ name: "routers" }), admin))).code).toBe("already_exists");
    expect((await refusal(endpoints.get(randomUUID()))).code).toBe("not_found");
    expect((await refusal(endpoints.get("nope"))).code).toBe("not_found");
    expect((await refusal(endpoints.getByName("Not-A-Name"))).code).toBe("not_found");
    expect((await refusal(endpoints.getByName("absent"))).code).toBe("not_found");
  });

  it("refuses invalid endpoints, naming the field", async () => {
    const cases: Array<[Partial<NewScepEndpoint>, string, RegExp]> = [
      [{ name: "Upper" }, "invalid_argument", /^name:/],
      [{ name: "-dash" }, "invalid_argument", /^name:/],
      [{ name: "a".repeat(64) }, "invalid_argument", /^name:/],
      [{ caId: randomUUID() }, "invalid_argument", /^ca_id: no CA/],
      [{ caId: "not-a-uuid" }, "invalid_argument", /^ca_id: no CA/],
      [{ profileName: "no-such" }, "invalid_argument", /^profile_name: no profile named "no-such"/],
      [{ challengeMode: "magic" as never }, "invalid_argument", /^challenge_mode:/],
      [{ challengeMode: "static" }, "invalid_argument", /^static_challenge: required/],
      [
        { challengeMode: "static", staticChallenge: "short" },
        "invalid_argument",
        /^static_challenge: must be 8 to 255/,
      ],
      [{ challengeMode: "static", staticChallenge: "x".repeat(256) }, "invalid_argument", /^static_challenge:/],
      [{ challengeMode: "static", staticChallenge: "has\u0007bell" }, "invalid_argument", /^static_challenge:/],
      [{ staticChallenge: "long-enough-secret" }, "invalid_argument", /^static_challenge: only used in static mode/],
      [{ challengeMode: "intune" }, "invalid_argument", /^intune: tenant and client_id are required/],
      [
        { challengeMode: "intune", intune: { tenant: "contoso.onmicrosoft.com", clientId: "app" } },
        "invalid_argument",
        /^intune_client_secret: required/,
      ],
      [
        { challengeMode: "intune", intune: { tenant: "", clientId: "app" }, intuneClientSecret: "s" },
        "invalid_argument",
        /^intune.tenant: required/,
      ],
      [
        { challengeMode: "intune", intune: { tenant: "bad tenant", clientId: "app" }, intuneClientSecret: "s" },
        "invalid_argument",
        /^intune.tenant:/,
      ],
      [
        {
          challengeMode: "intune",
          intune: { tenant: "t.example", clientId: "app", graphUrl: "http://graph.example.com" },
          intuneClientSecret: "s",
        },
        "invalid_argument",
        /^intune.graph_url: must be https/,
      ],
      [
        {
          challengeMode: "intune",
          intune: { tenant: "t.example", clientId: "app", authorityUrl: "https://user:pw@login.example" },
          intuneClientSecret: "s",
        },
        "invalid_argument",
        /^intune.authority_url: must not carry credentials/,
      ],
      [{ challengeMode: "webhook", webhookSecret: "0123456789abcdef" }, "invalid_argument", /^webhook: a URL/],
      [
        { challengeMode: "webhook", webhook: { url: "https://hook.example/scep" }, webhookSecret: "too-short" },
        "invalid_argument",
        /^webhook_secret: must be 16 to/,
      ],
      [
        { challengeMode: "webhook", webhook: { url: "ftp://hook.example/" }, webhookSecret: "0123456789abcdef" },
        "invalid_argument",
        /^webhook.url: must be https/,
      ],
      [
        { challengeMode: "webhook", webhook: { url: "not a url" }, webhookSecret: "0123456789abcdef" },
        "invalid_argument",
        /^webhook.url: .* not an absolute URL/,
      ],
      [{ webhookSecret: "0123456789abcdef" }, "invalid_argument", /^webhook_secret: only used in webhook mode/],
      [{ challengeLifetimeSeconds: 59 }, "invalid_argument", /^challenge_lifetime_seconds:/],
      [{ challengeLifetimeSeconds: 2_592_001 }, "invalid_argument", /^challenge_lifetime_seconds:/],
      [{ caCertificateMode: "pem" as never }, "invalid_argument", /^ca_certificate_mode:/],
      [{ nextCaId: randomUUID() }, "invalid_argument", /^next_ca_id: no CA/],
    ];
    for (const [overrides, code, message] of cases) {
      const err = await refusal(endpoints.create(base(overrides), admin));
      expect({ overrides, code: err.code, message: err.message }).toMatchObject({
        code,
        message: expect.stringMatching(message),
      });
    }
    const self = await refusal(endpoints.create(base({ nextCaId: issuing.id }), admin));
    expect(self.message).toMatch(/^next_ca_id: must differ from ca_id/);
  });

  it("holds endpoints to the CA: active, with a certificate, and a profile it allows that is not a CA profile", async () => {
    const spare = await core.cas.createRoot(
      { name: "scep-spare", subject: [{ type: "CN", value: "Spare" }], keyAlgorithm: "ecdsa-p256", validityDays: 30 },
      admin,
    );
    await core.cas.setAllowedProfiles(spare.id, ["tls-client"], admin);
    const notAllowed = await refusal(endpoints.create(base({ caId: spare.id }), admin));
    expect(notAllowed).toMatchObject({ code: "invalid_argument" });
    expect(notAllowed.message).toMatch(/profile "device" is not allowed on CA scep-spare \(allowed: tls-client\)/);
    const onSpare = await endpoints.create(base({ caId: spare.id, profileName: "tls-client" }), admin);

    await core.profiles.create(
      {
        name: "scep-sub-ca",
        validity: { default: "365d", max: "365d" },
        keyUsage: ["keyCertSign", "cRLSign"],
        basicConstraints: { ca: true },
      },
      admin,
    );
    const caProfile = await refusal(endpoints.create(base({ profileName: "scep-sub-ca" }), admin));
    expect(caProfile.message).toMatch(/makes CA certificates/);
    // Even when the CA lists it explicitly.
    await core.cas.setAllowedProfiles(spare.id, ["tls-client", "scep-sub-ca"], admin);
    expect(
      (await refusal(endpoints.create(base({ caId: spare.id, profileName: "scep-sub-ca" }), admin))).message,
    ).toMatch(/makes CA certificates/);

    // The next CA is any other CA with a certificate.
    const rollover = await endpoints.create(base({ nextCaId: spare.id }), admin);
    expect(rollover.nextCaId).toBe(spare.id);
    expect((await endpoints.update(rollover.id, { nextCaId: null }, admin)).nextCaId).toBeNull();

    await core.cas.setEnabled(spare.id, false, admin);
    const disabled = await refusal(endpoints.create(base({ caId: spare.id, profileName: "tls-client" }), admin));
    expect(disabled).toMatchObject({ code: "failed_precondition" });
    expect(disabled.message).toMatch(/^ca_id: CA scep-spare is disabled/);
    // An endpoint already on the disabled CA can still be switched off, or moved to a usable CA.
    expect((await endpoints.update(onSpare.id, { enabled: false }, admin)).enabled).toBe(false);
    expect((await endpoints.update(onSpare.id, { caId: issuing.id }, admin)).caId).toBe(issuing.id);
    expect((await refusal(endpoints.update(onSpare.id, { caId: spare.id }, admin))).code).toBe("failed_precondition");
  });

  it("keeps the static challenge only as a SHA-256 and compares it in constant time", async () => {
    const secret = "correct horse battery staple";
    const made = await endpoints.create(base({ challengeMode: "static", staticChallenge: secret }), admin);
    const stored = await row(made.id);
    expect(stored.static_challenge_hash).toEqual(createHash("sha256").update(secret).digest());
    expect(stored.sealed_validation_secret).toBeNull();
    expect(await auditText(made.id)).not.toContain(secret);

    expect(endpoints.matchesStaticChallenge(made, secret)).toBe(true);
    expect(endpoints.matchesStaticChallenge(made, `${secret} `)).toBe(false);
    expect(endpoints.matchesStaticChallenge(made, "")).toBe(false);
    // A copy of the endpoint (as a cache would keep it) works too.
    expect(endpoints.matchesStaticChallenge({ ...made }, secret)).toBe(true);
    // Another process that has read the endpoint answers the same.
    const other = createScepEndpointService({
      pool: db.pool,
      audit: core.audit,
      clock: { now: () => new Date() },
      keyEncryption: core.keyEncryption,
      logger: testLogger,
    });
    expect(other.matchesStaticChallenge(await other.getByName(made.name), secret)).toBe(true);
    expect(await endpoints.validationSecret(made)).toBeNull();

    // A new challenge replaces the old at once.
    const changed = await endpoints.update(made.id, { staticChallenge: "a brand new shared secret" }, admin);
    expect(endpoints.matchesStaticChallenge(changed, secret)).toBe(false);
    expect(endpoints.matchesStaticChallenge(made, secret)).toBe(false);
    expect(endpoints.matchesStaticChallenge(changed, "a brand new shared secret")).toBe(true);
    // Other settings keep the challenge.
    const kept = await endpoints.update(made.id, { legacyCrypto: true }, admin);
    expect(endpoints.matchesStaticChallenge(kept, "a brand new shared secret")).toBe(true);
    const none = await endpoints.create(base(), admin);
    expect(endpoints.matchesStaticChallenge(none, secret)).toBe(false);

    const updates = (await auditOf(made.id)).filter((e) => e.action === "scep.endpoint.update");
    expect(updates.map((e) => e.details["secretsChanged"])).toEqual([["static_challenge"], []]);
    expect(await auditText(made.id)).not.toContain("a brand new shared secret");
  });

  it("seals the Intune client secret under the KEK bound to the endpoint, with the default URLs", async () => {
    const clientSecret = "intune-client-secret-value";
    const made = await endpoints.create(
      base({
        challengeMode: "intune",
        intune: { tenant: "contoso.onmicrosoft.com", clientId: "8e1f4a0c-0f37-4f4e-9e36-6b4f1b9f3e11" },
        intuneClientSecret: clientSecret,
      }),
      admin,
    );
    expect(made.intune).toEqual({
      tenant: "contoso.onmicrosoft.com",
      clientId: "8e1f4a0c-0f37-4f4e-9e36-6b4f1b9f3e11",
      ...intuneDefaults,
    });
    expect(made.webhook).toBeNull();
    const stored = await row(made.id);
    expect(stored.sealed_validation_secret).not.toBeNull();
    expect(stored.sealed_validation_secret!.includes(Buffer.from(clientSecret))).toBe(false);
    expect(JSON.stringify(stored.validation_settings)).not.toContain(clientSecret);
    expect(core.keyEncryption.open(stored.sealed_validation_secret!, validationSecretBinding(made.id)).toString()).toBe(
      clientSecret,
    );
    expect(() =>
      core.keyEncryption.open(stored.sealed_validation_secret!, validationSecretBinding(randomUUID())),
    ).toThrow(/integrity/);
    expect(await endpoints.validationSecret(made)).toBe(clientSecret);
    const events = await auditOf(made.id);
    expect(events[0]?.details).toMatchObject({
      challengeMode: "intune",
      validationSettings: { tenant: "contoso.onmicrosoft.com", graphUrl: intuneDefaults.graphUrl },
    });
    expect(await auditText(made.id)).not.toContain(clientSecret);

    // Local mocks over http on the loopback are allowed; settings replace the stored ones, the secret stays.
    const local = await endpoints.update(
      made.id,
      {
        intune: {
          tenant: "tenant-2",
          clientId: "app-2",
          providerNameAndVersion: "Chancery/test",
          authorityUrl: "http://127.0.0.1:9999",
          graphUrl: "http://[::1]:9998/graph",
          intuneResourceUrl: "http://localhost:9997/",
        },
      },
      admin,
    );
    expect(local.intune).toEqual({
      tenant: "tenant-2",
      clientId: "app-2",
      providerNameAndVersion: "Chancery/test",
      authorityUrl: "http://127.0.0.1:9999",
      graphUrl: "http://[::1]:9998/graph",
      intuneResourceUrl: "http://localhost:9997/",
    });
    expect(await endpoints.validationSecret(local)).toBe(clientSecret);
    const rotated = await endpoints.update(made.id, { intuneClientSecret: "second-secret" }, admin);
    expect(await endpoints.validationSecret(rotated)).toBe("second-secret");
    // A caller holding the endpoint from before a mode change gets no secret of another mode.
    expect(await endpoints.validationSecret({ ...rotated, challengeMode: "webhook" })).toBeNull();
  });

  it("changes modes only with the new mode's secret, and clears the old one", async () => {
    const made = await endpoints.create(
      base({
        challengeMode: "webhook",
        webhook: { url: "https://hook.example/scep" },
        webhookSecret: "0123456789abcdef",
      }),
      admin,
    );
    expect(made.webhook).toEqual({ url: "https://hook.example/scep" });
    expect(await endpoints.validationSecret(made)).toBe("0123456789abcdef");

    const noSecret = await refusal(
      endpoints.update(made.id, { challengeMode: "intune", intune: { tenant: "t.example", clientId: "app" } }, admin),
    );
    expect(noSecret.message).toMatch(/^intune_client_secret: required when switching/);
    expect((await refusal(endpoints.update(made.id, { challengeMode: "static" }, admin))).message).toMatch(
      /^static_challenge: required/,
    );
    // Same mode: the URL alone may change, the key stays.
    const moved = await endpoints.update(made.id, { webhook: { url: "https://hook2.example/scep" } }, admin);
    expect(await endpoints.validationSecret(moved)).toBe("0123456789abcdef");

    const toStatic = await endpoints.update(
      made.id,
      { challengeMode: "static", staticChallenge: "static-secret-1" },
      admin,
    );
    expect(toStatic).toMatchObject({ challengeMode: "static", webhook: null, intune: null });
    let stored = await row(made.id);
    expect(stored.sealed_validation_secret).toBeNull();
    expect(stored.validation_settings).toEqual({});
    expect(endpoints.matchesStaticChallenge(toStatic, "static-secret-1")).toBe(true);

    const toNone = await endpoints.update(made.id, { challengeMode: "none" }, admin);
    stored = await row(made.id);
    expect(stored.static_challenge_hash).toBeNull();
    expect(endpoints.matchesStaticChallenge(toNone, "static-secret-1")).toBe(false);
    // A failed update leaves everything as it was.
    expect(await endpoints.get(made.id)).toEqual(toNone);
  });

  it("retires outstanding one-time challenges when an endpoint leaves dynamic mode", async () => {
    const made = await endpoints.create(base({ challengeMode: "dynamic" }), admin);
    const scope = { kind: "scep_endpoint", id: made.id } as const;
    const { secret } = await secrets().mint({ scope }, admin);
    await endpoints.update(made.id, { challengeMode: "none" }, admin);
    await endpoints.update(made.id, { challengeMode: "dynamic" }, admin);
    const redeemed = await secrets().spend({ scope, secret, usedBy: "t-1", csrSubject: "CN=x", csrSans: [] });
    expect(redeemed).toEqual({ ok: false, reason: "revoked" });
    const events = (await auditOf(made.id)).filter((e) => e.action === "scep.endpoint.update");
    expect(events[0]?.details).toMatchObject({ revokedChallenges: 1, changed: ["challengeMode"] });
  });

  it("lists endpoints by name, a page at a time", async () => {
    const all: string[] = [];
    let token = "";
    do {
      const page = await endpoints.list({ pageSize: 2, pageToken: token });
      expect(page.endpoints.length).toBeLessThanOrEqual(2);
      all.push(...page.endpoints.map((e) => e.name));
      token = page.nextPageToken;
    } while (token);
    expect(all).toEqual([...all].sort());
    expect(all.length).toBeGreaterThan(4);
    expect((await endpoints.list({ pageSize: 0 })).endpoints.map((e) => e.name)).toEqual(all);
    expect((await refusal(endpoints.list({ pageSize: 10, pageToken: "garbage" }))).code).toBe("invalid_argument");
    expect((await refusal(endpoints.list({ pageSize: -1 }))).code).toBe("invalid_argument");
  });

  it("deletes an endpoint with its challenges, and audits what went with it", async () => {
    const made = await endpoints.create(base({ challengeMode: "dynamic" }), admin);
    await secrets().mint({ scope: { kind: "scep_endpoint", id: made.id } }, admin);
    await endpoints.delete(made.id, admin);
    expect((await refusal(endpoints.get(made.id))).code).toBe("not_found");
    expect((await refusal(endpoints.delete(made.id, admin))).code).toBe("not_found");
    const count = await db.pool.oneFirst(sql.type(z.object({ n: z.number() }))`
      SELECT count(*)::int AS n FROM enrollment_secrets WHERE scep_endpoint_id = ${made.id}`);
    expect(count).toBe(0);
    const deleted = (await auditOf(made.id)).find((e) => e.action === "scep.endpoint.delete");
    expect(deleted?.details).toMatchObject({ name: made.name, deletedChallenges: 1, deletedRaCertificates: 0 });
  });
});
