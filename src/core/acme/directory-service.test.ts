import { randomBytes, randomUUID } from "node:crypto";
import { sql } from "slonik";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startBootstrappedCore, stopTestCore, type TestCore } from "../../../test/support/bootstrapped-core.ts";
import { refusal } from "../../../test/support/refusal.ts";
import type { TestDatabase } from "../../../test/support/test-database.ts";
import type { CertificateAuthority } from "../ca/certificate-authority.ts";
import { defaultAcmeRateLimits } from "./acme-types.ts";
import type { NewAcmeDirectory } from "./directory-service.ts";

const admin = { actor: "user:admin", sourceIp: "192.0.2.1" };

/** An ACME account row, as the ACME front end would write it. */
async function insertAccount(db: TestDatabase, directoryId: string): Promise<string> {
  const id = randomUUID();
  await db.pool.query(sql.unsafe`
    INSERT INTO acme_accounts (id, directory_id, jwk, jwk_thumbprint, status, created_at, updated_at)
    VALUES (${id}, ${directoryId}, '{"kty":"EC"}'::jsonb, ${randomBytes(16).toString("base64url")}, 'valid', now(), now())`);
  return id;
}

describe("ACME directories", () => {
  let db: TestDatabase;
  let core: TestCore;
  let issuing: CertificateAuthority;
  const base = (overrides: Partial<NewAcmeDirectory> = {}): NewAcmeDirectory => ({
    name: `dir-${randomBytes(4).toString("hex")}`,
    caId: issuing.id,
    allowedProfiles: ["tls-server"],
    ...overrides,
  });

  beforeAll(async () => {
    ({ db, core, issuing } = await startBootstrappedCore({ maxConnections: 10 }));
  });
  afterAll(() => stopTestCore(db, core));

  it("creates the default directory once when three replicas start together", async () => {
    const results = await Promise.all(
      [1, 2, 3].map(() => core.acmeDirectories.ensureDefaultDirectory({ caId: issuing.id })),
    );
    expect(results.filter((r) => r !== null)).toHaveLength(1);
    const all = await core.acmeDirectories.list();
    expect(all).toHaveLength(1);
    expect(all[0]).toMatchObject({
      name: "default",
      caId: issuing.id,
      allowedProfiles: ["tls-server"],
      defaultProfile: "tls-server",
      authorizationMode: "challenge",
      challengeTypes: ["http-01", "dns-01", "tls-alpn-01"],
      externalAccountRequired: false,
      caaCheck: true,
      caaIdentities: [],
      rateLimits: defaultAcmeRateLimits,
      enabled: true,
    });
    const events = await core.audit.find(
      { action: "acme.directory.create" },
      { order: "oldest", cursor: undefined, limit: 10 },
    );
    expect(events.map((e) => e.actor)).toEqual(["bootstrap"]);
    // Later starts find it (or any directory) and leave everything alone.
    expect(await core.acmeDirectories.ensureDefaultDirectory({ caId: issuing.id })).toBeNull();
  });

  it("creates, reads and normalises a directory, and audits it", async () => {
    const made = await core.acmeDirectories.create(
      base({
        name: "internal",
        authorizationMode: "eab_trusted",
        trustedIdentifiers: ["*.Corp.Example", "HOST.internal", "10.0.0.0/8", "2001:DB8::1", "2001:db8:0::/32"],
        challengeTypes: [],
        externalAccountRequired: true,
        caaIdentities: ["PKI.Example.com"],
        termsOfServiceUrl: "https://pki.example.com/tos",
        rateLimits: { ordersPerAccountPerHour: 10 },
      }),
      admin,
    );
    expect(made).toMatchObject({
      name: "internal",
      defaultProfile: "tls-server",
      trustedIdentifiers: ["*.corp.example", "host.internal", "10.0.0.0/8", "2001:db8::1", "2001:db8::/32"],
      challengeTypes: [],
      caaIdentities: ["pki.example.com"],
      termsOfServiceUrl: "https://pki.example.com/tos",
      websiteUrl: null,
      rateLimits: { ...defaultAcmeRateLimits, ordersPerAccountPerHour: 10 },
    });
    expect(await core.acmeDirectories.get(made.id)).toEqual(made);
    expect(await core.acmeDirectories.getByName("internal")).toEqual(made);
    expect((await core.acmeDirectories.list()).map((d) => d.name)).toEqual(["default", "internal"]);
    const [event] = await core.audit.find(
      { target: `acme-directory:${made.id}` },
      { order: "oldest", cursor: undefined, limit: 10 },
    );
    expect(event).toMatchObject({ actor: "user:admin", action: "acme.directory.create", sourceIp: "192.0.2.1" });

    expect((await refusal(core.acmeDirectories.create(base({ name: "internal" }), admin))).code).toBe("already_exists");
    expect((await refusal(core.acmeDirectories.get(randomUUID()))).code).toBe("not_found");
    expect((await refusal(core.acmeDirectories.get("not-a-uuid"))).code).toBe("not_found");
    expect((await refusal(core.acmeDirectories.getByName("nope"))).code).toBe("not_found");
  });

  it("refuses invalid directories, naming the field", async () => {
    const cases: Array<[Partial<NewAcmeDirectory>, string, RegExp]> = [
      [{ name: "Upper" }, "invalid_argument", /^name:/],
      [{ name: "-dash" }, "invalid_argument", /^name:/],
      [{ caId: randomUUID() }, "invalid_argument", /^ca: no CA/],
      [{ allowedProfiles: [] }, "invalid_argument", /^allowed_profiles: at least one/],
      [{ allowedProfiles: ["no-such-profile"] }, "invalid_argument", /no profile named "no-such-profile"/],
      [{ defaultProfile: "tls-client" }, "invalid_argument", /^default_profile:/],
      [{ challengeTypes: ["http-01", "smtp-01"] }, "invalid_argument", /"smtp-01" is not one of/],
      [{ challengeTypes: [] }, "invalid_argument", /at least one is required in challenge mode/],
      [{ authorizationMode: "trust-all" as never }, "invalid_argument", /^authorization_mode:/],
      [{ trustedIdentifiers: ["*.corp.example"] }, "invalid_argument", /only used in eab_trusted mode/],
      [{ authorizationMode: "eab_trusted", trustedIdentifiers: [] }, "invalid_argument", /needs at least one/],
      [{ authorizationMode: "eab_trusted", trustedIdentifiers: ["10.1.2.3/8"] }, "invalid_argument", /CIDR/],
      [{ authorizationMode: "eab_trusted", trustedIdentifiers: ["*.*.corp"] }, "invalid_argument", /wildcard/],
      [{ authorizationMode: "eab_trusted", trustedIdentifiers: ["bad..name"] }, "invalid_argument", /empty label/],
      [{ authorizationMode: "eab_trusted", trustedIdentifiers: ["under_score.corp"] }, "invalid_argument", /label/],
      [{ caaIdentities: ["not a name"] }, "invalid_argument", /^caa_identities:/],
      [{ termsOfServiceUrl: "/relative/tos" }, "invalid_argument", /^terms_of_service_url: .* not an absolute URL/],
      [{ websiteUrl: "ftp://example.com/" }, "invalid_argument", /^website_url: must be an http or https URL/],
      [{ rateLimits: { ordersPerAccountPerHour: 0 } }, "invalid_argument", /^rate_limits:/],
      [{ rateLimits: { newAccountsPerIpPerHour: -1 } }, "invalid_argument", /^rate_limits:/],
      [{ rateLimits: { ordersPerIdentifierSetPerWeek: 1.5 } }, "invalid_argument", /^rate_limits:/],
      [{ rateLimits: { somethingElse: 3 } as never }, "invalid_argument", /unknown limit/],
    ];
    for (const [overrides, code, message] of cases) {
      const err = await refusal(core.acmeDirectories.create(base(overrides), admin));
      expect({ overrides, code: err.code, message: err.message }).toMatchObject({
        code,
        message: expect.stringMatching(message),
      });
    }
  });

  it("holds directories to the CA: usable, and only profiles it allows", async () => {
    const spare = await core.cas.createRoot(
      { name: "acme-spare", subject: [{ type: "CN", value: "Spare" }], keyAlgorithm: "ecdsa-p256", validityDays: 30 },
      admin,
    );
    await core.cas.setAllowedProfiles(spare.id, ["tls-client"], admin);
    const notAllowed = await refusal(core.acmeDirectories.create(base({ caId: spare.id }), admin));
    expect(notAllowed).toMatchObject({ code: "invalid_argument" });
    expect(notAllowed.message).toMatch(/profile "tls-server" is not allowed on CA acme-spare \(allowed: tls-client\)/);
    await core.acmeDirectories.create(base({ caId: spare.id, allowedProfiles: ["tls-client"] }), admin);

    // A profile that makes CA certificates needs listing on the CA even when its list is empty.
    await core.profiles.create(
      {
        name: "acme-sub-ca",
        validity: { default: "365d", max: "365d" },
        keyUsage: ["keyCertSign", "cRLSign"],
        basicConstraints: { ca: true },
      },
      admin,
    );
    const caProfile = await refusal(core.acmeDirectories.create(base({ allowedProfiles: ["acme-sub-ca"] }), admin));
    expect(caProfile.message).toMatch(/profile "acme-sub-ca" is not allowed on CA issuing/);

    await core.cas.setEnabled(spare.id, false, admin);
    const disabled = await refusal(
      core.acmeDirectories.create(base({ caId: spare.id, allowedProfiles: ["tls-client"] }), admin),
    );
    expect(disabled).toMatchObject({ code: "failed_precondition" });
    expect(disabled.message).toMatch(/CA acme-spare is disabled/);
  });

  it("updates only the fields given, merges rate limits, and rolls back a bad change", async () => {
    const made = await core.acmeDirectories.create(
      base({ rateLimits: { ordersPerAccountPerHour: 7, newAccountsPerIpPerHour: 8 } }),
      admin,
    );
    const disabled = await core.acmeDirectories.update(
      made.id,
      { enabled: false, rateLimits: { ordersPerAccountPerHour: null, ordersPerIdentifierSetPerWeek: 9 } },
      admin,
    );
    expect(disabled).toMatchObject({
      enabled: false,
      allowedProfiles: ["tls-server"],
      challengeTypes: ["http-01", "dns-01", "tls-alpn-01"],
      rateLimits: {
        ordersPerAccountPerHour: defaultAcmeRateLimits.ordersPerAccountPerHour,
        newAccountsPerIpPerHour: 8,
        ordersPerIdentifierSetPerWeek: 9,
      },
    });
    expect(disabled.updatedAt.getTime()).toBeGreaterThanOrEqual(made.updatedAt.getTime());

    const bad = await refusal(
      core.acmeDirectories.update(
        made.id,
        { challengeTypes: [], allowedProfiles: ["tls-client", "tls-server"] },
        admin,
      ),
    );
    expect(bad.code).toBe("invalid_argument");
    expect(await core.acmeDirectories.get(made.id)).toEqual(disabled);

    const switched = await core.acmeDirectories.update(
      made.id,
      { authorizationMode: "eab_trusted", trustedIdentifiers: ["192.168.0.0/16"], challengeTypes: ["dns-01"] },
      admin,
    );
    expect(switched).toMatchObject({ authorizationMode: "eab_trusted", challengeTypes: ["dns-01"] });
    const events = await core.audit.find(
      { target: `acme-directory:${made.id}`, action: "acme.directory.update" },
      { order: "oldest", cursor: undefined, limit: 10 },
    );
    expect(events.map((e) => e.details["changed"])).toEqual([
      ["enabled", "rateLimits"],
      ["authorizationMode", "challengeTypes", "trustedIdentifiers"],
    ]);
    expect((await refusal(core.acmeDirectories.update(randomUUID(), { enabled: true }, admin))).code).toBe("not_found");
  });

  it("refuses to delete a directory with accounts, and deletes one without (with its keys)", async () => {
    const used = await core.acmeDirectories.create(base(), admin);
    await insertAccount(db, used.id);
    const refused = await refusal(core.acmeDirectories.delete(used.id, admin));
    expect(refused).toMatchObject({ code: "failed_precondition" });
    expect(refused.message).toMatch(/has accounts .* disable it instead/);

    const unused = await core.acmeDirectories.create(base(), admin);
    await core.acmeEabKeys.create(unused.id, { label: "never used" }, admin);
    await core.acmeDirectories.delete(unused.id, admin);
    expect((await refusal(core.acmeDirectories.get(unused.id))).code).toBe("not_found");
    const [event] = await core.audit.find(
      { target: `acme-directory:${unused.id}`, action: "acme.directory.delete" },
      { order: "oldest", cursor: undefined, limit: 10 },
    );
    expect(event?.details).toMatchObject({ name: unused.name, deletedEabKeys: 1 });
  });
});
