import { sql } from "slonik";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { startBootstrappedCore, stopTestCore, type TestCore } from "../../../test/support/bootstrapped-core.ts";
import type { TestDatabase } from "../../../test/support/test-database.ts";
import type { CertificateAuthority } from "../ca/certificate-authority.ts";
import { isChanceryError } from "../errors.ts";
import type { Role } from "../identity/role.ts";
import { createDefaultProfiles } from "../profiles/default-profiles.ts";
import type { Profile } from "../profiles/profile-schema.ts";
import { opensslCsr } from "../x509/testing/openssl.ts";
import type { RequestCaller } from "./request.ts";

const system = { actor: "test" };

describe("profile changes through the approval queue", () => {
  let db: TestDatabase;
  let core: TestCore;
  let issuing: CertificateAuthority;
  let alice: RequestCaller;
  let op: RequestCaller;
  let admin1: RequestCaller;
  let admin2: RequestCaller;
  let admin3: RequestCaller;
  let unique = 0;

  async function caller(username: string, role: Role, assignedCaIds: string[] = []): Promise<RequestCaller> {
    const user = await core.users.create({ username, role, assignedCaIds }, system);
    return { userId: user.id, role, assignedCaIds, sourceIp: "192.0.2.20" };
  }

  async function code(promise: Promise<unknown>): Promise<string> {
    try {
      await promise;
    } catch (err) {
      if (isChanceryError(err)) return err.code;
      throw err;
    }
    return "ok";
  }

  async function failure(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
    try {
      await promise;
    } catch (err) {
      if (isChanceryError(err)) return { code: err.code, message: err.message };
      throw err;
    }
    throw new Error("the call succeeded");
  }

  const auditEvents = (action: string, target: string) =>
    core.audit.find({ action, target }, { order: "oldest", cursor: undefined, limit: 100 });

  /** A fresh profile based on tls-server, requiring `approvers` distinct approvers (0: no approval rule). */
  async function profile(approvers: number): Promise<Profile> {
    const tlsServer = createDefaultProfiles().find((p) => p.name === "tls-server")!;
    const stored = await core.profiles.create(
      {
        ...tlsServer,
        name: `guarded-${++unique}`,
        requiresApproval: approvers > 0 ? { required: true, approvers } : { required: false, approvers: 1 },
      },
      system,
    );
    return stored.profile;
  }

  const describeAs = (name: string, description: string, by: RequestCaller) =>
    core.requests.submitProfileChange(
      {
        profileName: name,
        change: (current) => ({ ...current, description }),
        updateMask: ["description"],
        comment: "clearer description",
      },
      by,
    );

  async function issueUnder(profileName: string): Promise<string> {
    const issued = await core.issuance.issue({
      caId: issuing.id,
      profileName,
      csrDer: opensslCsr({ subject: "/CN=used.example.com" }),
      approved: { sans: [{ type: "dns", value: "used.example.com" }] },
      requester: "test",
      sourceProtocol: "admin",
    });
    return issued.serialHex;
  }

  beforeAll(async () => {
    ({ db, core, issuing } = await startBootstrappedCore({ maxConnections: 8 }));
    alice = await caller("alice", "user");
    op = await caller("op", "operator", [issuing.id]);
    admin1 = await caller("admin1", "admin");
    admin2 = await caller("admin2", "admin");
    admin3 = await caller("admin3", "admin");
  });
  afterAll(() => stopTestCore(db, core));

  it("takes profile changes from admins only, validated at submission, and keeps them from operators' view", async () => {
    const guarded = await profile(2);
    expect(await code(describeAs(guarded.name, "by a user", alice))).toBe("permission_denied");
    expect(await code(describeAs(guarded.name, "by an operator", op))).toBe("permission_denied");
    expect(await code(core.requests.submitProfileDeletion({ profileName: guarded.name }, op))).toBe(
      "permission_denied",
    );
    expect(await code(describeAs("no-such-profile", "x", admin1))).toBe("not_found");

    // The same validation as an update: the schema, the name, and a change that changes something.
    const invalid = await failure(
      core.requests.submitProfileChange(
        {
          profileName: guarded.name,
          change: (current) => ({ ...current, validity: { default: 900, max: 60 } }),
          updateMask: ["validity"],
        },
        admin1,
      ),
    );
    expect(invalid).toMatchObject({ code: "invalid_argument", message: expect.stringContaining("validity.default") });
    expect(
      await code(
        core.requests.submitProfileChange(
          { profileName: guarded.name, change: (current) => ({ ...current, name: "renamed" }), updateMask: ["*"] },
          admin1,
        ),
      ),
    ).toBe("invalid_argument");
    expect(
      await code(
        core.requests.submitProfileChange(
          { profileName: guarded.name, change: (current) => current, updateMask: ["description"] },
          admin1,
        ),
      ),
    ).toBe("invalid_argument");

    const submitted = await describeAs(guarded.name, "reviewed", admin1);
    expect(submitted).toMatchObject({
      kind: "profile_change",
      state: "pending",
      requesterId: admin1.userId,
      profileName: guarded.name,
      caId: null,
      requiredApprovals: 2,
      comment: "clearer description",
      approvals: [],
    });
    expect(submitted.profileChange).toMatchObject({
      kind: "profile_change",
      updateMask: ["description"],
      proposed: { ...guarded, description: "reviewed" },
      base: guarded,
    });
    const events = await auditEvents("request.submit", `request:${submitted.id}`);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ actor: `user:${admin1.userId}`, sourceIp: "192.0.2.20" });
    expect(events[0]!.details).toMatchObject({ kind: "profile_change", profile: guarded.name });

    // Operators approve certificate requests only; profile changes are not in their queue at all.
    expect(await code(core.requests.get(submitted.id, op))).toBe("not_found");
    expect(await code(core.requests.approve(submitted.id, {}, op))).toBe("not_found");
    expect(await code(core.requests.reject(submitted.id, "no", op))).toBe("not_found");
    const opView = await core.requests.list({ pageSize: 1000 }, op);
    expect(opView.requests.some((r) => r.kind !== "certificate")).toBe(false);
    const opCounts = await core.requests.counts(op);
    expect(Object.values(opCounts).reduce((a, b) => a + b, 0)).toBe(opView.requests.length);
    // Admins list them, by kind too, with a page token bound to its filters.
    await describeAs((await profile(1)).name, "another", admin2);
    const changes = await core.requests.list({ kind: "profile_change", state: "pending", pageSize: 1 }, admin2);
    expect(changes.requests.map((r) => r.kind)).toEqual(["profile_change"]);
    expect(changes.nextPageToken).not.toBe("");
    const rest = await core.requests.list(
      { kind: "profile_change", state: "pending", pageSize: 1, pageToken: changes.nextPageToken },
      admin2,
    );
    expect(rest.requests.map((r) => r.kind)).toEqual(["profile_change"]);
    expect(
      await code(
        core.requests.list({ kind: "certificate", state: "pending", pageToken: changes.nextPageToken }, admin2),
      ),
    ).toBe("invalid_argument");
    expect((await core.requests.list({ kind: "certificate" }, admin2)).requests).toEqual([]);
  });

  it("never lets the submitter approve their own change, and audits the refusal", async () => {
    const guarded = await profile(1);
    const submitted = await describeAs(guarded.name, "self-approved?", admin1);
    expect(await code(core.requests.approve(submitted.id, {}, admin1))).toBe("permission_denied");
    expect(await auditEvents("request.approve_denied", `request:${submitted.id}`)).toHaveLength(1);
    expect((await core.requests.get(submitted.id, admin1)).approvals).toEqual([]);
    expect((await core.profiles.get(guarded.name)).profile.description).toBe(guarded.description);
    // Certificate choices do not belong in a profile change's approval.
    expect(
      await code(core.requests.approve(submitted.id, { caId: issuing.id, profileName: "tls-server" }, admin2)),
    ).toBe("invalid_argument");
  });

  it("applies a change to an N-of-M profile only with N distinct admins, atomically, with every step audited", async () => {
    const guarded = await profile(2);
    const submitted = await describeAs(guarded.name, "two admins agreed", admin1);
    const once = await core.requests.approve(submitted.id, {}, admin2);
    expect(once).toMatchObject({ state: "pending", requiredApprovals: 2 });
    expect(once.approvals.map((a) => a.approverId)).toEqual([admin2.userId]);
    expect((await core.profiles.get(guarded.name)).profile.description).toBe(guarded.description);
    expect(await code(core.requests.approve(submitted.id, {}, admin2))).toBe("already_exists");

    const applied = await core.requests.approve(submitted.id, {}, { ...admin3, sourceIp: "198.51.100.9" });
    expect(applied).toMatchObject({ state: "applied", failureReason: null });
    expect(applied.approvals.map((a) => a.approverId)).toEqual([admin2.userId, admin3.userId]);
    const now = await core.profiles.get(guarded.name);
    expect(now.profile).toEqual({ ...guarded, description: "two admins agreed" });

    const target = `request:${submitted.id}`;
    expect((await auditEvents("request.approve", target)).map((e) => e.actor)).toEqual([
      `user:${admin2.userId}`,
      `user:${admin3.userId}`,
    ]);
    const apply = await auditEvents("request.apply", target);
    expect(apply).toHaveLength(1);
    expect(apply[0]).toMatchObject({ actor: `user:${admin3.userId}`, sourceIp: "198.51.100.9" });
    expect(apply[0]!.details).toMatchObject({
      kind: "profile_change",
      profile: guarded.name,
      requester: `user:${admin1.userId}`,
      approvers: [admin2.userId, admin3.userId],
    });
    const update = await auditEvents("profile.update", `profile:${now.id}`);
    expect(update).toHaveLength(1);
    expect(update[0]).toMatchObject({ actor: `user:${admin3.userId}` });
    expect(update[0]!.details).toMatchObject({ name: guarded.name, request: `requests/${submitted.id}` });
    expect(await code(core.requests.approve(submitted.id, {}, alice))).toBe("permission_denied");
  });

  it("rolls the final approval back whole when applying fails midway: profile, approval and audit alike", async () => {
    const guarded = await profile(1);
    const submitted = await describeAs(guarded.name, "atomic", admin1);
    // The request's own last write fails, after the profile was written in the same transaction.
    await db.pool.query(sql.unsafe`
      CREATE FUNCTION test_refuse_applied() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.status = 'applied' THEN RAISE EXCEPTION 'refused by the test'; END IF;
        RETURN NEW;
      END $$`);
    await db.pool.query(sql.unsafe`
      CREATE TRIGGER test_refuse_applied BEFORE UPDATE ON requests
      FOR EACH ROW EXECUTE FUNCTION test_refuse_applied()`);
    const auditBefore = await db.pool.oneFirst(sql.type(z.object({ n: z.number() }))`
      SELECT count(*)::int AS n FROM audit_events`);
    try {
      await expect(core.requests.approve(submitted.id, {}, admin2)).rejects.toThrow(/refused by the test/);
    } finally {
      await db.pool.query(sql.unsafe`DROP TRIGGER test_refuse_applied ON requests`);
      await db.pool.query(sql.unsafe`DROP FUNCTION test_refuse_applied()`);
    }
    expect((await core.profiles.get(guarded.name)).profile).toEqual(guarded);
    expect(await core.requests.get(submitted.id, admin1)).toMatchObject({ state: "pending", approvals: [] });
    expect(
      await db.pool.oneFirst(sql.type(z.object({ n: z.number() }))`SELECT count(*)::int AS n FROM audit_events`),
    ).toBe(auditBefore);

    expect((await core.requests.approve(submitted.id, {}, admin2)).state).toBe("applied");
    expect((await core.profiles.get(guarded.name)).profile.description).toBe("atomic");
  });

  it("validates the proposal again when applying it: a registry entry it names may have gone", async () => {
    const guarded = await profile(1);
    const policy = `review-policy-${++unique}`;
    await core.registry.createCertificatePolicy(
      { id: policy, oid: `1.3.6.1.4.1.99999.77.${unique}`, displayName: "Reviewed policy" },
      system,
    );
    const submitted = await core.requests.submitProfileChange(
      {
        profileName: guarded.name,
        change: (current) => ({ ...current, certificatePolicies: [{ policy }] }),
        updateMask: ["certificate_policies"],
      },
      admin1,
    );
    // Nothing protects an entry that only a pending proposal names.
    await core.registry.deleteCertificatePolicy(policy, system);
    const failed = await failure(core.requests.approve(submitted.id, {}, admin2));
    expect(failed.code).toBe("failed_precondition");
    expect(failed.message).toContain("the proposed profile is no longer valid");
    const after = await core.requests.get(submitted.id, admin1);
    expect(after).toMatchObject({ state: "failed", failureReason: expect.stringContaining("no longer valid") });
    // The approval that found it out is on record; the profile is as it was.
    expect(after.approvals.map((a) => a.approverId)).toEqual([admin2.userId]);
    expect((await core.profiles.get(guarded.name)).profile).toEqual(guarded);
    expect(await auditEvents("request.fail", `request:${submitted.id}`)).toHaveLength(1);
    // The profile.update event written (and rolled back) inside the savepoint left no gap in the chain.
    expect(await core.audit.verify()).toMatchObject({ ok: true });
  });

  it("fails a change proposed against a definition that has changed since, and changes nothing", async () => {
    const guarded = await profile(1);
    const first = await describeAs(guarded.name, "first", admin1);
    const second = await describeAs(guarded.name, "second", admin1);
    const twoStep = await profile(2);
    const slow = await describeAs(twoStep.name, "slow", admin1);
    await core.requests.approve(slow.id, {}, admin2);

    expect((await core.requests.approve(first.id, {}, admin2)).state).toBe("applied");
    const stale = await failure(core.requests.approve(second.id, {}, admin2));
    expect(stale).toMatchObject({
      code: "failed_precondition",
      message: expect.stringContaining("the profile changed since this request was submitted"),
    });
    const failed = await core.requests.get(second.id, admin1);
    expect(failed).toMatchObject({
      state: "failed",
      failureReason: "the profile changed since this request was submitted",
      approvals: [],
    });
    expect((await core.profiles.get(guarded.name)).profile.description).toBe("first");
    const events = await auditEvents("request.fail", `request:${second.id}`);
    expect(events).toHaveLength(1);
    expect(events[0]!.details).toMatchObject({ reason: "the profile changed since this request was submitted" });
    expect(await code(core.requests.approve(second.id, {}, admin3))).toBe("failed_precondition");

    // Also after a first approval: the profile changes through another request before the second one.
    const meanwhile = await describeAs(twoStep.name, "meanwhile", admin3);
    await core.requests.approve(meanwhile.id, {}, admin1);
    await core.requests.approve(meanwhile.id, {}, admin2);
    expect(await code(core.requests.approve(slow.id, {}, admin3))).toBe("failed_precondition");
    expect(await core.requests.get(slow.id, admin1)).toMatchObject({ state: "failed" });
    expect((await core.profiles.get(twoStep.name)).profile.description).toBe("meanwhile");

    // A profile deleted meanwhile.
    const gone = await profile(0);
    const orphan = await describeAs(gone.name, "too late", admin1);
    await core.profiles.delete(gone.name, system);
    expect(await failure(core.requests.approve(orphan.id, {}, admin2))).toMatchObject({
      code: "failed_precondition",
      message: expect.stringContaining("no longer exists"),
    });
  });

  it("applies one of two changes to the same definition approved at the same moment; the other fails", async () => {
    const guarded = await profile(1);
    const a = await describeAs(guarded.name, "variant a", admin1);
    const b = await describeAs(guarded.name, "variant b", admin1);
    // Both may pass the early check; the profile row lock and the check under it decide.
    const results = await Promise.all([
      code(core.requests.approve(a.id, {}, admin2)),
      code(core.requests.approve(b.id, {}, admin3)),
    ]);
    expect(results.sort()).toEqual(["failed_precondition", "ok"]);
    const stateA = (await core.requests.get(a.id, admin1)).state;
    const stateB = (await core.requests.get(b.id, admin1)).state;
    expect([stateA, stateB].sort()).toEqual(["applied", "failed"]);
    expect((await core.profiles.get(guarded.name)).profile.description).toBe(
      stateA === "applied" ? "variant a" : "variant b",
    );
  });

  it("changes nothing for a rejected request", async () => {
    const guarded = await profile(1);
    const submitted = await describeAs(guarded.name, "rejected", admin1);
    const rejected = await core.requests.reject(submitted.id, "keep the old wording", admin2);
    expect(rejected).toMatchObject({ state: "rejected", rejectionReason: "keep the old wording" });
    expect(await code(core.requests.approve(submitted.id, {}, admin3))).toBe("failed_precondition");
    expect((await core.profiles.get(guarded.name)).profile).toEqual(guarded);
    const events = await auditEvents("request.reject", `request:${submitted.id}`);
    expect(events).toHaveLength(1);
    expect(events[0]!.details).toMatchObject({ kind: "profile_change", reason: "keep the old wording" });
  });

  it("deletes through a request, refused while certificates exist: at submission, and again when applied", async () => {
    const unused = await profile(2);
    const deletion = await core.requests.submitProfileDeletion(
      { profileName: unused.name, comment: "retired" },
      admin1,
    );
    expect(deletion).toMatchObject({ kind: "profile_deletion", profileName: unused.name, requiredApprovals: 2 });
    expect(deletion.profileChange).toEqual({ kind: "profile_deletion", base: unused });
    await core.requests.approve(deletion.id, {}, admin2);
    const stored = await core.profiles.get(unused.name);
    expect((await core.requests.approve(deletion.id, {}, admin3)).state).toBe("applied");
    expect(await code(core.profiles.get(unused.name))).toBe("not_found");
    const deleted = await auditEvents("profile.delete", `profile:${stored.id}`);
    expect(deleted).toHaveLength(1);
    expect(deleted[0]!.details).toMatchObject({ name: unused.name, request: `requests/${deletion.id}` });

    const used = await profile(1);
    await issueUnder(used.name);
    expect(await failure(core.requests.submitProfileDeletion({ profileName: used.name }, admin1))).toMatchObject({
      code: "failed_precondition",
      message: expect.stringContaining("certificates were issued under it"),
    });

    // A certificate issued between submission and the final approval.
    const soonUsed = await profile(1);
    const late = await core.requests.submitProfileDeletion({ profileName: soonUsed.name }, admin1);
    await issueUnder(soonUsed.name);
    const refused = await failure(core.requests.approve(late.id, {}, admin2));
    expect(refused).toMatchObject({
      code: "failed_precondition",
      message: expect.stringContaining("certificates were issued under it"),
    });
    expect(await core.requests.get(late.id, admin1)).toMatchObject({
      state: "failed",
      failureReason: `profile "${soonUsed.name}" cannot be deleted: certificates were issued under it`,
    });
    expect((await core.profiles.get(soonUsed.name)).profile).toEqual(soonUsed);
    const counts = await core.requests.counts(admin1);
    expect(counts.failed).toBeGreaterThanOrEqual(1);
    expect(counts.applied).toBeGreaterThanOrEqual(1);
  });
});
