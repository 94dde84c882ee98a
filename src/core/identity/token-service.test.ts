import { createHash } from "node:crypto";
import { sql } from "slonik";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestCore, stopTestCore, type TestCore } from "../../../test/support/bootstrapped-core.ts";
import type { TestDatabase } from "../../../test/support/test-database.ts";
import { systemClock } from "../clock.ts";
import { createTokenService, type TokenService } from "./token-service.ts";
import { createUserService, type UserService } from "./user-service.ts";

const admin = { actor: "user:admin", sourceIp: "2001:db8::10" };

describe("token service", () => {
  let db: TestDatabase;
  let core: TestCore;
  let users: UserService;
  let tokens: TokenService;
  const secrets: string[] = [];
  beforeAll(async () => {
    ({ db, core } = await startTestCore({ maxConnections: 8 }));
    users = createUserService({ pool: db.pool, audit: core.audit, clock: systemClock });
    tokens = createTokenService({ pool: db.pool, audit: core.audit, clock: systemClock });
  });
  afterAll(() => stopTestCore(db, core));

  const storedRow = (userId: string) =>
    db.pool.maybeOne(sql.unsafe`
      SELECT prefix, token_hash, created_at, last_used_at FROM personal_access_tokens WHERE user_id = ${userId}`);

  it("creates a token, shows the secret once and stores only its SHA-256", async () => {
    const user = await users.create({ username: "tess", apiAccess: true }, admin);
    const created = await tokens.create(user.id, { actor: `user:${user.id}`, sourceIp: "2001:db8::20" });
    secrets.push(created.secret);
    expect(created.secret).toMatch(/^chancery_pat_[A-Za-z0-9_-]{49}$/);
    expect(created.token).toMatchObject({ userId: user.id, prefix: created.secret.slice(0, 19), lastUsedTime: null });
    expect(created.token.prefix).toMatch(/^chancery_pat_[A-Za-z0-9_-]{6}$/);

    const row = (await storedRow(user.id))!;
    const hash = row["token_hash"] as Buffer;
    expect(hash.equals(createHash("sha256").update(created.secret).digest())).toBe(true);
    expect(hash.toString("utf8")).not.toContain(created.secret);
    expect(row["prefix"]).toBe(created.token.prefix);

    // Shown once: nothing later returns the secret.
    const info = await tokens.get(user.id);
    expect(info).toEqual(created.token);
    expect(JSON.stringify(info)).not.toContain(created.secret.slice(19));

    await expect(tokens.create(user.id, admin)).rejects.toMatchObject({
      code: "already_exists",
      message: 'user "tess" already has a personal access token; regenerate it to get a new one',
    });
  });

  it("regenerates atomically: new secret, new hash, the old row replaced", async () => {
    const user = await users.getByUsername("tess");
    const before = (await storedRow(user.id))!;
    const again = await tokens.regenerate(user.id, admin);
    secrets.push(again.secret);
    const after = (await storedRow(user.id))!;
    expect(again.secret).not.toBe(secrets[0]);
    expect((after["token_hash"] as Buffer).equals(before["token_hash"] as Buffer)).toBe(false);
    expect((after["token_hash"] as Buffer).equals(createHash("sha256").update(again.secret).digest())).toBe(true);
    expect(await db.pool.oneFirst(sql.unsafe`SELECT count(*)::int FROM personal_access_tokens`)).toBe(1);
    // Concurrent regenerations leave exactly one token, the one of the last to commit.
    const many = await Promise.all(Array.from({ length: 5 }, () => tokens.regenerate(user.id, admin)));
    secrets.push(...many.map((t) => t.secret));
    const final = (await storedRow(user.id))!;
    expect(many.filter((t) => t.token.prefix === final["prefix"])).toHaveLength(1);
  });

  it("regenerate makes a first token when there is none", async () => {
    const user = await users.create({ username: "uma", apiAccess: true }, admin);
    const made = await tokens.regenerate(user.id, admin);
    secrets.push(made.secret);
    expect(await tokens.get(user.id)).toEqual(made.token);
  });

  it("revokes idempotently", async () => {
    const user = await users.getByUsername("tess");
    expect(await tokens.revoke(user.id, admin)).toBe(true);
    expect(await tokens.revoke(user.id, admin)).toBe(false);
    expect(await storedRow(user.id)).toBeNull();
    await expect(tokens.get(user.id)).rejects.toMatchObject({
      code: "not_found",
      message: 'user "tess" has no personal access token',
    });
    // And a new one can be made after a revoke.
    secrets.push((await tokens.create(user.id, admin)).secret);
  });

  it("refuses a token to a user without API access or disabled, and to an unknown user", async () => {
    const noApi = await users.create({ username: "vic" }, admin);
    await expect(tokens.create(noApi.id, admin)).rejects.toMatchObject({
      code: "failed_precondition",
      message: 'user "vic" does not have API access; an admin must turn it on first',
    });
    await expect(tokens.regenerate(noApi.id, admin)).rejects.toMatchObject({ code: "failed_precondition" });
    const disabled = await users.create({ username: "walt", apiAccess: true, disabled: true }, admin);
    await expect(tokens.create(disabled.id, admin)).rejects.toMatchObject({
      code: "failed_precondition",
      message: 'user "walt" is disabled and cannot have a token',
    });
    const unknown = "00000000-0000-4000-8000-00000000000f";
    await expect(tokens.create(unknown, admin)).rejects.toMatchObject({ code: "not_found" });
    await expect(tokens.revoke(unknown, admin)).rejects.toMatchObject({ code: "not_found" });
    await expect(tokens.get("not-a-uuid")).rejects.toMatchObject({ code: "not_found" });
  });

  it("audits every token change with actor, source IP and prefix, and never the secret or its hash", async () => {
    const tess = await users.getByUsername("tess");
    const events = await db.pool.any(sql.unsafe`
      SELECT actor, action, source_ip, details FROM audit_events WHERE target = ${`user:${tess.id}`} ORDER BY seq`);
    expect(events.map((e) => e["action"])).toEqual([
      "user.create",
      "token.create",
      "token.regenerate",
      ...Array(5).fill("token.regenerate"),
      "token.revoke",
      "token.create",
    ]);
    expect(events[1]).toMatchObject({
      actor: `user:${tess.id}`,
      source_ip: "2001:db8::20",
      details: { username: "tess", prefix: secrets[0]!.slice(0, 19) },
    });
    expect(events[2]).toMatchObject({
      actor: "user:admin",
      source_ip: "2001:db8::10",
      details: { prefix: secrets[1]!.slice(0, 19), replacedPrefix: secrets[0]!.slice(0, 19) },
    });
    const everything = await db.pool.oneFirst(sql.unsafe`
      SELECT string_agg(actor || ' ' || action || ' ' || target || ' ' || details::text, E'\n') FROM audit_events`);
    for (const secret of secrets) {
      expect(everything).not.toContain(secret);
      expect(everything).not.toContain(secret.slice(19, 40));
      expect(everything).not.toContain(createHash("sha256").update(secret).digest("hex"));
      expect(everything).not.toContain(createHash("sha256").update(secret).digest("base64"));
    }
    expect((await core.audit.verify()).ok).toBe(true);
  });
});
