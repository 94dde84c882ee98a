import { createHash } from "node:crypto";
import { sql } from "slonik";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestCore, stopTestCore, type TestCore } from "../../../test/support/bootstrapped-core.ts";
import type { TestDatabase } from "../../../test/support/test-database.ts";
import type { Clock } from "../clock.ts";
import { invalidEnrollmentCodeMessage } from "./token-enrollment.ts";
import { generateEnrollmentCode } from "./token-secret.ts";

const admin = { actor: "user:00000000-0000-4000-8000-0000000000ad", sourceIp: "2001:db8::10" };
const hour = 60 * 60 * 1000;

describe("token enrollment codes", () => {
  let db: TestDatabase;
  let core: TestCore;
  /** Moves forward on demand, so expiry needs no waiting. */
  let offsetMs = 0;
  const clock: Clock = { now: () => new Date(Date.now() + offsetMs) };
  const codes: string[] = [];
  let unique = 0;

  beforeAll(async () => {
    ({ db, core } = await startTestCore({ maxConnections: 8, clock }));
  });
  afterAll(async () => {
    await core?.authenticator.close();
    await stopTestCore(db, core);
  });

  async function enabledUser(extra: { allowedSubnets?: string[] } = {}) {
    return core.users.create({ username: `enrollee-${++unique}`, apiAccess: true, ...extra }, admin);
  }

  async function newCode(userId: string, ttlMs?: number) {
    const made = await core.tokens.createEnrollment(userId, admin, { ttlMs });
    codes.push(made.code);
    return made;
  }

  async function failureEvents(userOrAnonymous: string) {
    await core.authenticator.flush();
    return db.pool.any(sql.unsafe`
      SELECT actor, target, source_ip, details FROM audit_events
      WHERE action = 'auth.failure' AND actor = ${userOrAnonymous} ORDER BY seq`);
  }

  it("creates a code shown once, stores only its SHA-256, and redeems it once for a working token", async () => {
    const user = await enabledUser();
    const made = await newCode(user.id);
    expect(made.code).toMatch(/^chancery_enr_[A-Za-z0-9_-]{49}$/);
    expect(made.enrollment).toMatchObject({ userId: user.id, prefix: made.code.slice(0, 19), createdBy: admin.actor });
    expect(made.enrollment.expireTime.getTime() - made.enrollment.createTime.getTime()).toBe(24 * hour);
    const row = await db.pool.one(
      sql.unsafe`SELECT code_hash, prefix FROM token_enrollments WHERE user_id = ${user.id}`,
    );
    expect((row["code_hash"] as Buffer).equals(createHash("sha256").update(made.code).digest())).toBe(true);
    expect(await core.tokens.getEnrollment(user.id)).toEqual(made.enrollment);

    const redeemed = await core.tokens.redeemEnrollment(` ${made.code}\n`, "192.0.2.7");
    codes.push(redeemed.secret);
    expect(redeemed.token.userId).toBe(user.id);
    const principal = await core.authenticator.authenticate(redeemed.secret, "192.0.2.7");
    expect(principal.userId).toBe(user.id);

    // Used: gone, and refused like an unknown code.
    await expect(core.tokens.getEnrollment(user.id)).rejects.toMatchObject({ code: "not_found" });
    await expect(core.tokens.redeemEnrollment(made.code, "192.0.2.7")).rejects.toMatchObject({
      code: "unauthenticated",
      message: invalidEnrollmentCodeMessage,
    });
    // The token made with the code still works.
    expect((await core.authenticator.authenticate(redeemed.secret, "192.0.2.7")).userId).toBe(user.id);

    const events = await db.pool.any(sql.unsafe`
      SELECT actor, action, source_ip, details FROM audit_events WHERE target = ${`user:${user.id}`}
        AND action LIKE 'token.%' ORDER BY seq`);
    expect(events).toEqual([
      expect.objectContaining({
        actor: admin.actor,
        action: "token.enrollment.create",
        details: expect.objectContaining({ prefix: made.enrollment.prefix }),
      }),
      expect.objectContaining({
        actor: `user:${user.id}`,
        action: "token.enrollment.redeem",
        source_ip: "192.0.2.7",
        details: expect.objectContaining({ prefix: made.enrollment.prefix }),
      }),
      expect.objectContaining({
        actor: `user:${user.id}`,
        action: "token.create",
        details: expect.objectContaining({ prefix: redeemed.token.prefix, enrollmentPrefix: made.enrollment.prefix }),
      }),
    ]);
  });

  it("lets two concurrent redemptions of one code make exactly one token", async () => {
    const user = await enabledUser();
    const { code } = await newCode(user.id);
    const results = await Promise.allSettled(Array.from({ length: 4 }, () => core.tokens.redeemEnrollment(code, "")));
    const won = results.filter((r) => r.status === "fulfilled");
    expect(won).toHaveLength(1);
    for (const lost of results.filter((r) => r.status === "rejected"))
      expect(lost.reason).toMatchObject({ code: "unauthenticated" });
    const secret = (won[0] as PromiseFulfilledResult<{ secret: string }>).value.secret;
    codes.push(secret);
    expect((await core.authenticator.authenticate(secret, "")).userId).toBe(user.id);
  });

  it("keeps one code per user: a new one replaces the old, which stops working", async () => {
    const user = await enabledUser();
    const first = await newCode(user.id);
    const second = await newCode(user.id);
    expect(
      await db.pool.oneFirst(sql.unsafe`
      SELECT count(*)::int FROM token_enrollments WHERE user_id = ${user.id}`),
    ).toBe(1);
    await expect(core.tokens.redeemEnrollment(first.code, "")).rejects.toMatchObject({ code: "unauthenticated" });
    const redeemed = await core.tokens.redeemEnrollment(second.code, "");
    codes.push(redeemed.secret);
    const replaced = await db.pool.one(sql.unsafe`
      SELECT details FROM audit_events WHERE action = 'token.enrollment.create' AND target = ${`user:${user.id}`}
      ORDER BY seq DESC LIMIT 1`);
    expect(replaced["details"]).toMatchObject({ replacedPrefix: first.enrollment.prefix });
  });

  it("refuses an expired code, and deletes it", async () => {
    const user = await enabledUser();
    const { code } = await newCode(user.id, 10 * 60 * 1000);
    offsetMs = 11 * 60 * 1000;
    try {
      await expect(core.tokens.getEnrollment(user.id)).rejects.toMatchObject({ code: "not_found" });
      await expect(core.tokens.redeemEnrollment(code, "198.51.100.3")).rejects.toMatchObject({
        code: "unauthenticated",
        message: invalidEnrollmentCodeMessage,
      });
    } finally {
      offsetMs = 0;
    }
    expect(await db.pool.maybeOne(sql.unsafe`SELECT 1 FROM token_enrollments WHERE user_id = ${user.id}`)).toBeNull();
    await expect(core.tokens.get(user.id)).rejects.toMatchObject({ code: "not_found" });
    expect(await failureEvents(`user:${user.id}`)).toEqual([
      {
        actor: `user:${user.id}`,
        target: `user:${user.id}`,
        source_ip: "198.51.100.3",
        details: { reason: "expired_code", credential: "enrollment_code", count: 1 },
      },
    ]);
  });

  it("respects the user's allowed subnets without consuming the code", async () => {
    const user = await enabledUser({ allowedSubnets: ["10.20.0.0/16"] });
    const { code } = await newCode(user.id);
    await expect(core.tokens.redeemEnrollment(code, "192.0.2.9")).rejects.toMatchObject({
      code: "permission_denied",
      message: "calls from 192.0.2.9 are not allowed for this account",
    });
    const redeemed = await core.tokens.redeemEnrollment(code, "10.20.3.4");
    codes.push(redeemed.secret);
    expect((await failureEvents(`user:${user.id}`)).map((e) => e["details"])).toEqual([
      { reason: "subnet_denied", credential: "enrollment_code", count: 1 },
    ]);
  });

  it("revokes the outstanding code when the user loses API access or is disabled, or on request", async () => {
    const noApi = await enabledUser();
    const first = await newCode(noApi.id);
    await core.users.update(noApi.id, { apiAccess: false }, admin);
    await expect(core.tokens.getEnrollment(noApi.id)).rejects.toMatchObject({ code: "not_found" });
    // Turning it back on does not bring the old code back.
    await core.users.update(noApi.id, { apiAccess: true }, admin);
    await expect(core.tokens.redeemEnrollment(first.code, "")).rejects.toMatchObject({ code: "unauthenticated" });

    const disabled = await enabledUser();
    const second = await newCode(disabled.id);
    await core.users.update(disabled.id, { disabled: true }, admin);
    await expect(core.tokens.redeemEnrollment(second.code, "")).rejects.toMatchObject({ code: "unauthenticated" });
    await expect(core.tokens.createEnrollment(disabled.id, admin)).rejects.toMatchObject({
      code: "failed_precondition",
    });

    const withdrawn = await enabledUser();
    const third = await newCode(withdrawn.id);
    expect(await core.tokens.revokeEnrollment(withdrawn.id, admin)).toBe(true);
    expect(await core.tokens.revokeEnrollment(withdrawn.id, admin)).toBe(false);
    await expect(core.tokens.redeemEnrollment(third.code, "")).rejects.toMatchObject({ code: "unauthenticated" });

    const revocations = await db.pool.any(sql.unsafe`
      SELECT target, details FROM audit_events WHERE action = 'token.enrollment.revoke'
        AND target IN (${`user:${noApi.id}`}, ${`user:${disabled.id}`}, ${`user:${withdrawn.id}`}) ORDER BY seq`);
    expect(revocations.map((e) => [e["target"], (e["details"] as { reason: string }).reason])).toEqual([
      [`user:${noApi.id}`, "api_access_off"],
      [`user:${disabled.id}`, "user_disabled"],
      [`user:${withdrawn.id}`, "revoked"],
    ]);
  });

  it("refuses codes to users without API access, unknown users and out-of-range lifetimes", async () => {
    const noApi = await core.users.create({ username: `no-api-${++unique}` }, admin);
    await expect(core.tokens.createEnrollment(noApi.id, admin)).rejects.toMatchObject({
      code: "failed_precondition",
      message: `user "${noApi.username}" does not have API access; an admin must turn it on first`,
    });
    await expect(core.tokens.createEnrollment("00000000-0000-4000-8000-00000000000f", admin)).rejects.toMatchObject({
      code: "not_found",
    });
    const user = await enabledUser();
    for (const ttlMs of [60_000, 8 * 24 * hour, 1.5 * hour + 0.5])
      await expect(core.tokens.createEnrollment(user.id, admin, { ttlMs })).rejects.toMatchObject({
        code: "invalid_argument",
        message: "an enrollment code lives from 5 minutes to 7 days",
      });
  });

  it("redeeming replaces a token the user still has (how a user who lost theirs gets back in)", async () => {
    const user = await enabledUser();
    const old = await core.tokens.create(user.id, admin);
    const { code } = await newCode(user.id);
    const redeemed = await core.tokens.redeemEnrollment(code, "");
    codes.push(old.secret, redeemed.secret);
    await expect(core.authenticator.authenticate(old.secret, "")).rejects.toMatchObject({ code: "unauthenticated" });
    expect((await core.authenticator.authenticate(redeemed.secret, "")).userId).toBe(user.id);
  });

  it("audits missing, malformed and unknown codes as anonymous sign-in failures with the address", async () => {
    const before = (await failureEvents("anonymous")).length;
    const truncated = (await newCode((await enabledUser()).id)).code.slice(0, -1);
    for (const code of ["", "chancery_enr_nope", truncated])
      await expect(core.tokens.redeemEnrollment(code, "203.0.113.1")).rejects.toMatchObject({
        code: "unauthenticated",
      });
    // A well-formed code that was never issued (valid checksum, unknown hash).
    await expect(core.tokens.redeemEnrollment(generateEnrollmentCode().secret, "203.0.113.1")).rejects.toMatchObject({
      code: "unauthenticated",
    });
    const events = (await failureEvents("anonymous")).slice(before);
    expect(events.map((e) => [e["source_ip"], e["details"]])).toEqual([
      ["203.0.113.1", { reason: "missing_code", credential: "enrollment_code", count: 1 }],
      [
        "203.0.113.1",
        { reason: "malformed_code", credential: "enrollment_code", count: 2, lastAt: expect.any(String) },
      ],
      ["203.0.113.1", { reason: "unknown_code", credential: "enrollment_code", count: 1 }],
    ]);
  });

  it("never writes a code, a token or their hashes into the audit chain", async () => {
    const everything = await db.pool.oneFirst(sql.unsafe`
      SELECT string_agg(actor || ' ' || action || ' ' || target || ' ' || details::text, E'\n') FROM audit_events`);
    expect(codes.length).toBeGreaterThan(5);
    for (const secret of codes) {
      expect(everything).not.toContain(secret);
      expect(everything).not.toContain(secret.slice(19, 40));
      expect(everything).not.toContain(createHash("sha256").update(secret).digest("hex"));
    }
    expect((await core.audit.verify()).ok).toBe(true);
  });
});
