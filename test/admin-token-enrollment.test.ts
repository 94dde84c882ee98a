import * as grpc from "@grpc/grpc-js";
import { sql } from "slonik";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { grpcUnary } from "../src/admin/testing/grpc-test-client.ts";
import { AuditService } from "../src/gen/chancery/admin/v1/audit_pb.js";
import { TokenService } from "../src/gen/chancery/admin/v1/token_pb.js";
import { UserService } from "../src/gen/chancery/admin/v1/user_pb.js";
import { bearer, connectJson, startTestGateway, type TestGateway } from "./support/test-gateway.ts";

/**
 * The first-token flow end to end: an admin turns API access on and creates
 * an enrollment code; the user, who has no token, redeems it over the wire
 * with no Authorization header and gets their personal access token.
 */
describe("token enrollment through the admin API", () => {
  let env: TestGateway;
  let client: grpc.Client;
  const admin = () => bearer(env.adminToken);
  const redeemPath = "chancery.admin.v1.TokenService/RedeemTokenEnrollment";

  beforeAll(async () => {
    env = await startTestGateway();
    client = env.client;
  });
  afterAll(async () => env?.stop());

  async function newUser(username: string, apiAccess = true) {
    return grpcUnary(client, UserService.method.createUser, { user: { username, apiAccess } }, admin());
  }

  const enroll = (user: string, ttlSeconds?: number) =>
    grpcUnary(
      client,
      TokenService.method.createTokenEnrollment,
      { parent: user, ...(ttlSeconds === undefined ? {} : { ttl: { seconds: BigInt(ttlSeconds) } }) },
      admin(),
    );

  /** Connect JSON as curl would send it, with no token at all. */
  const redeem = (code: string) => connectJson(env, redeemPath, { code });

  it("admin enables API access, hands over a code, and the user redeems it without a token for a working PAT", async () => {
    const created = await newUser("alice", false);
    // No API access yet: no code.
    await expect(enroll(created.name)).rejects.toMatchObject({ code: grpc.status.FAILED_PRECONDITION });
    const user = await grpcUnary(
      client,
      UserService.method.updateUser,
      { user: { name: created.name, apiAccess: true }, updateMask: ["api_access"] },
      admin(),
    );
    expect(user.apiAccess).toBe(true);

    const made = await enroll(user.name);
    expect(made.code).toMatch(/^chancery_enr_[A-Za-z0-9_-]{49}$/);
    expect(made.enrollment).toMatchObject({
      name: `${user.name}/tokenEnrollment`,
      prefix: made.code.slice(0, 19),
    });
    expect(made.enrollment!.creator).toMatch(/^users\/[0-9a-f-]{36}$/);
    const lifetime = Number(made.enrollment!.expireTime!.seconds - made.enrollment!.createTime!.seconds);
    expect(lifetime).toBeGreaterThanOrEqual(24 * 3600 - 1);
    expect(lifetime).toBeLessThanOrEqual(24 * 3600);
    const shown = await grpcUnary(
      client,
      TokenService.method.getTokenEnrollment,
      { name: `${user.name}/tokenEnrollment` },
      admin(),
    );
    expect(shown.prefix).toBe(made.enrollment!.prefix);

    const answer = await redeem(made.code);
    expect(answer.status).toBe(200);
    const secret = answer.json["secret"] as string;
    expect(secret).toMatch(/^chancery_pat_/);
    expect(answer.json["token"]).toMatchObject({ name: `${user.name}/token`, prefix: secret.slice(0, 19) });

    const me = await grpcUnary(client, UserService.method.getCurrentUser, {}, bearer(secret));
    expect(me.username).toBe("alice");
    // The user now manages the token like any other.
    const own = await grpcUnary(client, TokenService.method.getToken, {}, bearer(secret));
    expect(own.prefix).toBe(secret.slice(0, 19));

    // Single use.
    const again = await redeem(made.code);
    expect(again.status).toBe(401);
    expect(again.json).toMatchObject({ code: "unauthenticated" });
    await expect(
      grpcUnary(client, TokenService.method.getTokenEnrollment, { name: `${user.name}/tokenEnrollment` }, admin()),
    ).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
  });

  it("redeems over gRPC too, ignoring any Authorization header on that one call", async () => {
    const user = await newUser("bruno");
    const { code } = await enroll(user.name, 600);
    const made = await grpcUnary(
      client,
      TokenService.method.redeemTokenEnrollment,
      { code },
      bearer("chancery_pat_not-a-real-token"),
    );
    expect(made.secret).toMatch(/^chancery_pat_/);
    // Every other call still needs a token.
    await expect(grpcUnary(client, TokenService.method.getToken, {}, new grpc.Metadata())).rejects.toMatchObject({
      code: grpc.status.UNAUTHENTICATED,
    });
  });

  it("refuses an expired code", async () => {
    const user = await newUser("carol");
    const { code } = await enroll(user.name, 300);
    const userId = user.name.slice("users/".length);
    // Five minutes is the shortest lifetime; age the code instead of waiting.
    await env.gateway.pool.query(sql.unsafe`
      UPDATE token_enrollments SET created_at = now() - interval '10 minutes', expires_at = now() - interval '1 second'
      WHERE user_id = ${userId}`);
    const answer = await redeem(code);
    expect(answer.status).toBe(401);
    expect(answer.json["message"]).toBe("invalid, used or expired enrollment code; ask an admin for a new one");
  });

  it("turning API access off revokes the PAT and the outstanding code", async () => {
    const user = await newUser("dave");
    const first = await enroll(user.name);
    const secret = (await redeem(first.code)).json["secret"] as string;
    const pending = await enroll(user.name);
    await grpcUnary(
      client,
      UserService.method.updateUser,
      { user: { name: user.name, apiAccess: false }, updateMask: ["api_access"] },
      admin(),
    );
    await expect(grpcUnary(client, UserService.method.getCurrentUser, {}, bearer(secret))).rejects.toMatchObject({
      code: grpc.status.UNAUTHENTICATED,
    });
    expect((await redeem(pending.code)).status).toBe(401);
    // Back on: neither comes back; a new code is needed.
    await grpcUnary(
      client,
      UserService.method.updateUser,
      { user: { name: user.name, apiAccess: true }, updateMask: ["api_access"] },
      admin(),
    );
    expect((await redeem(pending.code)).status).toBe(401);
    await expect(grpcUnary(client, UserService.method.getCurrentUser, {}, bearer(secret))).rejects.toMatchObject({
      code: grpc.status.UNAUTHENTICATED,
    });
  });

  it("refuses a code from outside the user's subnets without using it up, and withdraws codes on request", async () => {
    const user = await grpcUnary(
      client,
      UserService.method.createUser,
      { user: { username: "erin", apiAccess: true, allowedSubnets: ["10.0.0.0/8"] } },
      admin(),
    );
    const { code } = await enroll(user.name);
    const answer = await redeem(code);
    expect(answer.status).toBe(403);
    expect(answer.json["message"]).toBe("calls from 127.0.0.1 are not allowed for this account");
    await grpcUnary(client, TokenService.method.getTokenEnrollment, { name: `${user.name}/tokenEnrollment` }, admin());
    await grpcUnary(
      client,
      TokenService.method.deleteTokenEnrollment,
      { name: `${user.name}/tokenEnrollment` },
      admin(),
    );
    await expect(
      grpcUnary(client, TokenService.method.getTokenEnrollment, { name: `${user.name}/tokenEnrollment` }, admin()),
    ).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
  });

  it("audits every failed redemption as an authentication failure with the caller's address", async () => {
    expect((await redeem("")).status).toBe(401);
    expect((await redeem("chancery_enr_garbage")).status).toBe(401);
    // Failures are written in the background (sign-in-failures.ts); wait for them.
    const wanted = ["missing_code", "malformed_code", "unknown_code", "expired_code", "subnet_denied"];
    let reasons: string[] = [];
    for (let i = 0; i < 50; i++) {
      const events = await grpcUnary(
        client,
        AuditService.method.listAuditEvents,
        { filter: { action: "auth.failure" }, pageSize: 100 },
        admin(),
      );
      const enrollment = events.auditEvents.filter((e) => e.details?.["credential"] === "enrollment_code");
      for (const e of enrollment) expect(e.sourceIp).toBe("127.0.0.1");
      reasons = enrollment.map((e) => e.details?.["reason"] as string);
      if (wanted.every((r) => reasons.includes(r))) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(reasons).toEqual(expect.arrayContaining(wanted));
    const chain = await grpcUnary(client, AuditService.method.verifyAuditChain, {}, admin());
    expect(chain.intact).toBe(true);
  });
});
