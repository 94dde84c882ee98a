import { sql } from "slonik";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestCore, stopTestCore, type TestCore } from "../../../test/support/bootstrapped-core.ts";
import { createTestCore } from "../../../test/support/test-core.ts";
import { createTestDatabase, type TestDatabase } from "../../../test/support/test-database.ts";
import { systemClock } from "../clock.ts";
import { createTokenService, type TokenService } from "./token-service.ts";
import { createUserService, type UserService } from "./user-service.ts";

const admin = { actor: "user:admin", sourceIp: "192.0.2.10" };

describe("user service", () => {
  let db: TestDatabase;
  let core: TestCore;
  let users: UserService;
  let tokens: TokenService;
  beforeAll(async () => {
    ({ db, core } = await startTestCore({ maxConnections: 8 }));
    users = createUserService({ pool: db.pool, audit: core.audit, clock: systemClock });
    tokens = createTokenService({ pool: db.pool, audit: core.audit, clock: systemClock });
  });
  afterAll(() => stopTestCore(db, core));

  async function auditOf(target: string) {
    return db.pool.any(sql.unsafe`
      SELECT actor, action, source_ip, details FROM audit_events WHERE target = ${target} ORDER BY seq`);
  }

  it("creates a user with safe defaults, reads it back by id and username, and audits the creation", async () => {
    const alice = await users.create({ username: "alice", displayName: "Alice A.", email: "alice@example.com" }, admin);
    expect(alice).toMatchObject({
      username: "alice",
      displayName: "Alice A.",
      email: "alice@example.com",
      role: "user",
      disabled: false,
      apiAccess: false,
      allowedSubnets: [],
      assignedCaIds: [],
    });
    expect(alice.createTime).toBeInstanceOf(Date);
    expect(await users.get(alice.id)).toEqual(alice);
    expect(await users.getByUsername("alice")).toEqual(alice);
    expect(await auditOf(`user:${alice.id}`)).toEqual([
      {
        actor: "user:admin",
        action: "user.create",
        source_ip: "192.0.2.10",
        details: {
          username: "alice",
          displayName: "Alice A.",
          email: "alice@example.com",
          role: "user",
          disabled: false,
          apiAccess: false,
          allowedSubnets: [],
          assignedCaIds: [],
        },
      },
    ]);
  });

  it("stores subnets canonically and CA assignments, validated", async () => {
    const root = await core.cas.createRoot(
      {
        name: "users-root",
        subject: [{ type: "CN", value: "Users Root" }],
        keyAlgorithm: "ecdsa-p256",
        validityDays: 30,
      },
      admin,
    );
    const bob = await users.create(
      {
        username: "bob.ops@example.com",
        role: "operator",
        allowedSubnets: ["10.0.0.0/8", "2001:DB8::/32", "10.0.0.0/8"],
        assignedCaIds: [root.id.toUpperCase()],
      },
      admin,
    );
    expect(bob.allowedSubnets).toEqual(["10.0.0.0/8", "2001:db8::/32"]);
    expect(bob.assignedCaIds).toEqual([root.id]);
    const unknownCa = "00000000-0000-4000-8000-000000000001";
    await expect(users.create({ username: "carol", assignedCaIds: [unknownCa] }, admin)).rejects.toMatchObject({
      code: "invalid_argument",
      message: `assignedCaIds: no CA with id ${unknownCa}`,
    });
    await expect(users.create({ username: "carol", assignedCaIds: ["ca-1"] }, admin)).rejects.toMatchObject({
      code: "invalid_argument",
      message: 'assignedCaIds[0]: "ca-1" is not a CA id',
    });
    await expect(users.create({ username: "carol", allowedSubnets: ["10.1.2.3/8"] }, admin)).rejects.toMatchObject({
      code: "invalid_argument",
      message: 'allowedSubnets[0]: "10.1.2.3/8" has bits set after the /8 prefix; did you mean 10.0.0.0/8?',
    });
    // Nothing half-made by the refused creates.
    await expect(users.getByUsername("carol")).rejects.toMatchObject({ code: "not_found" });
  });

  it.each([
    ["", "invalid_argument"],
    ["Alice", "invalid_argument"],
    ["a b", "invalid_argument"],
    ["x".repeat(65), "invalid_argument"],
    ["ümlaut", "invalid_argument"],
  ])("refuses username %j", async (username, code) => {
    await expect(users.create({ username }, admin)).rejects.toMatchObject({
      code,
      message: expect.stringMatching(/must be 1-64 characters of lower-case letters, digits, "\.", "_", "@" or "-"/),
    });
  });

  it("accepts a 64-character username and refuses a taken one, also when two creates race", async () => {
    await users.create({ username: "x".repeat(64) }, admin);
    await expect(users.create({ username: "alice" }, admin)).rejects.toMatchObject({
      code: "already_exists",
      message: 'a user named "alice" already exists',
    });
    const results = await Promise.allSettled([
      users.create({ username: "racer" }, admin),
      users.create({ username: "racer" }, admin),
      users.create({ username: "racer" }, admin),
    ]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    for (const r of results.filter((r) => r.status === "rejected"))
      expect((r as PromiseRejectedResult).reason).toMatchObject({ code: "already_exists" });
  });

  it("refuses bad roles, emails and display names", async () => {
    await expect(users.create({ username: "dave", role: "root" as never }, admin)).rejects.toMatchObject({
      code: "invalid_argument",
      message: 'role "root" must be "user", "operator" or "admin"',
    });
    await expect(users.create({ username: "dave", email: "not an email" }, admin)).rejects.toMatchObject({
      code: "invalid_argument",
    });
    await expect(users.create({ username: "dave", displayName: "bell\u0007" }, admin)).rejects.toMatchObject({
      code: "invalid_argument",
    });
  });

  it("answers not_found for an unknown or malformed id or username", async () => {
    await expect(users.get("00000000-0000-4000-8000-000000000009")).rejects.toMatchObject({ code: "not_found" });
    await expect(users.get("users/alice")).rejects.toMatchObject({ code: "not_found" });
    await expect(users.getByUsername("nobody")).rejects.toMatchObject({ code: "not_found" });
    await expect(users.update("nope", { role: "admin" }, admin)).rejects.toMatchObject({ code: "not_found" });
  });

  it("updates only the given fields, audits the differences, and skips a change that changes nothing", async () => {
    const erin = await users.create({ username: "erin" }, admin);
    const updated = await users.update(
      erin.id,
      { role: "operator", apiAccess: true, allowedSubnets: ["192.0.2.0/24"], displayName: "Erin" },
      admin,
    );
    expect(updated).toMatchObject({
      username: "erin",
      role: "operator",
      apiAccess: true,
      allowedSubnets: ["192.0.2.0/24"],
      displayName: "Erin",
      email: "",
      disabled: false,
    });
    expect(updated.updateTime.getTime()).toBeGreaterThanOrEqual(erin.updateTime.getTime());
    const same = await users.update(erin.id, { role: "operator", displayName: "Erin" }, admin);
    expect(same).toEqual(updated);
    const events = await auditOf(`user:${erin.id}`);
    expect(events.map((e) => e["action"])).toEqual(["user.create", "user.update"]);
    expect(events[1]).toMatchObject({
      actor: "user:admin",
      source_ip: "192.0.2.10",
      details: {
        username: "erin",
        changes: {
          role: { from: "user", to: "operator" },
          apiAccess: { from: false, to: true },
          allowedSubnets: { from: [], to: ["192.0.2.0/24"] },
          displayName: { from: "", to: "Erin" },
        },
      },
    });
    await expect(users.update(erin.id, { allowedSubnets: ["10.0.0.1"] }, admin)).rejects.toMatchObject({
      code: "invalid_argument",
      message: expect.stringContaining("write 10.0.0.1/32"),
    });
    await expect(
      users.update(erin.id, { assignedCaIds: ["00000000-0000-4000-8000-000000000002"] }, admin),
    ).rejects.toMatchObject({ code: "invalid_argument" });
  });

  it("revokes the token when a user is disabled, in the same transaction, and audits both", async () => {
    const frank = await users.create({ username: "frank", apiAccess: true }, admin);
    const { token } = await tokens.create(frank.id, { actor: `user:${frank.id}` });
    await users.update(frank.id, { disabled: true }, admin);
    await expect(tokens.get(frank.id)).rejects.toMatchObject({ code: "not_found" });
    const events = await auditOf(`user:${frank.id}`);
    expect(events.map((e) => e["action"])).toEqual(["user.create", "token.create", "user.update", "token.revoke"]);
    expect(events[3]).toMatchObject({
      actor: "user:admin",
      source_ip: "192.0.2.10",
      details: { username: "frank", prefix: token.prefix, reason: "user_disabled" },
    });
    // Re-enabling does not bring the token back.
    await users.update(frank.id, { disabled: false }, admin);
    await expect(tokens.get(frank.id)).rejects.toMatchObject({ code: "not_found" });
  });

  it("revokes the token when API access is turned off", async () => {
    const gina = await users.create({ username: "gina", apiAccess: true }, admin);
    await tokens.create(gina.id, admin);
    await users.update(gina.id, { apiAccess: false }, admin);
    await expect(tokens.get(gina.id)).rejects.toMatchObject({ code: "not_found" });
    const events = await auditOf(`user:${gina.id}`);
    expect(events.at(-1)).toMatchObject({ action: "token.revoke", details: { reason: "api_access_off" } });
  });

  it("refuses to remove the last enabled admin with API access, even when two admins demote each other at once", async () => {
    const root = await users.create({ username: "root-admin", role: "admin", apiAccess: true }, admin);
    const other = await users.create({ username: "other-admin", role: "admin", apiAccess: true }, admin);
    const results = await Promise.allSettled([
      users.update(root.id, { role: "operator" }, admin),
      users.update(other.id, { disabled: true }, admin),
    ]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const refused = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
    expect(refused.reason).toMatchObject({
      code: "failed_precondition",
      message: expect.stringMatching(/is the last enabled admin with API access/),
    });
    const remaining = results[0]!.status === "fulfilled" ? other : root;
    await expect(users.update(remaining.id, { apiAccess: false }, admin)).rejects.toMatchObject({
      code: "failed_precondition",
    });
    // Changes that keep it an active admin are fine.
    await users.update(remaining.id, { displayName: "The Admin", email: "admin@example.com" }, admin);
  });

  it("lists by username and by creation time in pages, with opaque tokens", async () => {
    const fresh = await createTestDatabase();
    try {
      const audit = createTestCore(fresh).audit;
      let t = Date.parse("2030-01-01T00:00:00Z");
      // Several users share one creation millisecond: the id breaks the tie.
      const clock = { now: () => new Date(Math.floor(t++ / 3) * 3) };
      const svc = createUserService({ pool: fresh.pool, audit, clock });
      const names = Array.from({ length: 25 }, (_, i) => `u${String((i * 7) % 25).padStart(2, "0")}`);
      const created = [];
      for (const username of names) created.push(await svc.create({ username }, admin));
      // One row written outside the core, with a microsecond timestamp.
      await fresh.pool.query(sql.unsafe`
        INSERT INTO users (id, username, role, created_at, updated_at)
        VALUES ('ffffffff-0000-4000-8000-000000000000', 'zz-hand', 'user',
          '2030-01-01T00:00:00.004567Z', '2030-01-01T00:00:00.004567Z')`);

      const walk = async (orderBy: "username" | "create_time", pageSize: number) => {
        const seen: string[] = [];
        let pageToken = "";
        let pages = 0;
        do {
          const page = await svc.list({ orderBy, pageSize, pageToken });
          expect(page.users.length).toBeLessThanOrEqual(pageSize);
          seen.push(...page.users.map((u) => u.username));
          pageToken = page.nextPageToken;
          pages++;
        } while (pageToken);
        return { seen, pages };
      };

      const byName = await walk("username", 7);
      expect(byName.seen).toEqual([...names, "zz-hand"].sort());
      expect(byName.pages).toBe(4);
      const byTime = await walk("create_time", 4);
      const expected = [
        ...created.map((u) => ({ u: u.username, t: u.createTime.getTime(), id: u.id })),
        { u: "zz-hand", t: Date.parse("2030-01-01T00:00:00.004Z") + 0.567, id: "ffffffff-0000-4000-8000-000000000000" },
      ]
        .sort((a, b) => a.t - b.t || (a.id < b.id ? -1 : 1))
        .map((x) => x.u);
      expect(byTime.seen).toEqual(expected);
      expect(new Set(byTime.seen).size).toBe(26);

      const all = await svc.list();
      expect(all.users).toHaveLength(26);
      expect(all.nextPageToken).toBe("");
      expect((await svc.list({ pageSize: 5000 })).users).toHaveLength(26);
      const first = await svc.list({ pageSize: 2 });
      await expect(svc.list({ pageToken: first.nextPageToken, orderBy: "create_time" })).rejects.toMatchObject({
        code: "invalid_argument",
      });
      await expect(svc.list({ pageToken: "garbage!" })).rejects.toMatchObject({ code: "invalid_argument" });
      await expect(svc.list({ pageSize: -1 })).rejects.toMatchObject({ code: "invalid_argument" });
      await expect(svc.list({ orderBy: "email" as never })).rejects.toMatchObject({ code: "invalid_argument" });
    } finally {
      await fresh.drop();
    }
  });

  it("keeps the audit chain intact", async () => {
    expect((await core.audit.verify()).ok).toBe(true);
  });
});
