import { randomUUID, X509Certificate } from "node:crypto";
import { sql } from "slonik";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { startBootstrappedCore, stopTestCore, type TestCore } from "../../../test/support/bootstrapped-core.ts";
import type { TestDatabase } from "../../../test/support/test-database.ts";
import type { CertificateAuthority } from "../ca/certificate-authority.ts";
import { isChanceryError } from "../errors.ts";
import type { Role } from "../identity/role.ts";
import { createDefaultProfiles } from "../profiles/default-profiles.ts";
import { opensslCsr, verifyChain } from "../x509/testing/openssl.ts";
import type { RequestCaller, SubmitProtocolRequestInput } from "./request.ts";

const system = { actor: "test" };

describe("protocol requests (ACME orders waiting in the approval queue)", () => {
  let db: TestDatabase;
  let core: TestCore;
  let issuing: CertificateAuthority;
  let root: CertificateAuthority;
  let other: CertificateAuthority;
  let alice: RequestCaller;
  let op1: RequestCaller;
  let op2: RequestCaller;
  let opOther: RequestCaller;
  let admin: RequestCaller;

  async function caller(username: string, role: Role, assignedCaIds: string[] = []): Promise<RequestCaller> {
    const user = await core.users.create({ username, role, assignedCaIds }, system);
    return { userId: user.id, role, assignedCaIds, sourceIp: "192.0.2.10" };
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

  async function storedFor(requester: string): Promise<{ requests: number; certificates: readonly string[] }> {
    const requests = await db.pool.oneFirst(sql.type(z.object({ n: z.number() }))`
      SELECT count(*)::int AS n FROM requests WHERE protocol_requester = ${requester}`);
    const certificates = await db.pool.anyFirst(sql.type(z.object({ serial_hex: z.string() }))`
      SELECT serial_hex FROM certificates WHERE requester = ${requester} ORDER BY serial_hex`);
    return { requests, certificates };
  }

  /**
   * An ACME order for `name` whose CSR also asks for a name the order never
   * validated: only the approved (order) names may reach the certificate.
   */
  function order(name: string, overrides: Partial<SubmitProtocolRequestInput> = {}): SubmitProtocolRequestInput {
    return {
      caId: issuing.id,
      profileName: "one-approver",
      csrDer: opensslCsr({ subject: `/CN=${name}`, sans: `DNS:${name},DNS:unvalidated.example.net` }),
      approved: { sans: [{ type: "dns", value: name }] },
      requester: `acme-account:${randomUUID()}`,
      sourceProtocol: "acme",
      sourceIp: "203.0.113.5",
      ...overrides,
    };
  }

  beforeAll(async () => {
    ({ db, core, issuing, root } = await startBootstrappedCore({ maxConnections: 8 }));
    other = await core.cas.createRoot(
      { name: "other", subject: [{ type: "CN", value: "Other Root" }], keyAlgorithm: "ecdsa-p256", validityDays: 30 },
      system,
    );
    const tlsServer = createDefaultProfiles().find((p) => p.name === "tls-server")!;
    await core.profiles.create(
      { ...tlsServer, name: "one-approver", requiresApproval: { required: true, approvers: 1 } },
      system,
    );
    await core.profiles.create(
      { ...tlsServer, name: "two-approvers", requiresApproval: { required: true, approvers: 2 } },
      system,
    );
    alice = await caller("alice", "user");
    op1 = await caller("op1", "operator", [issuing.id]);
    op2 = await caller("op2", "operator", [issuing.id]);
    opOther = await caller("op-other", "operator", [other.id]);
    admin = await caller("admin", "admin");
  });
  afterAll(() => stopTestCore(db, core));

  it("waits pending, then issues on an assigned operator's approval as the ACME account, with the approved SANs only", async () => {
    const notAfter = new Date(Date.now() + 10 * 86_400_000);
    const input = order("acme.example.com", { validity: { notAfter } });
    const submitted = await core.requests.submitFromProtocol(input);
    expect(submitted).toMatchObject({
      state: "pending",
      kind: "certificate",
      requesterId: null,
      protocolRequester: input.requester,
      sourceProtocol: "acme",
      sourceIp: "203.0.113.5",
      caId: issuing.id,
      profileName: "one-approver",
      requiredApprovals: 1,
      commonName: "acme.example.com",
      sans: [{ type: "dns", value: "acme.example.com" }],
      notBefore: null,
      subject: null,
      freeForm: false,
      approvals: [],
    });
    expect(submitted.notAfter?.getTime()).toBe(notAfter.getTime());
    expect(await core.requests.getProtocolRequest(submitted.id)).toEqual({
      id: submitted.id,
      state: "pending",
      certificateSerialHex: null,
      rejectionReason: null,
    });
    const submitEvents = await core.audit.find(
      { action: "request.submit", target: `request:${submitted.id}` },
      { order: "oldest", cursor: undefined, limit: 10 },
    );
    expect(submitEvents).toHaveLength(1);
    expect(submitEvents[0]).toMatchObject({ actor: input.requester, sourceIp: "203.0.113.5" });

    // The operator sees it in the queue and its counts; a plain user does not.
    const listed = await core.requests.list({ state: "pending" }, op1);
    expect(listed.requests.map((r) => r.id)).toContain(submitted.id);
    expect((await core.requests.counts(op1)).pending).toBeGreaterThanOrEqual(1);
    expect(await code(core.requests.get(submitted.id, alice))).toBe("not_found");
    expect(await code(core.requests.approve(submitted.id, {}, alice))).toBe("permission_denied");

    // The approver cannot move it to another profile or give it other content.
    expect(await code(core.requests.approve(submitted.id, { profileName: "tls-server" }, op1))).toBe(
      "failed_precondition",
    );
    expect(await code(core.requests.approve(submitted.id, { content: { commonName: "other.example.com" } }, op1))).toBe(
      "invalid_argument",
    );

    const issued = await core.requests.approve(submitted.id, { caId: issuing.id, profileName: "one-approver" }, op1);
    expect(issued).toMatchObject({ state: "issued", hasServerKey: false });
    expect(issued.approvals.map((a) => a.approverId)).toEqual([op1.userId]);
    const cert = new X509Certificate(issued.certificateDer!);
    expect(cert.subjectAltName).toBe("DNS:acme.example.com");
    expect(cert.subject).toBe("CN=acme.example.com");
    expect(new Date(cert.validTo).getTime()).toBe(Math.floor(notAfter.getTime() / 1000) * 1000);
    expect(verifyChain(root.certificateDer!, [issuing.certificateDer!], issued.certificateDer!).stdout).toContain("OK");
    const row = await core.issuance.getBySerial(issued.certificateSerialHex!);
    expect(row).toMatchObject({ requester: input.requester, source_protocol: "acme", ca_id: issuing.id });
    expect(await core.requests.getProtocolRequest(submitted.id)).toMatchObject({
      state: "issued",
      certificateSerialHex: issued.certificateSerialHex,
    });
    const issueEvents = await core.audit.find(
      { action: "certificate.issue", target: `certificate:${issued.certificateSerialHex}` },
      { order: "oldest", cursor: undefined, limit: 10 },
    );
    expect(issueEvents[0]).toMatchObject({ actor: input.requester, sourceIp: "203.0.113.5" });
    expect(await code(core.requests.approve(submitted.id, {}, op2))).toBe("failed_precondition");
  });

  it("takes as many distinct approvers as the profile says", async () => {
    const input = order("two.example.com", { profileName: "two-approvers" });
    const submitted = await core.requests.submitFromProtocol(input);
    expect(submitted.requiredApprovals).toBe(2);
    const once = await core.requests.approve(submitted.id, {}, op1);
    expect(once).toMatchObject({ state: "pending", certificateSerialHex: null });
    expect(await code(core.requests.approve(submitted.id, {}, op1))).toBe("already_exists");
    const twice = await core.requests.approve(submitted.id, {}, admin);
    expect(twice.state).toBe("issued");
    expect(twice.approvals.map((a) => a.approverId)).toEqual([op1.userId, admin.userId]);
    expect((await storedFor(input.requester)).certificates).toEqual([twice.certificateSerialHex]);
  });

  it("is rejected as a user's request is, and the front end reads why", async () => {
    const submitted = await core.requests.submitFromProtocol(order("rejected.example.com"));
    const rejected = await core.requests.reject(submitted.id, "not one of ours", op2);
    expect(rejected).toMatchObject({ state: "rejected", rejectedBy: op2.userId, rejectionReason: "not one of ours" });
    expect(await core.requests.getProtocolRequest(submitted.id)).toEqual({
      id: submitted.id,
      state: "rejected",
      certificateSerialHex: null,
      rejectionReason: "not one of ours",
    });
    expect(await code(core.requests.approve(submitted.id, {}, op1))).toBe("failed_precondition");
  });

  it("is not_found for an operator of another CA", async () => {
    const submitted = await core.requests.submitFromProtocol(order("hidden.example.com"));
    expect(await code(core.requests.get(submitted.id, opOther))).toBe("not_found");
    expect(await code(core.requests.approve(submitted.id, {}, opOther))).toBe("not_found");
    expect(await code(core.requests.reject(submitted.id, "no", opOther))).toBe("not_found");
    expect((await core.requests.list({}, opOther)).requests.map((r) => r.id)).not.toContain(submitted.id);
    expect((await core.requests.get(submitted.id, op1)).state).toBe("pending");
  });

  it("refuses at submission what could never be issued, storing nothing", async () => {
    const tampered = order("tampered.example.com");
    const csr = Buffer.from(tampered.csrDer);
    csr[csr.length - 5]! ^= 0xff;
    expect(await code(core.requests.submitFromProtocol({ ...tampered, csrDer: csr }))).toBe("bad_csr");
    expect(await storedFor(tampered.requester)).toEqual({ requests: 0, certificates: [] });

    const ip = order("ip.example.com", { approved: { sans: [{ type: "uri", value: "https://ip.example.com/" }] } });
    expect(await code(core.requests.submitFromProtocol(ip))).toBe("policy_violation");
    expect((await storedFor(ip.requester)).requests).toBe(0);
    const expired = order("past.example.com", { validity: { notAfter: new Date(Date.now() - 86_400_000) } });
    expect(await code(core.requests.submitFromProtocol(expired))).toBe("policy_violation");
    expect(await code(core.requests.submitFromProtocol(order("x.example.com", { profileName: "nope" })))).toBe(
      "not_found",
    );
    expect(await code(core.requests.submitFromProtocol(order("x.example.com", { caId: randomUUID() })))).toBe(
      "not_found",
    );
    // The requester becomes the certificate's requester and the audit actor: it can never pass for a user.
    for (const requester of ["user:alice", "acme", "acme-account:", "scep:x", "acme-account:a b"])
      expect(await code(core.requests.submitFromProtocol(order("x.example.com", { requester })))).toBe(
        "invalid_argument",
      );
    expect(await code(core.requests.getProtocolRequest("not-a-uuid"))).toBe("not_found");
    const usersOwn = await core.requests.submit(
      { commonName: "u.example.com", keyAlgorithm: "ecdsa-p256", comment: "" },
      alice,
    );
    expect(await code(core.requests.getProtocolRequest(usersOwn.id))).toBe("not_found");
  });

  it("keeps the database's self-approval guard for users' requests (an approval naming no requester is refused)", async () => {
    const own = await core.requests.submit({ commonName: "g.example.com", keyAlgorithm: "ecdsa-p256" }, alice);
    for (const fromProtocol of [false, true])
      await expect(
        db.pool.query(sql.unsafe`
          INSERT INTO request_approvals (request_id, requester_id, from_protocol, approver_id, approved_at)
          VALUES (${own.id}, NULL, ${fromProtocol}, ${alice.userId}, now())`),
      ).rejects.toThrow();
    const theirs = await core.requests.submitFromProtocol(order("g.example.com"));
    await expect(
      db.pool.query(sql.unsafe`
        INSERT INTO request_approvals (request_id, requester_id, from_protocol, approver_id, approved_at)
        VALUES (${theirs.id}, ${alice.userId}, false, ${op1.userId}, now())`),
    ).rejects.toThrow();
  });

  it("issues once when two operators approve at the same moment", async () => {
    const input = order("race.example.com");
    const submitted = await core.requests.submitFromProtocol(input);
    const results = await Promise.all([
      code(core.requests.approve(submitted.id, {}, op1)),
      code(core.requests.approve(submitted.id, {}, op2)),
    ]);
    expect(results.sort()).toEqual(["failed_precondition", "ok"]);
    const final = await core.requests.get(submitted.id, admin);
    expect(final.state).toBe("issued");
    expect(final.approvals).toHaveLength(1);
    expect((await storedFor(input.requester)).certificates).toEqual([final.certificateSerialHex]);
  });
});
