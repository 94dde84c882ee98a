import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { grpcUnary } from "../src/admin/testing/grpc-test-client.ts";
import type { Gateway } from "../src/gateway.ts";
import { AuditService } from "../src/gen/chancery/admin/v1/audit_pb.js";
import {
  CertificateAuthority_State,
  CertificateAuthorityService,
  KeyAlgorithm,
} from "../src/gen/chancery/admin/v1/certificate_authority_pb.js";
import { TokenService } from "../src/gen/chancery/admin/v1/token_pb.js";
import { Role, UserService } from "../src/gen/chancery/admin/v1/user_pb.js";
import { bearer, connectJson, startTestGateway, type TestGateway } from "./support/test-gateway.ts";

describe("admin API on a running gateway", () => {
  let env: TestGateway;
  let gateway: Gateway;
  let client: grpc.Client;
  let adminToken: string;

  beforeAll(async () => {
    env = await startTestGateway();
    gateway = env.gateway;
    client = env.client;
    adminToken = env.adminToken;
  });
  afterAll(async () => env?.stop());

  it("lets the bootstrap admin list CAs over real gRPC, and refuses calls without a valid token", async () => {
    const list = await grpcUnary(
      client,
      CertificateAuthorityService.method.listCertificateAuthorities,
      {},
      bearer(adminToken),
    );
    expect(list.certificateAuthorities.map((ca) => ca.displayName).sort()).toEqual(["issuing", "root"]);
    const issuing = list.certificateAuthorities.find((ca) => ca.displayName === "issuing")!;
    expect(issuing.state).toBe(CertificateAuthority_State.ACTIVE);
    expect(issuing.certificateChainPem).toContain("BEGIN CERTIFICATE");

    await expect(
      grpcUnary(client, CertificateAuthorityService.method.listCertificateAuthorities, {}),
    ).rejects.toMatchObject({
      code: grpc.status.UNAUTHENTICATED,
    });
    await expect(
      grpcUnary(client, CertificateAuthorityService.method.listCertificateAuthorities, {}, bearer(`${adminToken}x`)),
    ).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
  });

  it("speaks Connect JSON over HTTP/1.1 too, with protocol-correct errors", async () => {
    const ok = await connectJson(env, "chancery.admin.v1.AuditService/VerifyAuditChain", {}, adminToken);
    expect(ok.status).toBe(200);
    expect(ok.json).toMatchObject({ intact: true });
    const bad = await connectJson(
      env,
      "chancery.admin.v1.CertificateAuthorityService/GetCertificateAuthority",
      { name: "nonsense" },
      adminToken,
    );
    expect(bad.status).toBe(400);
    expect(bad.json).toMatchObject({ code: "invalid_argument" });
    const anonymous = await connectJson(env, "chancery.admin.v1.AuditService/VerifyAuditChain", {});
    expect(anonymous.status).toBe(401);
  });

  it("enforces roles: a plain user cannot manage CAs or read the audit log, and is refused outside its subnets", async () => {
    const admin = bearer(adminToken);
    const user = await grpcUnary(
      client,
      UserService.method.createUser,
      { user: { username: "alice", role: Role.USER, apiAccess: true } },
      admin,
    );
    // No sign-in other than a token exists yet, so her first token is made through the core, as a sign-in flow would.
    const made = await gateway.tokens.create(user.name.slice("users/".length), { actor: "test" });
    const alice = bearer(made.secret);
    const me = await grpcUnary(client, UserService.method.getCurrentUser, {}, alice);
    expect(me.username).toBe("alice");
    await expect(
      grpcUnary(
        client,
        CertificateAuthorityService.method.createRootCertificateAuthority,
        {
          displayName: "evil",
          subject: [{ type: "CN", value: "Evil" }],
          keyAlgorithm: KeyAlgorithm.ECDSA_P256,
          validityDays: 1,
        },
        alice,
      ),
    ).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED });
    await expect(grpcUnary(client, AuditService.method.verifyAuditChain, {}, alice)).rejects.toMatchObject({
      code: grpc.status.PERMISSION_DENIED,
    });
    await expect(
      grpcUnary(client, TokenService.method.getToken, { name: "users/someone-else/token" }, alice),
    ).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED });

    await grpcUnary(
      client,
      UserService.method.updateUser,
      { user: { name: user.name, allowedSubnets: ["10.0.0.0/8"] }, updateMask: ["allowed_subnets"] },
      admin,
    );
    await expect(grpcUnary(client, UserService.method.getCurrentUser, {}, alice)).rejects.toMatchObject({
      code: grpc.status.PERMISSION_DENIED,
    });

    // Turning API access off revokes the token at once.
    await grpcUnary(
      client,
      UserService.method.updateUser,
      {
        user: { name: user.name, allowedSubnets: [], apiAccess: false },
        updateMask: ["allowed_subnets", "api_access"],
      },
      admin,
    );
    await expect(grpcUnary(client, UserService.method.getCurrentUser, {}, alice)).rejects.toMatchObject({
      code: grpc.status.UNAUTHENTICATED,
    });
  });

  it("sets and clears a CA's allowed profiles through UpdateCertificateAuthority", async () => {
    const admin = bearer(adminToken);
    const list = await grpcUnary(client, CertificateAuthorityService.method.listCertificateAuthorities, {}, admin);
    const issuing = list.certificateAuthorities.find((ca) => ca.displayName === "issuing")!;
    const update = (allowedProfiles: string[]) =>
      grpcUnary(
        client,
        CertificateAuthorityService.method.updateCertificateAuthority,
        { certificateAuthority: { name: issuing.name, allowedProfiles }, updateMask: ["allowed_profiles"] },
        admin,
      );
    expect((await update(["profiles/tls-client", "profiles/device"])).allowedProfiles).toEqual([
      "profiles/device",
      "profiles/tls-client",
    ]);
    await expect(update(["profiles/nope"])).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    await expect(update(["tls-client"])).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    expect((await update([])).allowedProfiles).toEqual([]);
  });

  it("lets an admin create a root CA through the API, audited with the caller and its address", async () => {
    const created = await grpcUnary(
      client,
      CertificateAuthorityService.method.createRootCertificateAuthority,
      {
        displayName: "api-root",
        subject: [
          { type: "O", value: "Chancery Test" },
          { type: "CN", value: "API Root" },
        ],
        keyAlgorithm: KeyAlgorithm.ECDSA_P384,
        validityDays: 30,
        pathLen: 1,
      },
      bearer(adminToken),
    );
    expect(created.name).toMatch(/^certificateAuthorities\/[0-9a-f-]{36}$/);
    expect(created.keyAlgorithm).toBe(KeyAlgorithm.ECDSA_P384);
    const events = await grpcUnary(
      client,
      AuditService.method.listAuditEvents,
      { filter: { action: "ca.create_root", target: `ca:${created.name.split("/")[1]}` } },
      bearer(adminToken),
    );
    expect(events.auditEvents).toHaveLength(1);
    expect(events.auditEvents[0]).toMatchObject({ action: "ca.create_root", sourceIp: "127.0.0.1" });
    expect(events.auditEvents[0]!.actor).toMatch(/^user:/);
  });
});
