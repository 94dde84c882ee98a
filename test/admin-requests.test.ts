import { createPrivateKey, createPublicKey, X509Certificate } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { grpcUnary } from "../src/admin/testing/grpc-test-client.ts";
import { createDefaultProfiles } from "../src/core/profiles/default-profiles.ts";
import { pemDecode, pemEncode } from "../src/core/x509/pem.ts";
import {
  certificateText,
  createScratchDir,
  openssl,
  opensslCsr,
  verifyChain,
} from "../src/core/x509/testing/openssl.ts";
import type { Gateway } from "../src/gateway.ts";
import { AuditService } from "../src/gen/chancery/admin/v1/audit_pb.js";
import { CertificateAuthorityService, KeyAlgorithm } from "../src/gen/chancery/admin/v1/certificate_authority_pb.js";
import { Request_State, Request_SubjectAltName_Type, RequestService } from "../src/gen/chancery/admin/v1/request_pb.js";
import { Role, UserService } from "../src/gen/chancery/admin/v1/user_pb.js";
import { bearer, startTestGateway, type TestGateway } from "./support/test-gateway.ts";

const dns = (value: string) => ({ type: Request_SubjectAltName_Type.DNS, value });

describe("requests and approvals over the admin API (real gRPC)", () => {
  let env: TestGateway;
  let gateway: Gateway;
  let client: grpc.Client;
  let admin: grpc.Metadata;
  let alice: grpc.Metadata;
  let op1: grpc.Metadata;
  let op2: grpc.Metadata;
  let aliceName: string;
  let issuingName: string;
  let rootDer: Buffer;
  let issuingDer: Buffer;

  async function user(username: string, role: Role, assigned: string[] = []): Promise<[grpc.Metadata, string]> {
    const made = await grpcUnary(
      client,
      UserService.method.createUser,
      { user: { username, role, apiAccess: true, assignedCertificateAuthorities: assigned } },
      admin,
    );
    const token = await gateway.tokens.create(made.name.slice("users/".length), { actor: "test" });
    return [bearer(token.secret), made.name];
  }

  async function grpcCode(promise: Promise<unknown>): Promise<grpc.status | "ok"> {
    try {
      await promise;
      return "ok";
    } catch (err) {
      return (err as grpc.ServiceError).code;
    }
  }

  beforeAll(async () => {
    env = await startTestGateway({ maxConnections: 10 });
    gateway = env.gateway;
    client = env.client;
    admin = bearer(env.adminToken);
    const cas = await grpcUnary(client, CertificateAuthorityService.method.listCertificateAuthorities, {}, admin);
    const issuing = cas.certificateAuthorities.find((ca) => ca.displayName === "issuing")!;
    issuingName = issuing.name;
    const chain = issuing.certificateChainPem.split(/(?=-----BEGIN CERTIFICATE-----)/);
    issuingDer = Buffer.from(pemDecode(chain[0]!, ["CERTIFICATE"]));
    rootDer = Buffer.from(pemDecode(chain[1]!, ["CERTIFICATE"]));
    [alice, aliceName] = await user("alice", Role.USER);
    [op1] = await user("op1", Role.OPERATOR, [issuingName]);
    [op2] = await user("op2", Role.OPERATOR, [issuingName]);
    const tlsServer = createDefaultProfiles().find((p) => p.name === "tls-server")!;
    await gateway.profiles.create(
      { ...tlsServer, name: "two-approvers", requiresApproval: { required: true, approvers: 2 } },
      { actor: "test" },
    );
  });
  afterAll(async () => env?.stop());

  it("takes a user's request through two distinct approvers to a certificate openssl verifies, and a PKCS#12", async () => {
    const submitted = await grpcUnary(
      client,
      RequestService.method.createRequest,
      {
        request: {
          commonName: "app.example.com",
          subjectAltNames: [dns("app.example.com"), dns("www.app.example.com")],
          keyAlgorithm: KeyAlgorithm.ECDSA_P256,
          comment: "the new app server",
        },
      },
      alice,
    );
    expect(submitted).toMatchObject({ state: Request_State.PENDING, requester: aliceName, certificateAuthority: "" });
    expect(submitted.name).toMatch(/^requests\/[0-9a-f-]{36}$/);

    // A user cannot approve at all; the first approver chooses CA and profile.
    const approve = { name: submitted.name, certificateAuthority: issuingName, profile: "profiles/two-approvers" };
    expect(await grpcCode(grpcUnary(client, RequestService.method.approveRequest, approve, alice))).toBe(
      grpc.status.PERMISSION_DENIED,
    );
    const once = await grpcUnary(client, RequestService.method.approveRequest, approve, op1);
    expect(once).toMatchObject({
      state: Request_State.PENDING,
      certificateAuthority: issuingName,
      profile: "profiles/two-approvers",
      requiredApprovals: 2,
    });
    expect(once.approvals).toHaveLength(1);
    // The same approver again does not count; a later approver cannot change the profile.
    expect(await grpcCode(grpcUnary(client, RequestService.method.approveRequest, approve, op1))).toBe(
      grpc.status.ALREADY_EXISTS,
    );
    expect(
      await grpcCode(
        grpcUnary(client, RequestService.method.approveRequest, { ...approve, profile: "profiles/tls-server" }, op2),
      ),
    ).toBe(grpc.status.FAILED_PRECONDITION);

    const issued = await grpcUnary(client, RequestService.method.approveRequest, { name: submitted.name }, op2);
    expect(issued).toMatchObject({ state: Request_State.ISSUED, hasServerKey: true });
    expect(issued.approvals).toHaveLength(2);
    expect(issued.certificate).toBe(`certificates/${issued.certificateSerialHex}`);
    const leafDer = Buffer.from(pemDecode(issued.certificatePem, ["CERTIFICATE"]));
    expect(verifyChain(rootDer, [issuingDer], leafDer).stdout).toContain("OK");
    expect(new X509Certificate(leafDer).subjectAltName).toBe("DNS:app.example.com, DNS:www.app.example.com");

    // The requester reads it; the certificate names her as requester, through the admin front end.
    const read = await grpcUnary(client, RequestService.method.getRequest, { name: submitted.name }, alice);
    expect(read.certificateSerialHex).toBe(issued.certificateSerialHex);
    const row = await gateway.issuance.getBySerial(issued.certificateSerialHex);
    expect(row).toMatchObject({ requester: `user:${aliceName.slice("users/".length)}`, source_protocol: "admin" });

    // PKCS#12: the requester only (and admins), with a passphrase openssl accepts.
    expect(
      await grpcCode(
        grpcUnary(
          client,
          RequestService.method.exportRequestPkcs12,
          { name: submitted.name, passphrase: "a long passphrase" },
          op2,
        ),
      ),
    ).toBe(grpc.status.PERMISSION_DENIED);
    const exported = await grpcUnary(
      client,
      RequestService.method.exportRequestPkcs12,
      { name: submitted.name, passphrase: "a long passphrase" },
      alice,
    );
    const scratch = createScratchDir();
    try {
      const file = scratch.file("app.p12", exported.pkcs12);
      const info = openssl(["pkcs12", "-in", file, "-info", "-nokeys", "-passin", "pass:a long passphrase"]);
      expect(info.ok, info.stderr).toBe(true);
      expect(info.stdout.match(/BEGIN CERTIFICATE/g)).toHaveLength(3);
      const keys = openssl(["pkcs12", "-in", file, "-nodes", "-nocerts", "-passin", "pass:a long passphrase"]);
      expect(keys.ok, keys.stderr).toBe(true);
      const key = createPrivateKey(keys.stdout.slice(keys.stdout.indexOf("-----BEGIN PRIVATE KEY-----")));
      expect(
        createPublicKey(key)
          .export({ type: "spki", format: "der" })
          .equals(new X509Certificate(leafDer).publicKey.export({ type: "spki", format: "der" })),
      ).toBe(true);
    } finally {
      scratch.cleanup();
    }

    // Every state change is in the audit chain, with the caller and its address.
    const events = await grpcUnary(
      client,
      AuditService.method.listAuditEvents,
      { filter: { action: "request.", target: `request:${submitted.name.slice("requests/".length)}` } },
      admin,
    );
    const actions = events.auditEvents.map((e) => e.action).sort();
    expect(actions).toEqual([
      "request.approve",
      "request.approve",
      "request.export_pkcs12",
      "request.issue",
      "request.submit",
    ]);
    expect(events.auditEvents.every((e) => e.sourceIp === "127.0.0.1" && e.actor.startsWith("user:"))).toBe(true);
  });

  it("refuses an operator approving their own request, audited; an admin approves it", async () => {
    const own = await grpcUnary(
      client,
      RequestService.method.createRequest,
      { request: { commonName: "op1.example.com", subjectAltNames: [dns("op1.example.com")], csrPem: csrPem() } },
      op1,
    );
    const approve = { name: own.name, certificateAuthority: issuingName, profile: "profiles/tls-server" };
    expect(await grpcCode(grpcUnary(client, RequestService.method.approveRequest, approve, op1))).toBe(
      grpc.status.PERMISSION_DENIED,
    );
    const denied = await grpcUnary(
      client,
      AuditService.method.listAuditEvents,
      { filter: { action: "request.approve_denied", target: `request:${own.name.slice("requests/".length)}` } },
      admin,
    );
    expect(denied.auditEvents).toHaveLength(1);
    expect(denied.auditEvents[0]!.sourceIp).toBe("127.0.0.1");

    const issued = await grpcUnary(client, RequestService.method.approveRequest, approve, admin);
    expect(issued).toMatchObject({ state: Request_State.ISSUED, hasServerKey: false });
    expect(
      verifyChain(rootDer, [issuingDer], Buffer.from(pemDecode(issued.certificatePem, ["CERTIFICATE"]))).stdout,
    ).toContain("OK");
    expect(
      await grpcCode(
        grpcUnary(client, RequestService.method.exportRequestPkcs12, { name: own.name, passphrase: "12345678" }, op1),
      ),
    ).toBe(grpc.status.FAILED_PRECONDITION);
  });

  it("rejects a free-form request with a reason, finally, and lets an approver fill in another one", async () => {
    const wish = await grpcUnary(
      client,
      RequestService.method.createRequest,
      { request: { freeForm: true, comment: "a client certificate for the build robot" } },
      alice,
    );
    expect(
      await grpcCode(grpcUnary(client, RequestService.method.rejectRequest, { name: wish.name, reason: "" }, op1)),
    ).toBe(grpc.status.INVALID_ARGUMENT);
    expect(
      await grpcCode(grpcUnary(client, RequestService.method.rejectRequest, { name: wish.name, reason: "no" }, alice)),
    ).toBe(grpc.status.PERMISSION_DENIED);
    const rejected = await grpcUnary(
      client,
      RequestService.method.rejectRequest,
      { name: wish.name, reason: "use the robot's own CSR" },
      op1,
    );
    expect(rejected).toMatchObject({ state: Request_State.REJECTED, rejectionReason: "use the robot's own CSR" });
    expect(
      await grpcCode(
        grpcUnary(
          client,
          RequestService.method.approveRequest,
          { name: wish.name, certificateAuthority: issuingName, profile: "profiles/tls-server" },
          op2,
        ),
      ),
    ).toBe(grpc.status.FAILED_PRECONDITION);

    const again = await grpcUnary(
      client,
      RequestService.method.createRequest,
      { request: { freeForm: true, comment: "a TLS certificate for the build robot's dashboard" } },
      alice,
    );
    const issued = await grpcUnary(
      client,
      RequestService.method.approveRequest,
      {
        name: again.name,
        certificateAuthority: issuingName,
        profile: "profiles/tls-server",
        commonName: "robot.example.com",
        subjectAltNames: [dns("robot.example.com")],
        keyAlgorithm: KeyAlgorithm.ED25519,
      },
      op2,
    );
    expect(issued).toMatchObject({ state: Request_State.ISSUED, commonName: "robot.example.com", hasServerKey: true });
    expect(
      verifyChain(rootDer, [issuingDer], Buffer.from(pemDecode(issued.certificatePem, ["CERTIFICATE"]))).stdout,
    ).toContain("OK");
  });

  it("shows users their own requests only and operators/admins the queue by state, with counts", async () => {
    const pending = await grpcUnary(
      client,
      RequestService.method.createRequest,
      { request: { commonName: "queued.example.com", keyAlgorithm: KeyAlgorithm.RSA_2048 } },
      op2,
    );
    expect(await grpcCode(grpcUnary(client, RequestService.method.getRequest, { name: pending.name }, alice))).toBe(
      grpc.status.NOT_FOUND,
    );

    const mine = await grpcUnary(client, RequestService.method.listRequests, {}, alice);
    expect(mine.requests.length).toBeGreaterThan(0);
    expect(mine.requests.every((r) => r.requester === aliceName)).toBe(true);
    const myCounts = await grpcUnary(client, RequestService.method.getRequestCounts, {}, alice);
    expect(Number(myCounts.pending + myCounts.issued + myCounts.rejected)).toBe(mine.requests.length);

    const queue = await grpcUnary(client, RequestService.method.listRequests, { state: Request_State.PENDING }, op1);
    expect(queue.requests.map((r) => r.name)).toContain(pending.name);
    expect(queue.requests.every((r) => r.state === Request_State.PENDING)).toBe(true);
    const counts = await grpcUnary(client, RequestService.method.getRequestCounts, {}, admin);
    expect(counts).toMatchObject({ pending: 1n, issued: 3n, rejected: 1n });
    const issued = await grpcUnary(
      client,
      RequestService.method.listRequests,
      { state: Request_State.ISSUED, pageSize: 2 },
      admin,
    );
    expect(issued.requests).toHaveLength(2);
    const rest = await grpcUnary(
      client,
      RequestService.method.listRequests,
      { state: Request_State.ISSUED, pageSize: 2, pageToken: issued.nextPageToken },
      admin,
    );
    expect(rest.requests).toHaveLength(1);
    expect(rest.nextPageToken).toBe("");
  });

  // After the counts above, which it would change.
  it("carries the otherNames a CSR asks for (a UPN) into the request, named by the OID registry", async () => {
    const tlsClient = createDefaultProfiles().find((p) => p.name === "tls-client")!;
    await gateway.profiles.create(
      { ...tlsClient, name: "tls-client-upn", san: { ...tlsClient.san, otherNames: ["upn"] } },
      { actor: "test" },
    );
    // The UPN, an email SAN, and an otherName no registry entry names (left out: the gateway cannot issue it).
    const sans = `otherName:${upnOid};UTF8:alice@example.com,email:alice@example.com,otherName:1.3.6.1.4.1.99999.42;UTF8:x`;
    const csr = pemEncode("CERTIFICATE REQUEST", opensslCsr({ subject: "/CN=alice", sans }));
    const submitted = await grpcUnary(
      client,
      RequestService.method.createRequest,
      { request: { csrPem: csr, comment: "alice's Wi-Fi certificate" } },
      alice,
    );
    const upn = { type: Request_SubjectAltName_Type.OTHER_NAME, value: "alice@example.com", otherName: "upn" };
    const email = { type: Request_SubjectAltName_Type.EMAIL, value: "alice@example.com", otherName: "" };
    expect(submitted.subjectAltNames).toEqual([expect.objectContaining(upn), expect.objectContaining(email)]);
    const submitEvents = await grpcUnary(
      client,
      AuditService.method.listAuditEvents,
      { filter: { action: "request.submit", target: `request:${submitted.name.slice("requests/".length)}` } },
      admin,
    );
    expect(submitEvents.auditEvents[0]!.details!.sans).toEqual([
      "otherName:upn:alice@example.com",
      "email:alice@example.com",
    ]);

    // The profile still decides: one that allows no otherName refuses it, and the request stays pending.
    const refused = { name: submitted.name, certificateAuthority: issuingName, profile: "profiles/tls-client" };
    expect(await grpcCode(grpcUnary(client, RequestService.method.approveRequest, refused, op1))).toBe(
      grpc.status.FAILED_PRECONDITION,
    );
    const issued = await grpcUnary(
      client,
      RequestService.method.approveRequest,
      { ...refused, profile: "profiles/tls-client-upn" },
      op1,
    );
    expect(issued).toMatchObject({ state: Request_State.ISSUED, hasServerKey: false });
    const leafDer = Buffer.from(pemDecode(issued.certificatePem, ["CERTIFICATE"]));
    expect(verifyChain(rootDer, [issuingDer], leafDer).stdout).toContain("OK");
    // OpenSSL 3 prints the UPN by name.
    const text = certificateText(leafDer);
    expect(text).toMatch(/othername: ?UPN:+alice@example\.com/i);
    expect(text).toContain("email:alice@example.com");
    expect(text).not.toContain("1.3.6.1.4.1.99999.42");
  });
});

const upnOid = "1.3.6.1.4.1.311.20.2.3";

function csrPem(): string {
  return pemEncode("CERTIFICATE REQUEST", opensslCsr({ subject: "/CN=op1.example.com" }));
}
