import { sql } from "slonik";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestCore, stopTestCore, type TestCore } from "../../../test/support/bootstrapped-core.ts";
import type { TestDatabase } from "../../../test/support/test-database.ts";
import { systemClock } from "../clock.ts";
import { bootstrapAdmin } from "./bootstrap-admin.ts";
import { createTokenService } from "./token-service.ts";
import { createUserService } from "./user-service.ts";

describe("bootstrapAdmin", () => {
  let db: TestDatabase;
  let core: TestCore;
  beforeAll(async () => {
    ({ db, core } = await startTestCore({ maxConnections: 8 }));
  });
  afterAll(() => stopTestCore(db, core));

  it("creates exactly one first admin when several runs race, and nothing half-made when one fails", async () => {
    const deps = {
      pool: db.pool,
      users: createUserService({ pool: db.pool, audit: core.audit, clock: systemClock }),
      tokens: createTokenService({ pool: db.pool, audit: core.audit, clock: systemClock }),
    };
    await expect(bootstrapAdmin(deps, { username: "Not Valid" })).rejects.toMatchObject({ code: "invalid_argument" });
    const results = await Promise.allSettled(
      ["ann", "ben", "cid", "dot"].map((username) => bootstrapAdmin(deps, { username })),
    );
    const made = results.filter((r) => r.status === "fulfilled");
    expect(made).toHaveLength(1);
    for (const r of results.filter((r) => r.status === "rejected"))
      expect((r as PromiseRejectedResult).reason).toMatchObject({ code: "failed_precondition" });
    const { user, token } = (made[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof bootstrapAdmin>>>).value;
    expect(user).toMatchObject({ role: "admin", apiAccess: true, disabled: false });
    expect(token.token.userId).toBe(user.id);
    expect(await db.pool.oneFirst(sql.unsafe`SELECT count(*)::int FROM users`)).toBe(1);
    expect(await db.pool.oneFirst(sql.unsafe`SELECT count(*)::int FROM personal_access_tokens`)).toBe(1);
  });
});
