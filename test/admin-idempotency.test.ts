import { randomUUID } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { sql } from "slonik";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { grpcUnary } from "../src/admin/testing/grpc-test-client.ts";
import { CertificateAuthorityService, KeyAlgorithm } from "../src/gen/chancery/admin/v1/certificate_authority_pb.js";
import { Role, UserService } from "../src/gen/chancery/admin/v1/user_pb.js";
import { bearer, connectJson, startTestGateway, type TestGateway } from "./support/test-gateway.ts";

/** AIP-155 request_id on admin creates, end to end through a running gateway. */
describe("request_id on admin API creates", () => {
  let env: TestGateway;
  let admin: grpc.Metadata;

  beforeAll(async () => {
    env = await startTestGateway();
    admin = bearer(env.adminToken);
  });
  afterAll(async () => env?.stop());

  const count = (query: ReturnType<typeof sql.unsafe>) => env.gateway.pool.oneFirst(query);

  function createUser(username: string, requestId: string) {
    return grpcUnary(
      env.client,
      UserService.method.createUser,
      { user: { username, role: Role.OPERATOR, apiAccess: true }, requestId },
      admin,
    );
  }

  it("answers a repeated CreateUser with the first user and creates one", async () => {
    const requestId = randomUUID();
    const first = await createUser("retry-user", requestId);
    const second = await createUser("retry-user", requestId);
    expect(second).toEqual(first);
    // The same request as Connect JSON is the same request: same answer.
    const overJson = await connectJson(
      env,
      "chancery.admin.v1.UserService/CreateUser",
      { user: { username: "retry-user", role: "ROLE_OPERATOR", apiAccess: true }, requestId },
      env.adminToken,
    );
    expect(overJson.status).toBe(200);
    expect(overJson.json["name"]).toBe(first.name);
    expect(await count(sql.unsafe`SELECT count(*)::int FROM users WHERE username = 'retry-user'`)).toBe(1);
    expect(
      await count(sql.unsafe`
        SELECT count(*)::int FROM audit_events WHERE action = 'user.create' AND target = ${`user:${first.name.slice(6)}`}`),
    ).toBe(1);
    // Without a request_id the same create is a second attempt, refused as a duplicate name.
    await expect(createUser("retry-user", "")).rejects.toMatchObject({ code: grpc.status.ALREADY_EXISTS });
  });

  it("refuses the request_id with a different body, and a malformed request_id", async () => {
    const requestId = randomUUID();
    await createUser("body-a", requestId);
    await expect(createUser("body-b", requestId)).rejects.toMatchObject({
      code: grpc.status.INVALID_ARGUMENT,
      details: "request_id was already used for a different request",
    });
    await expect(createUser("body-c", "not valid")).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    expect(await count(sql.unsafe`SELECT count(*)::int FROM users WHERE username IN ('body-b', 'body-c')`)).toBe(0);
  });

  it("creates exactly one user from concurrent duplicates", async () => {
    const requestId = randomUUID();
    const outcomes = await Promise.allSettled(
      Array.from({ length: 8 }, () => createUser("concurrent-user", requestId)),
    );
    const answered = outcomes.flatMap((o) => (o.status === "fulfilled" ? [o.value.name] : []));
    const refused = outcomes.flatMap((o) => (o.status === "rejected" ? [(o.reason as grpc.ServiceError).code] : []));
    expect(answered.length).toBeGreaterThan(0);
    expect(new Set(answered).size).toBe(1);
    // A duplicate that arrives while the first runs is told to retry.
    expect(refused.every((code) => code === grpc.status.ABORTED)).toBe(true);
    expect(await count(sql.unsafe`SELECT count(*)::int FROM users WHERE username = 'concurrent-user'`)).toBe(1);
    expect(await createUser("concurrent-user", requestId)).toMatchObject({ name: answered[0] });
  });

  it("creates exactly one root CA from concurrent duplicates, and replays it afterwards", async () => {
    const requestId = randomUUID();
    const create = () =>
      grpcUnary(
        env.client,
        CertificateAuthorityService.method.createRootCertificateAuthority,
        {
          displayName: "idempotent-root",
          subject: [{ type: "CN", value: "Idempotent Root" }],
          keyAlgorithm: KeyAlgorithm.RSA_2048,
          validityDays: 365,
          requestId,
        },
        admin,
      );
    const outcomes = await Promise.allSettled([create(), create(), create(), create()]);
    const answered = outcomes.flatMap((o) => (o.status === "fulfilled" ? [o.value.name] : []));
    const refused = outcomes.flatMap((o) => (o.status === "rejected" ? [(o.reason as grpc.ServiceError).code] : []));
    expect(new Set(answered).size).toBe(1);
    expect(refused.every((code) => code === grpc.status.ABORTED)).toBe(true);
    expect(
      await count(sql.unsafe`SELECT count(*)::int FROM certificate_authorities WHERE name = 'idempotent-root'`),
    ).toBe(1);
    const replayed = await create();
    expect(replayed.name).toBe(answered[0]);
    expect(replayed.certificateChainPem).toContain("BEGIN CERTIFICATE");
  });

  it("keys request_id by caller: another admin's identical request is their own create", async () => {
    const other = await createUser("second-admin", randomUUID());
    await grpcUnary(
      env.client,
      UserService.method.updateUser,
      { user: { name: other.name, role: Role.ADMIN }, updateMask: ["role"] },
      admin,
    );
    const token = await env.gateway.tokens.create(other.name.slice("users/".length), { actor: "test" });
    const requestId = randomUUID();
    const mine = await createUser("shared-id-a", requestId);
    const theirs = await grpcUnary(
      env.client,
      UserService.method.createUser,
      { user: { username: "shared-id-a", role: Role.OPERATOR, apiAccess: true }, requestId },
      bearer(token.secret),
    ).catch((e: unknown) => e as grpc.ServiceError);
    // Not a replay of mine: their create runs, and the username is taken.
    expect(theirs).toMatchObject({ code: grpc.status.ALREADY_EXISTS });
    expect(mine.username).toBe("shared-id-a");
  });
});
