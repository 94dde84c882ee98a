import pino from "pino";
import { sql } from "slonik";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { holdAuditHead } from "../../../test/support/audit-head-lock.ts";
import { startTestCore, stopTestCore, type TestCore } from "../../../test/support/bootstrapped-core.ts";
import type { TestDatabase } from "../../../test/support/test-database.ts";
import { createDatabasePool } from "../../store/pool.ts";
import { type Authenticator, createAuthenticator, unauthenticatedMessage } from "./authenticator.ts";
import { generateTokenSecret } from "./token-secret.ts";
import { createTokenService, type TokenService } from "./token-service.ts";
import { createUserService, type UserService } from "./user-service.ts";

const admin = { actor: "user:admin", sourceIp: "127.0.0.1" };

describe("authenticator", () => {
  let db: TestDatabase;
  let core: TestCore;
  let users: UserService;
  let tokens: TokenService;
  let auth: Authenticator;
  let now = Date.parse("2031-05-01T12:00:00.000Z");
  const clock = { now: () => new Date(now) };
  const logLines: string[] = [];
  const logger = pino({ level: "trace" }, { write: (line: string) => logLines.push(line) });
  const secrets: string[] = [];

  beforeAll(async () => {
    ({ db, core } = await startTestCore({ maxConnections: 10 }));
    users = createUserService({ pool: db.pool, audit: core.audit, clock });
    tokens = createTokenService({ pool: db.pool, audit: core.audit, clock });
    auth = createAuthenticator({ pool: db.pool, clock, audit: core.audit, logger });
  });
  afterAll(async () => {
    await auth?.close();
    await stopTestCore(db, core);
  });

  async function userWithToken(username: string, extra: Partial<Parameters<UserService["create"]>[0]> = {}) {
    const user = await users.create({ username, apiAccess: true, ...extra }, admin);
    const { secret } = await tokens.create(user.id, { actor: `user:${user.id}` });
    secrets.push(secret);
    return { user, secret };
  }

  async function failuresSince(seq: bigint) {
    await auth.flush();
    return db.pool.any(sql.unsafe`
      SELECT actor, target, source_ip, details FROM audit_events
      WHERE action = 'auth.failure' AND seq > ${seq.toString()}::bigint ORDER BY seq`);
  }

  const headSeq = async () =>
    BigInt(await db.pool.oneFirst(sql.unsafe`SELECT seq::text FROM audit_chain_head WHERE id = 1`));

  it("authenticates a token to its principal and records the last use in the background", async () => {
    const ca = await core.cas.createRoot(
      { name: "auth-root", subject: [{ type: "CN", value: "Auth Root" }], keyAlgorithm: "ecdsa-p256", validityDays: 9 },
      admin,
    );
    const { user, secret } = await userWithToken("olga", {
      role: "operator",
      assignedCaIds: [ca.id],
      allowedSubnets: ["127.0.0.0/8"],
    });
    const principal = await auth.authenticate(secret, "127.0.0.1");
    expect(principal).toEqual({
      userId: user.id,
      username: "olga",
      role: "operator",
      assignedCaIds: [ca.id],
      allowedSubnets: ["127.0.0.0/8"],
    });
    expect(await auth.authenticate(`Bearer ${secret}`, "127.0.0.2")).toEqual(principal);
    // Not written on the request path...
    expect((await tokens.get(user.id)).lastUsedTime).toBeNull();
    // ...but in the background, soon after.
    await auth.flush();
    expect((await tokens.get(user.id)).lastUsedTime).toEqual(new Date(now));

    // Within the interval further uses write nothing; after it, the next one does.
    const first = now;
    now += 30_000;
    await auth.authenticate(secret, "127.0.0.1");
    await auth.flush();
    expect((await tokens.get(user.id)).lastUsedTime).toEqual(new Date(first));
    now += 31_000;
    await auth.authenticate(secret, "127.0.0.1");
    await auth.flush();
    expect((await tokens.get(user.id)).lastUsedTime).toEqual(new Date(now));
  });

  it("writes last-used times without the caller waiting, flushing on a timer", async () => {
    const quick = createAuthenticator({
      pool: db.pool,
      clock,
      audit: core.audit,
      options: { lastUsedFlushDelayMs: 10 },
    });
    try {
      const { user, secret } = await userWithToken("quincy");
      now += 1_000;
      await quick.authenticate(secret, "10.9.9.9");
      await expect
        .poll(async () => (await tokens.get(user.id)).lastUsedTime, { timeout: 5_000 })
        .toEqual(new Date(now));
    } finally {
      await quick.close();
    }
  });

  it("refuses missing, malformed, unknown, revoked and replaced tokens alike, and audits each reason", async () => {
    const seq = await headSeq();
    const { user, secret } = await userWithToken("rita");
    const peer = "198.51.100.7";
    const refuse = async (token: string | undefined) => {
      const err = await auth.authenticate(token, peer).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toMatchObject({ code: "unauthenticated", message: unauthenticatedMessage });
      return err;
    };
    await refuse(undefined);
    await refuse("");
    await refuse("Bearer ");
    await refuse("chancery_pat_short");
    await refuse(`${secret.slice(0, -1)}${secret.endsWith("A") ? "B" : "A"}`); // typo: checksum fails
    await refuse(generateTokenSecret().secret); // well-formed, never issued
    const replaced = secret;
    const { secret: current } = await tokens.regenerate(user.id, admin);
    secrets.push(current);
    await refuse(replaced);
    await auth.authenticate(current, peer);
    await tokens.revoke(user.id, admin);
    await refuse(current);

    const events = await failuresSince(seq);
    const byReason = new Map(events.map((e) => [(e["details"] as { reason: string }).reason, e]));
    expect([...byReason.keys()].sort()).toEqual(["malformed_token", "missing_token", "unknown_token"]);
    expect(byReason.get("missing_token")).toMatchObject({
      actor: "anonymous",
      target: "auth",
      source_ip: peer,
      details: { count: 3 },
    });
    expect(byReason.get("malformed_token")).toMatchObject({ details: { count: 2 } });
    expect(byReason.get("unknown_token")).toMatchObject({ details: { count: 3 } });
  });

  it("refuses a disabled user or one without API access with the same unauthenticated answer", async () => {
    const seq = await headSeq();
    const { user, secret } = await userWithToken("sam");
    // Through the service: disabling revokes the token, so it is simply unknown.
    const { user: viaService, secret: viaServiceSecret } = await userWithToken("sam2");
    await users.update(viaService.id, { disabled: true }, admin);
    await expect(auth.authenticate(viaServiceSecret, "127.0.0.1")).rejects.toMatchObject({
      code: "unauthenticated",
      message: unauthenticatedMessage,
    });
    // Behind the service's back (a row edited by hand): still refused.
    await db.pool.query(sql.unsafe`UPDATE users SET disabled = true WHERE id = ${user.id}`);
    await expect(auth.authenticate(secret, "127.0.0.1")).rejects.toMatchObject({
      code: "unauthenticated",
      message: unauthenticatedMessage,
    });
    await db.pool.query(sql.unsafe`UPDATE users SET disabled = false, api_access = false WHERE id = ${user.id}`);
    await expect(auth.authenticate(secret, "127.0.0.1")).rejects.toMatchObject({
      code: "unauthenticated",
      message: unauthenticatedMessage,
    });
    const events = await failuresSince(seq);
    expect(events).toEqual([
      { actor: "anonymous", target: "auth", source_ip: "127.0.0.1", details: { reason: "unknown_token", count: 1 } },
      {
        actor: `user:${user.id}`,
        target: `user:${user.id}`,
        source_ip: "127.0.0.1",
        details: { reason: "user_disabled", count: 1 },
      },
      {
        actor: `user:${user.id}`,
        target: `user:${user.id}`,
        source_ip: "127.0.0.1",
        details: { reason: "api_access_off", count: 1 },
      },
    ]);
  });

  it("allows and denies by subnet for IPv4, IPv6 and IPv4-mapped IPv6 peers", async () => {
    const seq = await headSeq();
    const { user, secret } = await userWithToken("tina", { allowedSubnets: ["10.0.0.0/8", "2001:db8:aa::/48"] });
    for (const ip of ["10.1.2.3", "::ffff:10.1.2.3", "2001:db8:aa::1", "2001:db8:aa:ffff::9"])
      expect((await auth.authenticate(secret, ip)).userId, ip).toBe(user.id);
    for (const ip of ["192.0.2.1", "::ffff:192.0.2.1", "2001:db8:bb::1", "::1", ""]) {
      const err = await auth.authenticate(secret, ip).then(
        () => null,
        (e: unknown) => e as Error,
      );
      expect(err, ip).toMatchObject({ code: "permission_denied" });
      expect(err!.message).toBe(`calls from ${ip || "an unknown address"} are not allowed for this account`);
      expect(err!.message).not.toContain("10.0.0.0");
    }
    const mapped = await userWithToken("uwe", { allowedSubnets: ["::ffff:192.0.2.0/120"] });
    expect((await auth.authenticate(mapped.secret, "192.0.2.5")).username).toBe("uwe");
    await expect(auth.authenticate(mapped.secret, "192.0.3.5")).rejects.toMatchObject({ code: "permission_denied" });

    const events = await failuresSince(seq);
    expect(events.map((e) => [e["actor"], e["source_ip"], (e["details"] as { reason: string }).reason])).toEqual([
      [`user:${user.id}`, "192.0.2.1", "subnet_denied"],
      [`user:${user.id}`, "::ffff:192.0.2.1", "subnet_denied"],
      [`user:${user.id}`, "2001:db8:bb::1", "subnet_denied"],
      [`user:${user.id}`, "::1", "subnet_denied"],
      [`user:${user.id}`, null, "subnet_denied"],
      [`user:${mapped.user.id}`, "192.0.3.5", "subnet_denied"],
    ]);
  });

  it("answers failures at once while the audit chain is busy, and writes a flood as a few bounded events", async () => {
    const flooded = createAuthenticator({
      pool: db.pool,
      clock,
      audit: core.audit,
      options: { maxPendingFailures: 20 },
    });
    const seq = await headSeq();
    // Hold the audit chain head, as a long transaction elsewhere would.
    const head = await holdAuditHead(db.pool);
    try {
      const unknown = generateTokenSecret().secret;
      const started = performance.now();
      const attempts = Array.from({ length: 2_000 }, (_, i) =>
        flooded.authenticate(i % 2 ? "junk" : unknown, `203.0.113.${i % 50}`).then(
          () => "ok",
          (e: { code: string }) => e.code,
        ),
      );
      const outcomes = await Promise.all(attempts);
      expect(new Set(outcomes)).toEqual(new Set(["unauthenticated"]));
      // Every caller had its answer although no audit event could be written yet.
      expect(performance.now() - started).toBeLessThan(20_000);
      expect(await headSeq()).toBe(seq);
    } finally {
      await head.release();
    }
    await flooded.close();
    const events = await db.pool.any(sql.unsafe`
      SELECT actor, source_ip, details FROM audit_events
      WHERE action = 'auth.failure' AND seq > ${seq.toString()}::bigint ORDER BY seq`);
    // 50 addresses x 2 reasons = 100 keys, at most 20 itemised per batch plus one count of the rest.
    expect(events.length).toBeLessThanOrEqual(2 * 21);
    const total = events.reduce((n, e) => n + (e["details"] as { count: number }).count, 0);
    expect(total).toBe(2_000);
    expect(events.some((e) => (e["details"] as { reason: string }).reason === "not_itemised")).toBe(true);
    expect((await core.audit.verify()).ok).toBe(true);
  });

  it("answers unavailable, not unauthenticated, when the database cannot be asked", async () => {
    const pool = await createDatabasePool(db.url, { maxConnections: 2, statementTimeoutMs: 5_000 });
    await pool.end();
    const offline = createAuthenticator({ pool, clock, audit: core.audit });
    await expect(offline.authenticate(generateTokenSecret().secret, "127.0.0.1")).rejects.toMatchObject({
      code: "unavailable",
    });
    await offline.close();
  });

  it("never writes a secret to the audit chain or the log", async () => {
    await auth.flush();
    const everything = await db.pool.oneFirst(sql.unsafe`
      SELECT string_agg(actor || ' ' || action || ' ' || target || ' ' || details::text, E'\n') FROM audit_events`);
    const log = logLines.join("");
    expect(log).toContain("authentication failed");
    for (const secret of secrets) {
      expect(everything).not.toContain(secret.slice(19));
      expect(log).not.toContain(secret.slice(19));
    }
  });
});
