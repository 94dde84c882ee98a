import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Gateway } from "../src/gateway.ts";
import { connectJson, startTestGateway, type TestGateway } from "./support/test-gateway.ts";

/**
 * Profiles that require approval are changed through the approval queue:
 * the whole path through a real gateway in the Connect protocol's JSON form
 * (as curl or a browser would send it), from the refused UpdateProfile to
 * the applied (or failed) request and its audit trail.
 */

const profiles = "chancery.admin.v1.ProfileService";
const requests = "chancery.admin.v1.RequestService";

/** A small leaf profile, in proto JSON. */
function leaf(name: string, approvers: number) {
  return {
    name: `profiles/${name}`,
    description: "before",
    validity: { default: "86400s", max: "604800s" },
    keyUsage: ["KEY_USAGE_DIGITAL_SIGNATURE"],
    san: { allowedTypes: ["SUBJECT_ALT_NAME_TYPE_DNS"] },
    requiresApproval: approvers > 0 ? { required: true, approvers } : { required: false },
  };
}

describe("profile changes through the approval queue (Connect JSON, real gateway)", () => {
  let env: TestGateway;
  let gateway: Gateway;
  const token: Record<"admin" | "admin2" | "admin3" | "operator" | "user", string> = {
    admin: "",
    admin2: "",
    admin3: "",
    operator: "",
    user: "",
  };

  const call = (procedure: string, body: unknown, as: keyof typeof token = "admin") =>
    connectJson(env, procedure, body, token[as]);

  /** The Connect error of a call that must fail: its HTTP status, code and message. */
  async function refused(procedure: string, body: unknown, as: keyof typeof token = "admin") {
    const { status, json } = await call(procedure, body, as);
    if (status === 200) throw new Error(`${procedure} succeeded: ${JSON.stringify(json)}`);
    return { status, code: json["code"], message: String(json["message"]) };
  }

  async function ok(procedure: string, body: unknown, as: keyof typeof token = "admin") {
    const { status, json } = await call(procedure, body, as);
    if (status !== 200) throw new Error(`${procedure} failed (${status}): ${JSON.stringify(json)}`);
    return json;
  }

  async function account(username: string, role: string): Promise<string> {
    const user = await ok("chancery.admin.v1.UserService/CreateUser", { user: { username, role, apiAccess: true } });
    return (await gateway.tokens.create(String(user["name"]).slice("users/".length), { actor: "test" })).secret;
  }

  const proposeDescription = (profile: string, description: string, as: keyof typeof token = "admin") =>
    call(
      `${requests}/CreateRequest`,
      {
        request: {
          comment: "wording",
          profileChange: { profile: { name: `profiles/${profile}`, description }, updateMask: ["description"] },
        },
      },
      as,
    );

  beforeAll(async () => {
    env = await startTestGateway({ maxConnections: 10 });
    gateway = env.gateway;
    token.admin = env.adminToken;
    token.admin2 = await account("admin2", "ROLE_ADMIN");
    token.admin3 = await account("admin3", "ROLE_ADMIN");
    token.operator = await account("operator", "ROLE_OPERATOR");
    token.user = await account("user", "ROLE_USER");
    await ok(`${profiles}/CreateProfile`, { profile: leaf("guarded", 2) });
    await ok(`${profiles}/CreateProfile`, { profile: leaf("open", 0) });
  });
  afterAll(async () => env?.stop());

  it("refuses UpdateProfile and DeleteProfile for a profile that requires approval, and points to the queue", async () => {
    const update = await refused(`${profiles}/UpdateProfile`, {
      profile: { name: "profiles/guarded", description: "at once" },
      updateMask: ["description"],
    });
    expect(update).toMatchObject({ status: 400, code: "failed_precondition" });
    expect(update.message).toContain("request.profile_change");
    // Switching the rule off is a change like any other.
    expect(
      await refused(`${profiles}/UpdateProfile`, {
        profile: { name: "profiles/guarded", requiresApproval: { required: false } },
        updateMask: ["requires_approval"],
      }),
    ).toMatchObject({ code: "failed_precondition" });
    const deletion = await refused(`${profiles}/DeleteProfile`, { name: "profiles/guarded" });
    expect(deletion).toMatchObject({ code: "failed_precondition" });
    expect(deletion.message).toContain("request.profile_deletion");
    expect((await ok(`${profiles}/GetProfile`, { name: "profiles/guarded" }))["description"]).toBe("before");

    // Switching it on applies directly; from then on the profile is guarded.
    await ok(`${profiles}/CreateProfile`, { profile: leaf("soon-guarded", 0) });
    const on = await ok(`${profiles}/UpdateProfile`, {
      profile: { name: "profiles/soon-guarded", requiresApproval: { required: true, approvers: 1 } },
      updateMask: ["requires_approval"],
    });
    expect(on["requiresApproval"]).toMatchObject({ required: true, approvers: 1 });
    expect(await refused(`${profiles}/DeleteProfile`, { name: "profiles/soon-guarded" })).toMatchObject({
      code: "failed_precondition",
    });
  });

  it("takes a change from an admin only, validated like UpdateProfile, and applies it after two other admins", async () => {
    expect(
      await refused(
        `${requests}/CreateRequest`,
        {
          request: {
            profileChange: { profile: { name: "profiles/guarded", description: "x" }, updateMask: ["description"] },
          },
        },
        "operator",
      ),
    ).toMatchObject({ status: 403, code: "permission_denied" });
    expect((await proposeDescription("guarded", "x", "user")).status).toBe(403);
    const invalid = await refused(`${requests}/CreateRequest`, {
      request: {
        profileChange: {
          profile: { name: "profiles/guarded", validity: { default: "700000s", max: "604800s" } },
          updateMask: ["validity.default"],
        },
      },
    });
    expect(invalid).toMatchObject({ status: 400, code: "invalid_argument" });
    expect(invalid.message).toContain("validity.default: must not exceed validity.max");
    expect(
      await refused(`${requests}/CreateRequest`, {
        request: { profileChange: { profile: { name: "profiles/guarded" } }, commonName: "mixed.example.com" },
      }),
    ).toMatchObject({ code: "invalid_argument" });

    const submitted = await proposeDescription("guarded", "reviewed wording");
    expect(submitted.status).toBe(200);
    const request = submitted.json;
    expect(request).toMatchObject({
      kind: "KIND_PROFILE_CHANGE",
      state: "STATE_PENDING",
      profile: "profiles/guarded",
      requiredApprovals: 2,
      comment: "wording",
      profileChange: {
        profile: { name: "profiles/guarded", description: "reviewed wording" },
        updateMask: ["description"],
        baseProfile: { name: "profiles/guarded", description: "before" },
      },
    });
    // The proposal is the whole definition: what the mask left alone is carried over.
    expect(request).toMatchObject({
      profileChange: { profile: { validity: { default: "86400s", max: "604800s" } } },
    });
    const name = request["name"] as string;

    // Operators do not see profile changes; the submitter cannot approve their own.
    expect(await refused(`${requests}/GetRequest`, { name }, "operator")).toMatchObject({ status: 404 });
    expect(await refused(`${requests}/ApproveRequest`, { name }, "operator")).toMatchObject({ code: "not_found" });
    expect(await refused(`${requests}/ApproveRequest`, { name })).toMatchObject({
      status: 403,
      code: "permission_denied",
    });

    const once = await ok(`${requests}/ApproveRequest`, { name }, "admin2");
    expect(once).toMatchObject({ state: "STATE_PENDING", requiredApprovals: 2 });
    expect(once["approvals"]).toHaveLength(1);
    expect((await ok(`${profiles}/GetProfile`, { name: "profiles/guarded" }))["description"]).toBe("before");
    expect(await refused(`${requests}/ApproveRequest`, { name }, "admin2")).toMatchObject({ code: "already_exists" });

    const applied = await ok(`${requests}/ApproveRequest`, { name }, "admin3");
    expect(applied).toMatchObject({ state: "STATE_APPLIED", kind: "KIND_PROFILE_CHANGE" });
    expect(applied["approvals"]).toHaveLength(2);
    expect((await ok(`${profiles}/GetProfile`, { name: "profiles/guarded" }))["description"]).toBe("reviewed wording");

    // The queue by kind and state, with counts; every step in the audit chain.
    const listed = await ok(`${requests}/ListRequests`, { kind: "KIND_PROFILE_CHANGE", state: "STATE_APPLIED" });
    expect(listed).toEqual({ requests: [expect.objectContaining({ name })] });
    expect(await ok(`${requests}/ListRequests`, { kind: "KIND_CERTIFICATE" })).toEqual({});
    const counts = await ok(`${requests}/GetRequestCounts`, {});
    expect(counts).toMatchObject({ applied: "1" });
    expect(await ok(`${requests}/GetRequestCounts`, {}, "operator")).toEqual({});
    const audit = await ok("chancery.admin.v1.AuditService/ListAuditEvents", {
      filter: { action: "request.", target: `request:${name.slice("requests/".length)}` },
    });
    expect((audit["auditEvents"] as Array<{ action: string }>).map((e) => e.action).sort()).toEqual([
      "request.apply",
      "request.approve",
      "request.approve",
      "request.approve_denied",
      "request.submit",
    ]);
    const updates = await ok("chancery.admin.v1.AuditService/ListAuditEvents", {
      filter: { action: "profile.update" },
    });
    expect(
      (updates["auditEvents"] as Array<{ details?: Record<string, unknown> }>).some(
        (e) => e.details?.["request"] === name,
      ),
    ).toBe(true);
  });

  it("fails a change whose profile changed since submission, and leaves a rejected one without effect", async () => {
    await ok(`${profiles}/CreateProfile`, { profile: leaf("contested", 1) });
    const first = (await proposeDescription("contested", "first")).json["name"] as string;
    const second = (await proposeDescription("contested", "second")).json["name"] as string;
    const third = (await proposeDescription("contested", "third")).json["name"] as string;
    expect((await ok(`${requests}/ApproveRequest`, { name: first }, "admin2"))["state"]).toBe("STATE_APPLIED");

    const stale = await refused(`${requests}/ApproveRequest`, { name: second }, "admin3");
    expect(stale).toMatchObject({ status: 400, code: "failed_precondition" });
    expect(stale.message).toContain("the profile changed since this request was submitted");
    expect(await ok(`${requests}/GetRequest`, { name: second })).toMatchObject({
      state: "STATE_FAILED",
      failureReason: "the profile changed since this request was submitted",
    });
    expect(await ok(`${requests}/ListRequests`, { state: "STATE_FAILED" })).toMatchObject({
      requests: [{ name: second }],
    });

    const rejected = await ok(`${requests}/RejectRequest`, { name: third, reason: "no" }, "admin2");
    expect(rejected).toMatchObject({ state: "STATE_REJECTED", rejectionReason: "no" });
    expect(await refused(`${requests}/RejectRequest`, { name: third, reason: "no" }, "operator")).toMatchObject({
      code: "not_found",
    });
    expect((await ok(`${profiles}/GetProfile`, { name: "profiles/contested" }))["description"]).toBe("first");
  });

  it("deletes a profile through a request", async () => {
    await ok(`${profiles}/CreateProfile`, { profile: leaf("retired", 1) });
    const submitted = await ok(`${requests}/CreateRequest`, {
      request: { profileDeletion: { name: "profiles/retired" }, comment: "no longer used" },
    });
    expect(submitted).toMatchObject({
      kind: "KIND_PROFILE_DELETION",
      state: "STATE_PENDING",
      profile: "profiles/retired",
      profileDeletion: { name: "profiles/retired", baseProfile: { name: "profiles/retired" } },
    });
    expect((await ok(`${requests}/ApproveRequest`, { name: submitted["name"] }, "admin3"))["state"]).toBe(
      "STATE_APPLIED",
    );
    expect(await refused(`${profiles}/GetProfile`, { name: "profiles/retired" })).toMatchObject({ status: 404 });
    // Certificates were issued under tls-server by the bootstrap: a deletion could never apply.
    expect(
      await refused(`${requests}/CreateRequest`, { request: { profileDeletion: { name: "profiles/tls-server" } } }),
    ).toMatchObject({ code: "failed_precondition" });
  });
});
