import { randomBytes, randomUUID, X509Certificate } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createKeyEncryption } from "../src/core/ca/key-encryption.ts";
import { systemClock } from "../src/core/clock.ts";
import type { Role } from "../src/core/identity/role.ts";
import { createDefaultProfiles } from "../src/core/profiles/default-profiles.ts";
import { createRegistryService } from "../src/core/registry/registry-service.ts";
import { createRequestService, type RequestService } from "../src/core/requests/request-service.ts";
import { pemDecode } from "../src/core/x509/pem.ts";
import { opensslCsr } from "../src/core/x509/testing/openssl.ts";
import { testLogger } from "./support/test-core.ts";
import { connectJson, startTestGateway, type TestGateway } from "./support/test-gateway.ts";

describe("protocol requests over the admin API (Connect JSON)", () => {
  let env: TestGateway;
  let frontEnd: RequestService;
  let issuingId: string;
  let op1: string;
  let op2: string;
  let opOther: string;

  async function token(username: string, role: Role, assignedCaIds: string[]): Promise<string> {
    const user = await env.gateway.users.create({ username, role, apiAccess: true, assignedCaIds }, { actor: "test" });
    return (await env.gateway.tokens.create(user.id, { actor: "test" })).secret;
  }

  const call = (method: string, body: unknown, as: string) =>
    connectJson(env, `chancery.admin.v1.RequestService/${method}`, body, as);

  beforeAll(async () => {
    env = await startTestGateway({ maxConnections: 10 });
    const { gateway } = env;
    // The gateway keeps its request service to its front ends; an ACME front end submits through
    // one like this, over the same database, audit chain, CAs and issuance.
    frontEnd = createRequestService({
      pool: gateway.pool,
      audit: gateway.audit,
      clock: systemClock,
      logger: testLogger,
      keyEncryption: createKeyEncryption(randomBytes(32)),
      cas: gateway.cas,
      profiles: gateway.profiles,
      registry: createRegistryService({ pool: gateway.pool, audit: gateway.audit }),
      issuance: gateway.issuance,
    });
    issuingId = (await gateway.cas.list()).find((ca) => ca.name === "issuing")!.id;
    const other = await gateway.cas.createRoot(
      { name: "other", subject: [{ type: "CN", value: "Other Root" }], keyAlgorithm: "ecdsa-p256", validityDays: 30 },
      { actor: "test" },
    );
    const tlsServer = createDefaultProfiles().find((p) => p.name === "tls-server")!;
    await gateway.profiles.create(
      { ...tlsServer, name: "acme-two-approvers", requiresApproval: { required: true, approvers: 2 } },
      { actor: "test" },
    );
    op1 = await token("op1", "operator", [issuingId]);
    op2 = await token("op2", "operator", [issuingId]);
    opOther = await token("op-other", "operator", [other.id]);
  });
  afterAll(async () => env?.stop());

  it("shows an ACME order's request to the CA's operators, who approve it into the account's certificate", async () => {
    const account = `acme-account:${randomUUID()}`;
    const notAfter = new Date(Math.floor(Date.now() / 1000) * 1000 + 30 * 86_400_000);
    const submitted = await frontEnd.submitFromProtocol({
      caId: issuingId,
      profileName: "acme-two-approvers",
      csrDer: opensslCsr({ subject: "/CN=order.example.com", sans: "DNS:order.example.com,DNS:extra.example.net" }),
      approved: { sans: [{ type: "dns", value: "order.example.com" }] },
      validity: { notAfter },
      requester: account,
      sourceProtocol: "acme",
      sourceIp: "203.0.113.9",
    });
    const name = `requests/${submitted.id}`;

    const listed = await call("ListRequests", { state: "STATE_PENDING" }, op1);
    expect(listed.status).toBe(200);
    const shown = (listed.json["requests"] as Array<Record<string, unknown>>).find((r) => r["name"] === name);
    expect(shown).toMatchObject({
      state: "STATE_PENDING",
      kind: "KIND_CERTIFICATE",
      protocolRequester: account,
      sourceProtocol: "acme",
      sourceIp: "203.0.113.9",
      certificateAuthority: `certificateAuthorities/${issuingId}`,
      profile: "profiles/acme-two-approvers",
      requiredApprovals: 2,
      commonName: "order.example.com",
      subjectAltNames: [{ type: "TYPE_DNS", value: "order.example.com" }],
      requestedNotAfter: notAfter.toISOString().replace(".000Z", "Z"),
    });
    // Not a user's request: no "users/{id}" requester (an empty string is left out of JSON).
    expect(shown?.["requester"]).toBeUndefined();
    expect(shown?.["csrPem"]).toMatch(/^-----BEGIN CERTIFICATE REQUEST-----/);

    // An operator of another CA does not see it; naming another profile is refused.
    expect((await call("GetRequest", { name }, opOther)).json).toMatchObject({ code: "not_found" });
    expect((await call("ApproveRequest", { name }, opOther)).json).toMatchObject({ code: "not_found" });
    expect((await call("ApproveRequest", { name, profile: "profiles/tls-server" }, op1)).json).toMatchObject({
      code: "failed_precondition",
    });

    const once = await call("ApproveRequest", { name }, op1);
    expect(once.status).toBe(200);
    expect(once.json).toMatchObject({ state: "STATE_PENDING", approvals: [expect.anything()] });
    const issued = await call("ApproveRequest", { name }, op2);
    expect(issued.status).toBe(200);
    expect(issued.json).toMatchObject({ state: "STATE_ISSUED", protocolRequester: account, sourceProtocol: "acme" });
    const leaf = new X509Certificate(Buffer.from(pemDecode(issued.json["certificatePem"] as string, ["CERTIFICATE"])));
    expect(leaf.subjectAltName).toBe("DNS:order.example.com");
    expect(new Date(leaf.validTo).getTime()).toBe(notAfter.getTime());

    const certificate = await connectJson(
      env,
      "chancery.admin.v1.CertificateService/GetCertificate",
      { name: issued.json["certificate"] },
      op1,
    );
    expect(certificate.json).toMatchObject({ sourceProtocol: "acme", requester: account });
    expect(await frontEnd.getProtocolRequest(submitted.id)).toEqual({
      id: submitted.id,
      state: "issued",
      certificateSerialHex: issued.json["certificateSerialHex"],
      rejectionReason: null,
    });
  });
});
