import { createHash, randomUUID } from "node:crypto";
import { sql } from "slonik";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { createTestCore, testLogger } from "../../../test/support/test-core.ts";
import { createTestDatabase, type TestDatabase } from "../../../test/support/test-database.ts";
import type { Actor } from "../actor.ts";
import type { CertificateAuthority } from "../ca/certificate-authority.ts";
import type { Clock } from "../clock.ts";
import { ChanceryError } from "../errors.ts";
import { parseCsr } from "../x509/parse-csr.ts";
import { opensslCsr } from "../x509/testing/openssl.ts";
import { createScepChallengeService } from "./challenge-service.ts";
import { createScepEndpointService } from "./endpoint-service.ts";
import type { ScepChallengeService, ScepEndpoint, ScepEndpointService } from "./scep-types.ts";

const admin: Actor = { actor: "user:scep-challenge-test", sourceIp: "203.0.113.9" };

/** A clock that moves only when told to. */
function movableClock(): Clock & { advance(ms: number): void } {
  let offset = 0;
  return { now: () => new Date(Date.now() + offset), advance: (ms) => (offset += ms) };
}

async function refusal(promise: Promise<unknown>): Promise<ChanceryError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof ChanceryError)) throw new Error(`expected a ChanceryError, got ${String(err)}`);
  return err;
}

describe("SCEP one-time challenges", () => {
  let db: TestDatabase;
  let core: ReturnType<typeof createTestCore>;
  let issuing: CertificateAuthority;
  let endpoints: ScepEndpointService;
  let challenges: ScepChallengeService;
  let dynamic: ScepEndpoint;
  const clock = movableClock();
  let counter = 0;

  const redeem = (challenge: string, overrides: Partial<Parameters<ScepChallengeService["redeem"]>[0]> = {}) =>
    challenges.redeem({
      endpointId: dynamic.id,
      challenge,
      transactionId: `tx-${++counter}`,
      csrSubject: "CN=device",
      csrSans: [],
      ...overrides,
    });

  beforeAll(async () => {
    db = await createTestDatabase({ maxConnections: 12 });
    core = createTestCore(db);
    issuing = (await core.bootstrap()).issuing!;
    endpoints = createScepEndpointService({
      pool: db.pool,
      audit: core.audit,
      clock,
      keyEncryption: core.keyEncryption,
      logger: testLogger,
    });
    challenges = createScepChallengeService({ pool: db.pool, audit: core.audit, clock, endpoints });
    dynamic = await endpoints.create(
      { name: "mdm", caId: issuing.id, profileName: "device", challengeMode: "dynamic", challengeLifetimeSeconds: 600 },
      admin,
    );
  });
  afterAll(async () => {
    await core?.committer.close();
    await db?.drop();
  });

  it("mints a challenge shown once, stored as SHA-256, audited by id", async () => {
    const before = clock.now().getTime();
    const { challenge, record } = await challenges.mint({ endpointId: dynamic.id }, admin);
    expect(challenge).toMatch(/^[0-9a-f]{40}$/);
    expect(record).toMatchObject({
      endpointId: dynamic.id,
      boundSubject: null,
      boundSans: null,
      createdBy: admin.actor,
      usedAt: null,
      usedTransactionId: null,
      revokedAt: null,
    });
    // The endpoint's default lifetime.
    expect(record.expiresAt.getTime() - record.createdAt.getTime()).toBe(600_000);
    expect(record.createdAt.getTime()).toBeGreaterThanOrEqual(before - 1);

    const stored = await db.pool.oneFirst(sql.type(z.object({ row: z.string() }))`
      SELECT row_to_json(c)::text AS row FROM scep_challenges c WHERE id = ${record.id}`);
    expect(stored).not.toContain(challenge);
    const hash = await db.pool.oneFirst(sql.type(z.object({ challenge_hash: z.instanceof(Buffer) }))`
      SELECT challenge_hash FROM scep_challenges WHERE id = ${record.id}`);
    expect(hash).toEqual(createHash("sha256").update(challenge).digest());

    const [event] = await core.audit.find(
      { target: `scep-challenge:${record.id}` },
      { order: "oldest", cursor: undefined, limit: 10 },
    );
    expect(event).toMatchObject({
      actor: admin.actor,
      action: "scep.challenge.create",
      details: { endpointId: dynamic.id, endpoint: "mdm", expiresAt: record.expiresAt.toISOString() },
    });
    expect(JSON.stringify(event?.details)).not.toContain(challenge);
  });

  it("refuses to mint for other modes, unknown endpoints, and bad input", async () => {
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
    const wrongMode = await refusal(challenges.mint({ endpointId: staticEndpoint.id }, admin));
    expect(wrongMode).toMatchObject({ code: "failed_precondition" });
    expect(wrongMode.message).toMatch(/static mode; one-time challenges need dynamic mode/);
    expect((await refusal(challenges.mint({ endpointId: randomUUID() }, admin))).code).toBe("not_found");
    const bad: Array<[Parameters<ScepChallengeService["mint"]>[0], RegExp]> = [
      [{ endpointId: dynamic.id, lifetimeSeconds: 59 }, /^lifetime_seconds:/],
      [{ endpointId: dynamic.id, lifetimeSeconds: 2_592_001 }, /^lifetime_seconds:/],
      [{ endpointId: dynamic.id, boundSubject: "CN" }, /^bound_subject:/],
      [{ endpointId: dynamic.id, boundSubject: "XYZ=1" }, /^bound_subject: unknown attribute type/],
      [{ endpointId: dynamic.id, boundSans: ["host.example.com"] }, /^bound_sans:/],
      [{ endpointId: dynamic.id, boundSans: ["ip:1.2.3"] }, /^bound_sans:/],
    ];
    for (const [input, message] of bad) {
      const err = await refusal(challenges.mint(input, admin));
      expect({ input, code: err.code, message: err.message }).toMatchObject({
        code: "invalid_argument",
        message: expect.stringMatching(message),
      });
    }
  });

  it("is spent by exactly one of ten concurrent redeems, across replicas", async () => {
    const { challenge, record } = await challenges.mint({ endpointId: dynamic.id }, admin);
    const replicas = [challenges, createScepChallengeService({ pool: db.pool, audit: core.audit, clock, endpoints })];
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        replicas[i % 2]!.redeem({
          endpointId: dynamic.id,
          challenge,
          transactionId: `race-${i}`,
          csrSubject: "CN=device",
          csrSans: [],
        }),
      ),
    );
    const ok = results.filter((r) => r.ok);
    expect(ok).toEqual([{ ok: true, challengeId: record.id }]);
    expect(results.filter((r) => !r.ok)).toEqual(Array.from({ length: 9 }, () => ({ ok: false, reason: "used" })));
    const [listed] = (await challenges.list(dynamic.id, { pageSize: 1000 })).challenges.filter(
      (c) => c.id === record.id,
    );
    expect(listed?.usedAt).not.toBeNull();
    expect(listed?.usedTransactionId).toMatch(/^race-\d$/);
    // And a later reuse is refused the same way.
    expect(await redeem(challenge)).toEqual({ ok: false, reason: "used" });
  });

  it("tells unknown, expired and another endpoint's challenges apart", async () => {
    const { challenge } = await challenges.mint({ endpointId: dynamic.id, lifetimeSeconds: 60 }, admin);
    expect(await redeem("0".repeat(40))).toEqual({ ok: false, reason: "unknown" });
    expect(await redeem("")).toEqual({ ok: false, reason: "unknown" });
    expect(await redeem(challenge, { endpointId: randomUUID() })).toEqual({ ok: false, reason: "unknown" });
    expect(await redeem(challenge, { endpointId: "not-a-uuid" })).toEqual({ ok: false, reason: "unknown" });
    clock.advance(61_000);
    try {
      expect(await redeem(challenge)).toEqual({ ok: false, reason: "expired" });
    } finally {
      clock.advance(-61_000);
    }
    // The clock going back (a test artefact) shows the expired one was not spent by the refusal.
    expect(await redeem(challenge)).toMatchObject({ ok: true });
    expect((await refusal(redeem(challenge, { transactionId: "" }))).code).toBe("invalid_argument");
  });

  it("revokes a challenge once; a spent one cannot be revoked", async () => {
    const { challenge, record } = await challenges.mint({ endpointId: dynamic.id }, admin);
    const revoked = await challenges.revoke(dynamic.id, record.id, admin);
    expect(revoked.revokedAt).not.toBeNull();
    expect(await challenges.revoke(dynamic.id, record.id, admin)).toEqual(revoked);
    expect(await redeem(challenge)).toEqual({ ok: false, reason: "revoked" });
    const events = await core.audit.find(
      { target: `scep-challenge:${record.id}`, action: "scep.challenge.revoke" },
      { order: "oldest", cursor: undefined, limit: 10 },
    );
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ actor: admin.actor, details: { endpointId: dynamic.id } });

    const spent = await challenges.mint({ endpointId: dynamic.id }, admin);
    expect(await redeem(spent.challenge)).toMatchObject({ ok: true });
    expect((await refusal(challenges.revoke(dynamic.id, spent.record.id, admin))).code).toBe("failed_precondition");
    expect((await refusal(challenges.revoke(dynamic.id, randomUUID(), admin))).code).toBe("not_found");
    expect((await refusal(challenges.revoke(dynamic.id, "nope", admin))).code).toBe("not_found");
    // Named under another endpoint, a challenge reads as unknown.
    const other = await challenges.mint({ endpointId: dynamic.id }, admin);
    expect((await refusal(challenges.revoke(randomUUID(), other.record.id, admin))).code).toBe("not_found");
  });

  it("checks the binding before spending: a mismatched CSR leaves the challenge for the right one", async () => {
    const { challenge, record } = await challenges.mint(
      {
        endpointId: dynamic.id,
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
      expect(await redeem(challenge, attempt)).toEqual({ ok: false, reason: "binding_mismatch" });
    expect(
      (await challenges.list(dynamic.id, { pageSize: 1000 })).challenges.find((c) => c.id === record.id)?.usedAt,
    ).toBeNull();

    expect(await redeem(challenge, { csrSubject: csr.subjectString, csrSans, transactionId: "bound-ok" })).toEqual({
      ok: true,
      challengeId: record.id,
    });
    expect(await redeem(challenge, { csrSubject: csr.subjectString, csrSans })).toEqual({ ok: false, reason: "used" });
  });

  it("lists an endpoint's challenges oldest first, a page at a time", async () => {
    const other = await endpoints.create(
      { name: "mdm-list", caId: issuing.id, profileName: "device", challengeMode: "dynamic" },
      admin,
    );
    const records = [];
    for (let i = 0; i < 5; i++) records.push((await challenges.mint({ endpointId: other.id }, admin)).record);
    // By (created_at, id): two minted in the same millisecond are ordered by id.
    const minted = records
      .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || (a.id < b.id ? -1 : 1))
      .map((r) => r.id);
    const seen: string[] = [];
    let token = "";
    do {
      const page = await challenges.list(other.id, { pageSize: 2, pageToken: token });
      expect(page.challenges.length).toBeLessThanOrEqual(2);
      seen.push(...page.challenges.map((c) => c.id));
      token = page.nextPageToken;
    } while (token);
    expect(seen).toEqual(minted);
    expect((await refusal(challenges.list(randomUUID(), { pageSize: 10 }))).code).toBe("not_found");
    expect((await refusal(challenges.list(other.id, { pageSize: 10, pageToken: "x" }))).code).toBe("invalid_argument");
  });
});
