import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { grpcUnary } from "../src/admin/testing/grpc-test-client.ts";
import { proofFailedMessage } from "../src/core/x509/parse-csr.ts";
import { pemEncode } from "../src/core/x509/pem.ts";
import { createScratchDir, openssl, opensslCsr } from "../src/core/x509/testing/openssl.ts";
import type { Gateway } from "../src/gateway.ts";
import { AuditService } from "../src/gen/chancery/admin/v1/audit_pb.js";
import { CertificateAuthorityService, KeyAlgorithm } from "../src/gen/chancery/admin/v1/certificate_authority_pb.js";
import {
  type Certificate,
  Certificate_State,
  CertificateService,
  RevocationReason,
  SubjectAltName_Type,
} from "../src/gen/chancery/admin/v1/certificate_pb.js";
import { Role, UserService } from "../src/gen/chancery/admin/v1/user_pb.js";
import { bearer, connectJson, startTestGateway, type TestGateway } from "./support/test-gateway.ts";

/**
 * The status of a failed call, its message fully percent-decoded: connect-node
 * sends grpc-message through encodeURIComponent, and grpc-js decodes it with
 * decodeURI, which leaves ":", "/", ";" and "," escaped.
 */
async function failure(call: Promise<unknown>): Promise<{ code: number; details: string }> {
  try {
    await call;
  } catch (err) {
    const { code, details } = err as grpc.ServiceError;
    return { code, details: decodeURIComponent(details) };
  }
  throw new Error("the call succeeded");
}

function csrPem(subject: string, sans?: string): string {
  return pemEncode("CERTIFICATE REQUEST", opensslCsr({ subject, ...(sans ? { sans } : {}) }));
}

const dns = (value: string) => ({ type: SubjectAltName_Type.DNS, value });

function pemBlocks(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/g) ?? [];
}

/** `openssl verify -x509_strict` of the first certificate of `pem` against the last, with those between as untrusted. */
function opensslVerify(pem: string): string {
  const blocks = pemBlocks(pem);
  const scratch = createScratchDir();
  try {
    const args = ["verify", "-x509_strict", "-CAfile", scratch.file("root.pem", blocks[blocks.length - 1]!)];
    if (blocks.length > 2) args.push("-untrusted", scratch.file("chain.pem", blocks.slice(1, -1).join("")));
    args.push(scratch.file("leaf.pem", blocks[0]!));
    const result = openssl(args);
    return result.ok ? result.stdout : result.stderr;
  } finally {
    scratch.cleanup();
  }
}

describe("CertificateService on a running gateway", () => {
  let env: TestGateway;
  let gateway: Gateway;
  let client: grpc.Client;
  let admin: grpc.Metadata;
  let adminToken: string;
  let adminId: string;
  let issuingCa: string;
  let otherCa: string;
  let operator: grpc.Metadata;
  let operatorId: string;
  let user: grpc.Metadata;
  let userToken: string;
  let userId: string;

  async function createUser(username: string, role: Role, assigned: string[] = []) {
    const created = await grpcUnary(
      client,
      UserService.method.createUser,
      { user: { username, role, apiAccess: true, assignedCertificateAuthorities: assigned } },
      admin,
    );
    const id = created.name.slice("users/".length);
    // No sign-in other than a token exists yet, so the first token is made through the core.
    const token = await gateway.tokens.create(id, { actor: "test" });
    return { id, token: token.secret, metadata: bearer(token.secret) };
  }

  function issue(
    as: grpc.Metadata,
    fields: { parent?: string; profile?: string; cn: string; sans?: string[]; notAfter?: Date; requestId?: string },
  ): Promise<Certificate> {
    const sans = fields.sans ?? [fields.cn];
    return grpcUnary(
      client,
      CertificateService.method.issueCertificate,
      {
        parent: fields.parent ?? issuingCa,
        profile: fields.profile ?? "profiles/tls-server",
        csrPem: csrPem(`/CN=${fields.cn}`),
        subjectAltNames: sans.map(dns),
        ...(fields.notAfter ? { notAfter: timestampFromDate(fields.notAfter) } : {}),
        ...(fields.requestId ? { requestId: fields.requestId } : {}),
      },
      as,
    );
  }

  async function listAll(as: grpc.Metadata, filter: string, pageSize = 0): Promise<Certificate[]> {
    const all: Certificate[] = [];
    let pageToken = "";
    for (let pages = 0; pages < 100; pages++) {
      const page = await grpcUnary(
        client,
        CertificateService.method.listCertificates,
        { filter, pageSize, pageToken },
        as,
      );
      all.push(...page.certificates);
      if (!page.nextPageToken) return all;
      pageToken = page.nextPageToken;
    }
    throw new Error("more than 100 pages");
  }

  beforeAll(async () => {
    env = await startTestGateway();
    gateway = env.gateway;
    client = env.client;
    adminToken = env.adminToken;
    admin = bearer(adminToken);
    adminId = (await grpcUnary(client, UserService.method.getCurrentUser, {}, admin)).name.slice("users/".length);
    const cas = await grpcUnary(client, CertificateAuthorityService.method.listCertificateAuthorities, {}, admin);
    issuingCa = cas.certificateAuthorities.find((ca) => ca.displayName === "issuing")!.name;
    otherCa = (
      await grpcUnary(
        client,
        CertificateAuthorityService.method.createRootCertificateAuthority,
        {
          displayName: "other-root",
          subject: [{ type: "CN", value: "Other Root" }],
          keyAlgorithm: KeyAlgorithm.ECDSA_P256,
          validityDays: 30,
        },
        admin,
      )
    ).name;
    const op = await createUser("olga", Role.OPERATOR, [issuingCa]);
    operator = op.metadata;
    operatorId = op.id;
    const u = await createUser("ursula", Role.USER);
    user = u.metadata;
    userToken = u.token;
    userId = u.id;
  });
  afterAll(async () => env?.stop());

  it("issues from an openssl CSR over real gRPC; openssl verifies the returned chain; the issue is audited", async () => {
    const cert = await issue(admin, { cn: "app.example.com", sans: ["app.example.com", "www.app.example.com"] });
    expect(cert.name).toBe(`certificates/${cert.serialHex}`);
    expect(cert.serialHex).toMatch(/^[0-9a-f]+$/);
    expect(cert).toMatchObject({
      certificateAuthority: issuingCa,
      profile: "profiles/tls-server",
      subject: "CN=app.example.com",
      state: Certificate_State.VALID,
      revocationReason: RevocationReason.UNSPECIFIED,
      requester: `user:${adminId}`,
      sourceProtocol: "admin",
    });
    expect(cert.subjectAltNames.map((s) => [s.type, s.value])).toEqual([
      [SubjectAltName_Type.DNS, "app.example.com"],
      [SubjectAltName_Type.DNS, "www.app.example.com"],
    ]);
    expect(cert.revokeTime).toBeUndefined();
    expect(cert.fingerprintSha256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    const fingerprint = openssl(["x509", "-noout", "-fingerprint", "-sha256"], cert.certificatePem).stdout;
    expect(fingerprint.trim()).toBe(`sha256 Fingerprint=${cert.fingerprintSha256}`);
    expect(pemBlocks(cert.issuerChainPem)).toHaveLength(2); // issuing CA, root
    expect(opensslVerify(cert.certificatePem + cert.issuerChainPem)).toContain("OK");
    expect(timestampDate(cert.issueTime!).getTime()).toBeLessThanOrEqual(Date.now());

    const chain = await grpcUnary(client, CertificateService.method.getCertificateChain, { name: cert.name }, admin);
    expect(pemBlocks(chain.certificateChainPem)).toHaveLength(3);
    expect(chain.certificateChainPem.startsWith(cert.certificatePem)).toBe(true);
    expect(opensslVerify(chain.certificateChainPem)).toContain("OK");

    const got = await grpcUnary(client, CertificateService.method.getCertificate, { name: cert.name }, admin);
    expect(got).toEqual(cert);
    // The serial in any accepted spelling names the same certificate.
    const upper = cert.serialHex.toUpperCase().replace(/(..)(?!$)/g, "$1:");
    const again = await grpcUnary(
      client,
      CertificateService.method.getCertificate,
      { name: `certificates/${upper}` },
      admin,
    );
    expect(again.name).toBe(cert.name);

    const events = await grpcUnary(
      client,
      AuditService.method.listAuditEvents,
      { filter: { action: "certificate.issue", target: `certificate:${cert.serialHex}` } },
      admin,
    );
    expect(events.auditEvents).toHaveLength(1);
    expect(events.auditEvents[0]).toMatchObject({ actor: `user:${adminId}`, sourceIp: "127.0.0.1" });
  });

  it("maps bad input: a bad CSR is INVALID_ARGUMENT with the core's message, a policy violation FAILED_PRECONDITION", async () => {
    const der = opensslCsr({ subject: "/CN=tampered.example.com" });
    der[der.length - 1] = der[der.length - 1]! ^ 0x01; // the last octet of the signature
    expect(
      await failure(
        grpcUnary(
          client,
          CertificateService.method.issueCertificate,
          {
            parent: issuingCa,
            profile: "profiles/tls-server",
            csrPem: pemEncode("CERTIFICATE REQUEST", der),
            subjectAltNames: [dns("tampered.example.com")],
          },
          admin,
        ),
      ),
    ).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: proofFailedMessage });
    expect(
      await failure(
        grpcUnary(
          client,
          CertificateService.method.issueCertificate,
          {
            parent: issuingCa,
            profile: "profiles/tls-server",
            csrPem: "not a CSR",
            subjectAltNames: [dns("a.example")],
          },
          admin,
        ),
      ),
    ).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: expect.stringMatching(/^csr_pem: /) });
    expect(
      await failure(
        grpcUnary(
          client,
          CertificateService.method.issueCertificate,
          {
            parent: issuingCa,
            profile: "profiles/tls-server",
            csrPem: csrPem("/CN=mail.example.com"),
            subjectAltNames: [{ type: SubjectAltName_Type.EMAIL, value: "a@example.com" }],
          },
          admin,
        ),
      ),
    ).toMatchObject({
      code: grpc.status.FAILED_PRECONDITION,
      details: expect.stringContaining("san.allowedTypes"),
    });
    expect(
      await failure(
        grpcUnary(
          client,
          CertificateService.method.issueCertificate,
          {
            parent: issuingCa,
            profile: "tls-server",
            csrPem: csrPem("/CN=x.example"),
            subjectAltNames: [dns("x.example")],
          },
          admin,
        ),
      ),
    ).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: expect.stringContaining("profiles/{id}") });
    await expect(issue(admin, { cn: "x.example", profile: "profiles/no-such-profile" })).rejects.toMatchObject({
      code: grpc.status.NOT_FOUND,
    });
  });

  it("takes the subject from the request when given, and a requested not_after, capped by the profile", async () => {
    const notAfter = new Date(Math.floor(Date.now() / 1000) * 1000 + 10 * 86_400_000);
    const cert = await grpcUnary(
      client,
      CertificateService.method.issueCertificate,
      {
        parent: issuingCa,
        profile: "profiles/tls-client",
        csrPem: csrPem("/CN=from-the-csr/O=CSR Org"),
        subject: [
          { type: "O", value: "Approved Org" },
          { type: "CN", value: "approved" },
        ],
        subjectAltNames: [{ type: SubjectAltName_Type.EMAIL, value: "approved@example.com" }],
        notAfter: timestampFromDate(notAfter),
      },
      operator,
    );
    expect(cert.subject).toBe("CN=approved,O=Approved Org");
    expect(cert.subjectAltNames).toMatchObject([{ type: SubjectAltName_Type.EMAIL, value: "approved@example.com" }]);
    expect(timestampDate(cert.notAfter!).getTime()).toBe(notAfter.getTime());
    const tooLong = await issue(operator, {
      cn: "long.example.com",
      notAfter: new Date(Date.now() + 3 * 365 * 86_400_000),
    });
    const days =
      (timestampDate(tooLong.notAfter!).getTime() - timestampDate(tooLong.notBefore!).getTime()) / 86_400_000;
    expect(Math.round(days)).toBe(397);
  });

  it("gives an operator without CAs nothing to issue through and nothing to list", async () => {
    const idle = await createUser("oscar", Role.OPERATOR);
    await expect(issue(idle.metadata, { cn: "idle.example.com" })).rejects.toMatchObject({
      code: grpc.status.NOT_FOUND,
    });
    expect(await listAll(idle.metadata, "")).toEqual([]);
  });

  it("returns the first certificate for a repeated request_id, and refuses the id for another CA", async () => {
    const first = await issue(operator, { cn: "retry.example.com", requestId: "8b0c6a3e-retry" });
    const second = await issue(operator, { cn: "retry.example.com", requestId: "8b0c6a3e-retry" });
    expect(second.name).toBe(first.name);
    // The same id from another caller is another request.
    const theirs = await issue(admin, { cn: "retry.example.com", requestId: "8b0c6a3e-retry" });
    expect(theirs.name).not.toBe(first.name);
    await expect(
      issue(admin, { cn: "retry.example.com", requestId: "8b0c6a3e-retry", parent: otherCa }),
    ).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
  });

  it("lists newest first with each filter, across pages, and refuses a malformed filter or a token from another filter", async () => {
    const soon = new Date(Math.ceil(Date.now() / 1000) * 1000 + 3_000);
    const shortLived = await issue(admin, {
      cn: "soon.filter.example",
      profile: "profiles/device",
      notAfter: soon,
    });
    const made: Certificate[] = [shortLived];
    for (let i = 0; i < 5; i++) made.push(await issue(admin, { cn: `alpha${i}.filter.example` }));
    made.push(await issue(operator, { cn: "beta.filter.example" }));
    made.push(await issue(admin, { cn: "gamma.filter.example", parent: otherCa, profile: "profiles/tls-client" }));
    const revoked = made[2]!;
    await grpcUnary(
      client,
      CertificateService.method.revokeCertificate,
      { name: revoked.name, reason: RevocationReason.SUPERSEDED },
      admin,
    );
    // Let the short-lived certificate expire (RFC 5280: valid through notAfter inclusive).
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, soon.getTime() + 1_100 - Date.now())));

    const mine = (list: Certificate[]) => names(list).filter((n) => names(made).includes(n));

    // Every page of 3, in order, no repeats: newest first.
    const all = await listAll(admin, 'san : ".filter.example"', 3);
    expect(names(all)).toEqual(names(made).reverse());
    const issueTimes = all.map((c) => timestampDate(c.issueTime!).getTime());
    expect([...issueTimes].sort((a, b) => b - a)).toEqual(issueTimes);
    expect(all.every((c) => c.issuerChainPem === "")).toBe(true);

    const unfiltered = await listAll(admin, "", 2);
    expect(new Set(names(unfiltered)).size).toBe(unfiltered.length);
    expect(mine(unfiltered)).toEqual(names(made).reverse());

    expect(mine(await listAll(admin, `ca = "${otherCa}"`))).toEqual([made[7]!.name]);
    expect(mine(await listAll(admin, 'profile = "tls-client"'))).toEqual([made[7]!.name]);
    expect(mine(await listAll(admin, 'profile = "profiles/device"'))).toEqual([shortLived.name]);
    expect(mine(await listAll(admin, 'state = "REVOKED"'))).toEqual([revoked.name]);
    const expired = await listAll(admin, 'state = "EXPIRED"');
    expect(names(expired)).toEqual([shortLived.name]);
    expect(expired[0]!.state).toBe(Certificate_State.EXPIRED);
    const valid = await listAll(admin, 'state = "VALID" AND san : "filter.example"');
    expect(names(valid)).toEqual(
      names(made)
        .filter((n) => n !== revoked.name && n !== shortLived.name)
        .reverse(),
    );
    expect(valid.every((c) => c.state === Certificate_State.VALID)).toBe(true);
    expect(mine(await listAll(admin, `not_after <= "${new Date(soon.getTime() + 1000).toISOString()}"`))).toEqual([
      shortLived.name,
    ]);
    expect(names(await listAll(admin, 'san : "BETA.filter"'))).toEqual([made[6]!.name]);
    expect(names(await listAll(admin, `requester = "user:${operatorId}" AND san : "filter.example"`))).toEqual([
      made[6]!.name,
    ]);
    expect(
      names(
        await listAll(
          admin,
          `ca = "${issuingCa}" AND profile = "tls-server" AND state = "VALID" AND not_after > "2000-01-01T00:00:00Z"` +
            ` AND san : "alpha" AND requester = "user:${adminId}"`,
        ),
      ),
    ).toEqual(names(made.slice(1, 6).filter((c) => c.name !== revoked.name)).reverse());

    expect(
      await failure(
        grpcUnary(
          client,
          CertificateService.method.listCertificates,
          { filter: 'state = "VALID" OR state = "REVOKED"' },
          admin,
        ),
      ),
    ).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: expect.stringMatching(/^filter: OR/) });
    await expect(
      grpcUnary(client, CertificateService.method.listCertificates, { filter: "state = VALID" }, admin),
    ).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    const first = await grpcUnary(
      client,
      CertificateService.method.listCertificates,
      { filter: 'san : "filter.example"', pageSize: 2 },
      admin,
    );
    expect(first.nextPageToken).not.toBe("");
    expect(
      await failure(
        grpcUnary(
          client,
          CertificateService.method.listCertificates,
          { filter: 'san : "alpha"', pageSize: 2, pageToken: first.nextPageToken },
          admin,
        ),
      ),
    ).toMatchObject({
      code: grpc.status.INVALID_ARGUMENT,
      details: expect.stringContaining("different filter"),
    });
    await expect(
      grpcUnary(client, CertificateService.method.listCertificates, { pageToken: "garbage" }, admin),
    ).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
  });

  it("revokes idempotently: a second revocation returns the first one's time and reason", async () => {
    const cert = await issue(operator, { cn: "revoke-me.example.com" });
    const once = await grpcUnary(
      client,
      CertificateService.method.revokeCertificate,
      { name: cert.name, reason: RevocationReason.KEY_COMPROMISE },
      operator,
    );
    expect(once).toMatchObject({ state: Certificate_State.REVOKED, revocationReason: RevocationReason.KEY_COMPROMISE });
    expect(once.revokeTime).toBeDefined();
    const twice = await grpcUnary(
      client,
      CertificateService.method.revokeCertificate,
      { name: cert.name, reason: RevocationReason.SUPERSEDED },
      admin,
    );
    expect(twice).toEqual(once);
    const events = await grpcUnary(
      client,
      AuditService.method.listAuditEvents,
      { filter: { action: "certificate.revoke", target: `certificate:${cert.serialHex}` } },
      admin,
    );
    expect(events.auditEvents).toHaveLength(1);
    expect(events.auditEvents[0]!.actor).toBe(`user:${operatorId}`);
    // certificateHold (6) has no place here: revocation is final.
    await expect(
      grpcUnary(
        client,
        CertificateService.method.revokeCertificate,
        { name: cert.name, reason: 6 as RevocationReason },
        admin,
      ),
    ).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    await expect(
      grpcUnary(client, CertificateService.method.revokeCertificate, { name: "certificates/abcdef0123" }, admin),
    ).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
  });

  it("enforces roles: operators only through assigned CAs (others look absent), users only read their own", async () => {
    const ours = await issue(admin, { cn: "ours.roles.example" });
    const theirs = await issue(admin, { cn: "theirs.roles.example", parent: otherCa });

    // Operator: issue/get/revoke through the assigned CA; the other CA and its certificates are not found.
    const byOperator = await issue(operator, { cn: "op.roles.example" });
    expect(byOperator.requester).toBe(`user:${operatorId}`);
    await expect(issue(operator, { cn: "op.roles.example", parent: otherCa })).rejects.toMatchObject({
      code: grpc.status.NOT_FOUND,
    });
    expect(
      (await grpcUnary(client, CertificateService.method.getCertificate, { name: ours.name }, operator)).name,
    ).toBe(ours.name);
    await expect(
      grpcUnary(client, CertificateService.method.getCertificate, { name: theirs.name }, operator),
    ).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
    await expect(
      grpcUnary(client, CertificateService.method.getCertificateChain, { name: theirs.name }, operator),
    ).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
    await expect(
      grpcUnary(client, CertificateService.method.revokeCertificate, { name: theirs.name }, operator),
    ).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
    const operatorView = await listAll(operator, 'san : "roles.example"');
    expect(operatorView.map((c) => c.name).sort()).toEqual([ours.name, byOperator.name].sort());
    expect(await listAll(operator, `ca = "${otherCa}"`)).toEqual([]);
    expect((await listAll(operator, "")).every((c) => c.certificateAuthority === issuingCa)).toBe(true);

    // User: no issuing or revoking here; reads only what they requested (through the requests queue, made here
    // through the core as that flow would).
    await expect(issue(user, { cn: "user.roles.example" })).rejects.toMatchObject({
      code: grpc.status.PERMISSION_DENIED,
    });
    await expect(
      grpcUnary(client, CertificateService.method.revokeCertificate, { name: ours.name }, user),
    ).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED });
    const own = await gateway.issuance.issue({
      caId: issuingCa.split("/")[1]!,
      profileName: "tls-client",
      csrDer: opensslCsr({ subject: "/CN=ursula" }),
      approved: { sans: [] },
      requester: `user:${userId}`,
      sourceProtocol: "admin",
    });
    const ownName = `certificates/${own.serialHex}`;
    expect(names(await listAll(user, ""))).toEqual([ownName]);
    expect(names(await listAll(user, `requester = "user:${userId}"`))).toEqual([ownName]);
    expect(await listAll(user, `requester = "user:${adminId}"`)).toEqual([]);
    expect((await grpcUnary(client, CertificateService.method.getCertificate, { name: ownName }, user)).subject).toBe(
      "CN=ursula",
    );
    const chain = await grpcUnary(client, CertificateService.method.getCertificateChain, { name: ownName }, user);
    expect(opensslVerify(chain.certificateChainPem)).toContain("OK");
    await expect(
      grpcUnary(client, CertificateService.method.getCertificate, { name: ours.name }, user),
    ).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });

    // Admin: everything.
    expect(names(await listAll(admin, 'san : "roles.example"'))).toEqual(
      expect.arrayContaining([ours.name, theirs.name, byOperator.name]),
    );
    await expect(grpcUnary(client, CertificateService.method.listCertificates, {})).rejects.toMatchObject({
      code: grpc.status.UNAUTHENTICATED,
    });
  });

  it("speaks Connect JSON over HTTP/1.1 too", async () => {
    const issued = await connectJson(
      env,
      "chancery.admin.v1.CertificateService/IssueCertificate",
      {
        parent: issuingCa,
        profile: "profiles/tls-server",
        csrPem: csrPem("/CN=json.example.com"),
        subjectAltNames: [{ type: "TYPE_DNS", value: "json.example.com" }],
      },
      adminToken,
    );
    expect(issued.status).toBe(200);
    expect(issued.json).toMatchObject({
      state: "STATE_VALID",
      sourceProtocol: "admin",
      subject: "CN=json.example.com",
    });
    const listed = await connectJson(
      env,
      "chancery.admin.v1.CertificateService/ListCertificates",
      { filter: 'san : "json.example.com"' },
      adminToken,
    );
    expect(listed.status).toBe(200);
    expect((listed.json["certificates"] as Array<{ name: string }>).map((c) => c.name)).toEqual([issued.json["name"]]);
    const revoked = await connectJson(
      env,
      "chancery.admin.v1.CertificateService/RevokeCertificate",
      { name: issued.json["name"], reason: "REVOCATION_REASON_CESSATION_OF_OPERATION" },
      adminToken,
    );
    expect(revoked.json).toMatchObject({
      state: "STATE_REVOKED",
      revocationReason: "REVOCATION_REASON_CESSATION_OF_OPERATION",
    });
    const bad = await connectJson(
      env,
      "chancery.admin.v1.CertificateService/ListCertificates",
      { filter: "profile == x" },
      adminToken,
    );
    expect(bad.status).toBe(400);
    expect(bad.json).toMatchObject({ code: "invalid_argument" });
    const forbidden = await connectJson(
      env,
      "chancery.admin.v1.CertificateService/RevokeCertificate",
      { name: issued.json["name"] },
      userToken,
    );
    expect(forbidden.status).toBe(403);
  });
});

function names(list: Certificate[]): string[] {
  return list.map((c) => c.name);
}
