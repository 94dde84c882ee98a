import { Secret, type TOTP, URI } from "otpauth";
import { sql } from "slonik";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestCore, stopTestCore, type TestCore } from "../../../test/support/bootstrapped-core.ts";
import type { TestDatabase } from "../../../test/support/test-database.ts";
import type { Clock } from "../clock.ts";
import { createTotpService, type TotpService } from "./totp-service.ts";

describe("TOTP", () => {
  let db: TestDatabase;
  let core: TestCore;
  let now = new Date("2026-11-22T10:00:00Z");
  const clock: Clock = { now: () => now };
  let totp: TotpService;
  let userId: string;
  /** What the user scanned; later tests play the phone with it. */
  let enrollment: { uri: string; secretBase32: string };
  const by = { actor: "user:test", sourceIp: "127.0.0.1" };
  /** What the phone shows at `at`, from the enrolment URI the user scanned. */
  const codeAt = (uri: string, at: Date) => (URI.parse(uri) as TOTP).generate({ timestamp: at.getTime() });

  beforeAll(async () => {
    ({ db, core } = await startTestCore());
    totp = createTotpService({ pool: db.pool, audit: core.audit, keyEncryption: core.keyEncryption, clock });
    userId = (await core.users.create({ username: "otp-user" }, by)).id;
  });
  afterAll(() => stopTestCore(db, core));

  it("enrolls with an otpauth URI, confirms with a code from it, and seals the secret", async () => {
    enrollment = await totp.enroll(userId, "otp-user", by);
    expect(enrollment.uri).toMatch(/^otpauth:\/\/totp\/Chancery:otp-user\?/);
    expect(enrollment.uri).toContain("digits=6");
    expect(enrollment.uri).toContain("period=30");
    expect(await totp.isEnrolled(userId)).toBe(false);
    await expect(totp.verify(userId, codeAt(enrollment.uri, now), "issuing")).rejects.toMatchObject({
      code: "permission_denied",
    });

    await expect(totp.confirm(userId, "000000", by)).rejects.toMatchObject({ code: "invalid_argument" });
    await totp.confirm(userId, codeAt(enrollment.uri, now), by);
    expect(await totp.isEnrolled(userId)).toBe(true);

    const stored = (await db.pool.oneFirst(
      sql.unsafe`SELECT totp_secret_sealed FROM users WHERE id = ${userId}`,
    )) as Buffer;
    const raw = Buffer.from(Secret.fromBase32(enrollment.secretBase32).bytes);
    expect(stored.includes(raw)).toBe(false);
    expect(stored.length).toBeGreaterThan(raw.length);

    // Re-enrolling over a confirmed secret needs an admin reset.
    await expect(totp.enroll(userId, "otp-user", by)).rejects.toMatchObject({ code: "failed_precondition" });
  });

  it("accepts each code once, also one step either side, and refuses old, wrong or missing codes", async () => {
    const { uri } = enrollment;
    now = new Date(now.getTime() + 60_000);
    const code = codeAt(uri, now);
    await totp.verify(userId, code, "issuing");
    await expect(totp.verify(userId, code, "issuing")).rejects.toMatchObject({
      code: "permission_denied",
      message: expect.stringMatching(/already used/),
    });
    // The phone's clock 30 s behind: the previous step still counts, once, if not older than the last used.
    now = new Date(now.getTime() + 60_000);
    await totp.verify(userId, codeAt(uri, new Date(now.getTime() - 30_000)), "issuing");
    await expect(totp.verify(userId, codeAt(uri, new Date(now.getTime() - 120_000)), "issuing")).rejects.toMatchObject({
      code: "permission_denied",
    });
    await expect(totp.verify(userId, undefined, "issuing")).rejects.toMatchObject({ code: "permission_denied" });
    await expect(totp.verify(userId, "12345a", "issuing")).rejects.toMatchObject({ code: "permission_denied" });
  });

  it("lets two replicas race on one code and accepts it only once", async () => {
    const { uri } = enrollment;
    now = new Date(now.getTime() + 90_000);
    const other = createTotpService({ pool: db.pool, audit: core.audit, keyEncryption: core.keyEncryption, clock });
    const code = codeAt(uri, now);
    const results = await Promise.allSettled([totp.verify(userId, code, "x"), other.verify(userId, code, "x")]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
  });

  it("is reset by an admin, and every step is audited without the secret", async () => {
    await totp.reset(userId, { actor: "user:admin" });
    expect(await totp.isEnrolled(userId)).toBe(false);
    const actions = await db.pool.anyFirst(
      sql.unsafe`SELECT action FROM audit_events WHERE target = ${`user:${userId}`} AND action LIKE 'totp.%' ORDER BY seq`,
    );
    expect(actions).toEqual(["totp.enroll", "totp.confirm", "totp.reset"]);
    const details = await db.pool.anyFirst(
      sql.unsafe`SELECT details::text FROM audit_events WHERE action LIKE 'totp.%'`,
    );
    const { secretBase32 } = enrollment;
    expect(details.join(" ")).not.toContain(secretBase32);
  });
});
