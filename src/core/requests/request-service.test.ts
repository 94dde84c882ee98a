import { createPrivateKey, createPublicKey, randomUUID, X509Certificate } from "node:crypto";
import { sql } from "slonik";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { startBootstrappedCore, stopTestCore, type TestCore } from "../../../test/support/bootstrapped-core.ts";
import type { TestDatabase } from "../../../test/support/test-database.ts";
import type { CertificateAuthority } from "../ca/certificate-authority.ts";
import { isChanceryError } from "../errors.ts";
import type { Role } from "../identity/role.ts";
import { createDefaultProfiles } from "../profiles/default-profiles.ts";
import { pemEncode } from "../x509/pem.ts";
import { createScratchDir, openssl, opensslCsr, verifyChain } from "../x509/testing/openssl.ts";
import type { RequestCaller } from "./request.ts";
import { requestKeyBinding } from "./request-service.ts";

const system = { actor: "test" };

describe("request service (the approval queue)", () => {
  let db: TestDatabase;
  let core: TestCore;
  let issuing: CertificateAuthority;
  let root: CertificateAuthority;
  let other: CertificateAuthority;
  let alice: RequestCaller;
  let bob: RequestCaller;
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

  async function auditEvents(action: string, target: string) {
    return core.audit.find({ action, target }, { order: "oldest", cursor: undefined, limit: 100 });
  }

  async function certificatesOf(requesterId: string): Promise<readonly string[]> {
    return db.pool.anyFirst(sql.type(z.object({ serial_hex: z.string() }))`
      SELECT serial_hex FROM certificates WHERE requester = ${`user:${requesterId}`} ORDER BY serial_hex`);
  }

  const tlsRequest = (name: string) => ({
    commonName: name,
    sans: [{ type: "dns" as const, value: name }],
    keyAlgorithm: "ecdsa-p256" as const,
    comment: "for the web server",
  });

  beforeAll(async () => {
    ({ db, core, issuing, root } = await startBootstrappedCore({ maxConnections: 8 }));
    other = await core.cas.createRoot(
      { name: "other", subject: [{ type: "CN", value: "Other Root" }], keyAlgorithm: "ecdsa-p256", validityDays: 30 },
      system,
    );
    const tlsServer = createDefaultProfiles().find((p) => p.name === "tls-server")!;
    await core.profiles.create(
      {
        ...tlsServer,
        name: "two-approvers",
        description: "two distinct approvers",
        requiresApproval: { required: true, approvers: 2 },
      },
      system,
    );
    await core.profiles.create(
      { ...tlsServer, name: "dns-only", san: { ...tlsServer.san, allowedTypes: ["dns"] } },
      system,
    );
    alice = await caller("alice", "user");
    bob = await caller("bob", "user");
    op1 = await caller("op1", "operator", [issuing.id]);
    op2 = await caller("op2", "operator", [issuing.id]);
    opOther = await caller("op-other", "operator", [other.id]);
    admin = await caller("admin", "admin");
  });
  afterAll(() => stopTestCore(db, core));

  it("issues on the first approval under a profile without requiresApproval, as user:{requester} over admin", async () => {
    const submitted = await core.requests.submit(tlsRequest("web.example.com"), alice);
    expect(submitted).toMatchObject({ state: "pending", requesterId: alice.userId, caId: null, hasServerKey: false });
    const submitEvents = await auditEvents("request.submit", `request:${submitted.id}`);
    expect(submitEvents).toHaveLength(1);
    expect(submitEvents[0]).toMatchObject({ actor: `user:${alice.userId}`, sourceIp: "192.0.2.10" });

    const issued = await core.requests.approve(
      submitted.id,
      { caId: issuing.id, profileName: "tls-server" },
      { ...op1, sourceIp: "198.51.100.7" },
    );
    expect(issued).toMatchObject({ state: "issued", caId: issuing.id, profileName: "tls-server", hasServerKey: true });
    expect(issued.requiredApprovals).toBe(1);
    expect(issued.approvals.map((a) => a.approverId)).toEqual([op1.userId]);
    expect(issued.certificateSerialHex).toMatch(/^[0-9a-f]+$/);
    expect(verifyChain(root.certificateDer!, [issuing.certificateDer!], issued.certificateDer!).stdout).toContain("OK");
    const cert = new X509Certificate(issued.certificateDer!);
    expect(cert.subject).toBe("CN=web.example.com");
    expect(cert.subjectAltName).toBe("DNS:web.example.com");

    const row = await core.issuance.getBySerial(issued.certificateSerialHex!);
    expect(row).toMatchObject({ requester: `user:${alice.userId}`, source_protocol: "admin", ca_id: issuing.id });
    for (const action of ["request.approve", "request.issue"]) {
      const events = await auditEvents(action, `request:${submitted.id}`);
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({ actor: `user:${op1.userId}`, sourceIp: "198.51.100.7" });
    }
    expect((await auditEvents("request.issue", `request:${submitted.id}`))[0]!.details).toMatchObject({
      serialHex: issued.certificateSerialHex,
    });
    expect(await auditEvents("certificate.issue", `certificate:${issued.certificateSerialHex}`)).toHaveLength(1);
  });

  it("never lets the requester approve their own request, not even an admin, and audits the refusal", async () => {
    const own = await core.requests.submit(tlsRequest("self.example.com"), op1);
    expect(await code(core.requests.approve(own.id, { caId: issuing.id, profileName: "tls-server" }, op1))).toBe(
      "permission_denied",
    );
    const adminOwn = await core.requests.submit(tlsRequest("self-admin.example.com"), admin);
    expect(await code(core.requests.approve(adminOwn.id, { caId: issuing.id, profileName: "tls-server" }, admin))).toBe(
      "permission_denied",
    );
    const denied = await auditEvents("request.approve_denied", `request:${adminOwn.id}`);
    expect(denied).toHaveLength(1);
    expect(denied[0]).toMatchObject({ actor: `user:${admin.userId}`, sourceIp: "192.0.2.10" });
    expect((await core.requests.get(adminOwn.id, admin)).state).toBe("pending");
    expect((await core.requests.get(adminOwn.id, admin)).approvals).toEqual([]);
    // The database refuses it too, whatever the code above it does.
    await expect(
      db.pool.query(sql.unsafe`
        INSERT INTO request_approvals (request_id, requester_id, approver_id, approved_at)
        VALUES (${adminOwn.id}, ${admin.userId}, ${admin.userId}, now())`),
    ).rejects.toThrow();
  });

  it("needs operators or admins to approve, and operators only through their assigned CAs", async () => {
    const request = await core.requests.submit(tlsRequest("assigned.example.com"), alice);
    expect(await code(core.requests.approve(request.id, { caId: issuing.id, profileName: "tls-server" }, bob))).toBe(
      "permission_denied",
    );
    // A CA the operator may not use is hidden, as the CA and certificate services hide it.
    expect(
      await code(core.requests.approve(request.id, { caId: issuing.id, profileName: "tls-server" }, opOther)),
    ).toBe("not_found");
    expect(await code(core.requests.approve(request.id, {}, op1))).toBe("invalid_argument");
    expect(await code(core.requests.approve(request.id, { caId: issuing.id, profileName: "no-such" }, op1))).toBe(
      "not_found",
    );
    expect((await core.requests.get(request.id, admin)).approvals).toEqual([]);
    const issued = await core.requests.approve(request.id, { caId: issuing.id, profileName: "tls-server" }, op1);
    expect(issued.state).toBe("issued");
    // Issued through a CA that is not theirs: another operator no longer sees it.
    expect(await code(core.requests.get(request.id, opOther))).toBe("not_found");
    expect((await core.requests.get(request.id, op2)).state).toBe("issued");
  });

  it("issues under an N-of-M profile only after N distinct approvers, with the first approver's choice fixed", async () => {
    const request = await core.requests.submit(tlsRequest("two.example.com"), alice);
    const before = (await certificatesOf(alice.userId)).length;
    const once = await core.requests.approve(request.id, { caId: issuing.id, profileName: "two-approvers" }, op1);
    expect(once).toMatchObject({
      state: "pending",
      caId: issuing.id,
      profileName: "two-approvers",
      requiredApprovals: 2,
    });
    expect(once.approvals.map((a) => a.approverId)).toEqual([op1.userId]);

    // The same approver twice does not count twice.
    expect(await code(core.requests.approve(request.id, {}, op1))).toBe("already_exists");
    expect(await code(core.requests.approve(request.id, { caId: issuing.id, profileName: "two-approvers" }, op1))).toBe(
      "already_exists",
    );
    expect((await core.requests.get(request.id, op1)).state).toBe("pending");

    // A later approver cannot change the choice.
    expect(await code(core.requests.approve(request.id, { caId: issuing.id, profileName: "tls-server" }, op2))).toBe(
      "failed_precondition",
    );
    expect(await code(core.requests.approve(request.id, { caId: other.id, profileName: "two-approvers" }, admin))).toBe(
      "failed_precondition",
    );
    // Nor the requester's content.
    expect(
      await code(
        core.requests.approve(
          request.id,
          { content: { commonName: "x.example.com", keyAlgorithm: "ecdsa-p256" } },
          op2,
        ),
      ),
    ).toBe("invalid_argument");
    expect((await core.requests.get(request.id, op1)).approvals).toHaveLength(1);
    expect(await certificatesOf(alice.userId)).toHaveLength(before);

    const issued = await core.requests.approve(request.id, {}, op2);
    expect(issued.state).toBe("issued");
    expect(issued.approvals.map((a) => a.approverId)).toEqual([op1.userId, op2.userId]);
    expect(verifyChain(root.certificateDer!, [issuing.certificateDer!], issued.certificateDer!).stdout).toContain("OK");
    expect(await certificatesOf(alice.userId)).toHaveLength(before + 1);
    expect(await code(core.requests.approve(request.id, {}, admin))).toBe("failed_precondition");
  });

  it("checks the first approver's choice against the profile when more approvals are to come", async () => {
    const request = await core.requests.submit(
      { ...tlsRequest("ip.example.com"), sans: [{ type: "ip", value: "192.0.2.1" }] },
      alice,
    );
    await core.profiles.create(
      {
        ...createDefaultProfiles().find((p) => p.name === "tls-server")!,
        name: "two-dns-only",
        san: { allowedTypes: ["dns"], required: false, maxCount: 10, allowWildcard: false, patterns: {} },
        requiresApproval: { required: true, approvers: 2 },
      },
      system,
    );
    expect(await code(core.requests.approve(request.id, { caId: issuing.id, profileName: "two-dns-only" }, op1))).toBe(
      "policy_violation",
    );
    expect(await core.requests.get(request.id, op1)).toMatchObject({ caId: null, approvals: [] });
    // Under a single-approval profile the issuance itself refuses it, and nothing is recorded either.
    expect(await code(core.requests.approve(request.id, { caId: issuing.id, profileName: "dns-only" }, op1))).toBe(
      "policy_violation",
    );
    expect(await core.requests.get(request.id, op1)).toMatchObject({ state: "pending", caId: null, approvals: [] });
  });

  it("rejects with a required reason, finally", async () => {
    const request = await core.requests.submit(tlsRequest("rejected.example.com"), alice);
    expect(await code(core.requests.reject(request.id, "  ", op1))).toBe("invalid_argument");
    expect(await code(core.requests.reject(request.id, "no", alice))).toBe("permission_denied");
    const rejected = await core.requests.reject(request.id, "not our domain", op1);
    expect(rejected).toMatchObject({ state: "rejected", rejectionReason: "not our domain", rejectedBy: op1.userId });
    expect(await code(core.requests.approve(request.id, { caId: issuing.id, profileName: "tls-server" }, op2))).toBe(
      "failed_precondition",
    );
    expect(await code(core.requests.reject(request.id, "again", admin))).toBe("failed_precondition");
    const events = await auditEvents("request.reject", `request:${request.id}`);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ actor: `user:${op1.userId}`, sourceIp: "192.0.2.10" });
    expect(events[0]!.details).toMatchObject({ reason: "not our domain" });

    // A request fixed to a CA of theirs cannot be rejected by an operator of another CA (they do not see it).
    const fixed = await core.requests.submit(tlsRequest("fixed.example.com"), alice);
    await core.requests.approve(fixed.id, { caId: issuing.id, profileName: "two-approvers" }, op1);
    expect(await code(core.requests.reject(fixed.id, "mine now", opOther))).toBe("not_found");
    expect((await core.requests.reject(fixed.id, "changed our mind", op2)).state).toBe("rejected");
  });

  it("shows users only their own requests; operators the unassigned and their CAs'; admins all; with counts", async () => {
    const mine = await core.requests.submit(tlsRequest("bob.example.com"), bob);
    expect(await code(core.requests.get(mine.id, alice))).toBe("not_found");
    expect((await core.requests.get(mine.id, bob)).id).toBe(mine.id);
    expect((await core.requests.get(mine.id, opOther)).id).toBe(mine.id);
    expect(await code(core.requests.get("not-a-uuid", admin))).toBe("not_found");

    const bobs = await core.requests.list({}, bob);
    expect(bobs.requests.map((r) => r.id)).toEqual([mine.id]);
    expect(await core.requests.counts(bob)).toEqual({ pending: 1, issued: 0, rejected: 0, applied: 0, failed: 0 });

    const all = await core.requests.counts(admin);
    const listed = await core.requests.list({ pageSize: 1000 }, admin);
    expect(all.pending + all.issued + all.rejected).toBe(listed.requests.length);
    const pending = await core.requests.list({ state: "pending" }, admin);
    expect(pending.requests.every((r) => r.state === "pending")).toBe(true);
    expect(pending.requests).toHaveLength(all.pending);

    // opOther sees nothing that went through the issuing CA.
    const seen = await core.requests.list({ pageSize: 1000 }, opOther);
    expect(seen.requests.every((r) => r.caId === null || r.caId === other.id)).toBe(true);
    const counts = await core.requests.counts(opOther);
    expect(counts.pending + counts.issued + counts.rejected).toBe(seen.requests.length);

    // Paging, oldest first, and a token bound to its filter.
    const first = await core.requests.list({ pageSize: 2 }, admin);
    expect(first.requests).toHaveLength(2);
    const second = await core.requests.list({ pageSize: 2, pageToken: first.nextPageToken }, admin);
    expect(second.requests[0]!.createdAt.getTime()).toBeGreaterThanOrEqual(first.requests[1]!.createdAt.getTime());
    expect(listed.requests.slice(0, 4).map((r) => r.id)).toEqual(
      [...first.requests, ...second.requests].map((r) => r.id),
    );
    expect(
      await code(core.requests.list({ state: "issued", pageSize: 2, pageToken: first.nextPageToken }, admin)),
    ).toBe("invalid_argument");
  });

  it("issues once when two approvers give the final approval at the same moment", async () => {
    const single = await core.requests.submit(tlsRequest("race1.example.com"), bob);
    const double = await core.requests.submit(tlsRequest("race2.example.com"), bob);
    await core.requests.approve(double.id, { caId: issuing.id, profileName: "two-approvers" }, op1);
    const before = (await certificatesOf(bob.userId)).length;

    const results = await Promise.all([
      code(core.requests.approve(single.id, { caId: issuing.id, profileName: "tls-server" }, op1)),
      code(core.requests.approve(single.id, { caId: issuing.id, profileName: "tls-server" }, op2)),
      code(core.requests.approve(single.id, { caId: issuing.id, profileName: "tls-server" }, admin)),
      code(core.requests.approve(double.id, {}, op2)),
      code(core.requests.approve(double.id, {}, admin)),
    ]);
    expect(results.slice(0, 3).filter((r) => r === "ok")).toHaveLength(1);
    expect(results.slice(0, 3).filter((r) => r === "failed_precondition")).toHaveLength(2);
    expect(results.slice(3).filter((r) => r === "ok")).toHaveLength(1);
    expect(results.slice(3).filter((r) => r === "failed_precondition")).toHaveLength(1);
    expect(await certificatesOf(bob.userId)).toHaveLength(before + 2);
    expect((await core.requests.get(single.id, admin)).approvals).toHaveLength(1);
    expect((await core.requests.get(double.id, admin)).approvals).toHaveLength(2);
  });

  it("keeps a server-generated key only sealed under the KEK, bound to the request", async () => {
    const request = await core.requests.submit(
      { ...tlsRequest("sealed.example.com"), keyAlgorithm: "rsa-2048" },
      alice,
    );
    const issued = await core.requests.approve(request.id, { caId: issuing.id, profileName: "tls-server" }, op1);
    const sealed = await db.pool.oneFirst(sql.type(z.object({ sealed_private_key: z.instanceof(Buffer) }))`
      SELECT sealed_private_key FROM requests WHERE id = ${request.id}`);
    const pkcs8 = core.keyEncryption.open(sealed, requestKeyBinding(request.id));
    const key = createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" });
    expect(key.asymmetricKeyType).toBe("rsa");
    // The key belongs to the certificate.
    const certKey = new X509Certificate(issued.certificateDer!).publicKey.export({ type: "spki", format: "der" });
    expect(createPublicKey(key).export({ type: "spki", format: "der" }).equals(certKey)).toBe(true);
    // Nothing of it is stored in the clear: neither the whole PKCS#8 nor any 32-byte piece of it.
    expect(sealed.includes(pkcs8)).toBe(false);
    for (let i = 0; i + 32 <= pkcs8.length; i += 16) expect(sealed.includes(pkcs8.subarray(i, i + 32))).toBe(false);
    const rowText = await db.pool.oneFirst(sql.type(z.object({ t: z.string() }))`
      SELECT row_to_json(r)::text AS t FROM requests r WHERE id = ${request.id}`);
    expect(rowText.includes(pkcs8.toString("hex"))).toBe(false);
    expect(rowText.includes(pkcs8.toString("base64"))).toBe(false);
    // Copied to another request's row, it does not open there.
    expect(() => core.keyEncryption.open(sealed, requestKeyBinding(randomUUID()))).toThrow();
  });

  it("exports the key, certificate and chain as PKCS#12 that openssl reads, to the requester and admins only", async () => {
    const request = await core.requests.submit(tlsRequest("p12.example.com"), alice);
    const issued = await core.requests.approve(request.id, { caId: issuing.id, profileName: "tls-server" }, op1);
    expect(await code(core.requests.exportPkcs12(request.id, "short", alice))).toBe("invalid_argument");
    expect(await code(core.requests.exportPkcs12(request.id, "long enough passphrase", op2))).toBe("permission_denied");
    expect(await code(core.requests.exportPkcs12(request.id, "long enough passphrase", bob))).toBe("not_found");
    const p12 = await core.requests.exportPkcs12(request.id, "long enough passphrase", alice);
    expect((await core.requests.exportPkcs12(request.id, "admin passphrase", admin)).length).toBeGreaterThan(0);
    expect(await auditEvents("request.export_pkcs12", `request:${request.id}`)).toHaveLength(2);

    const scratch = createScratchDir();
    try {
      const file = scratch.file("out.p12", p12);
      const info = openssl(["pkcs12", "-in", file, "-info", "-nokeys", "-passin", "pass:long enough passphrase"]);
      expect(info.ok, info.stderr).toBe(true);
      expect(info.stderr + info.stdout).toContain("MAC: sha256");
      expect(info.stdout.match(/BEGIN CERTIFICATE/g)).toHaveLength(3);
      expect(info.stdout).toContain("subject=CN = p12.example.com");
      expect(openssl(["pkcs12", "-in", file, "-nokeys", "-passin", "pass:wrong passphrase"]).ok).toBe(false);

      const all = openssl(["pkcs12", "-in", file, "-nodes", "-passin", "pass:long enough passphrase"]);
      expect(all.ok, all.stderr).toBe(true);
      const keyPem = all.stdout.slice(all.stdout.indexOf("-----BEGIN PRIVATE KEY-----"));
      const key = createPrivateKey(keyPem.slice(0, keyPem.indexOf("-----END PRIVATE KEY-----") + 25));
      const certKey = new X509Certificate(issued.certificateDer!).publicKey.export({ type: "spki", format: "der" });
      expect(createPublicKey(key).export({ type: "spki", format: "der" }).equals(certKey)).toBe(true);

      // The leaf with the chain from the file verifies to the root.
      const chainFile = scratch.file("chain.pem", info.stdout);
      const rootFile = scratch.file("root.pem", pemEncode("CERTIFICATE", root.certificateDer!));
      const leafFile = scratch.file("leaf.pem", pemEncode("CERTIFICATE", issued.certificateDer!));
      const verified = openssl(["verify", "-CAfile", rootFile, "-untrusted", chainFile, leafFile]);
      expect(verified.stdout).toContain("OK");
    } finally {
      scratch.cleanup();
    }

    // A request that came with a CSR has no key here to export.
    const withCsr = await core.requests.submit(
      { csr: opensslCsr({ subject: "/CN=csr.example.com", sans: "DNS:csr.example.com" }), comment: "own key" },
      alice,
    );
    expect(withCsr.sans).toEqual([{ type: "dns", value: "csr.example.com" }]);
    const csrIssued = await core.requests.approve(withCsr.id, { caId: issuing.id, profileName: "tls-server" }, op1);
    expect(csrIssued).toMatchObject({ state: "issued", hasServerKey: false });
    expect(await code(core.requests.exportPkcs12(withCsr.id, "long enough passphrase", alice))).toBe(
      "failed_precondition",
    );
    const pendingOne = await core.requests.submit(tlsRequest("not-yet.example.com"), alice);
    expect(await code(core.requests.exportPkcs12(pendingOne.id, "long enough passphrase", alice))).toBe(
      "failed_precondition",
    );
  });

  it("takes a free-form request's content from its first approver, and only that", async () => {
    expect(
      await code(core.requests.submit({ freeForm: true, comment: "need a cert", commonName: "x.example.com" }, bob)),
    ).toBe("invalid_argument");
    expect(await code(core.requests.submit({ freeForm: true, comment: " " }, bob))).toBe("invalid_argument");
    const request = await core.requests.submit(
      { freeForm: true, comment: "a certificate for the new intranet server, please" },
      bob,
    );
    expect(request).toMatchObject({ freeForm: true, commonName: null, sans: [], keyAlgorithm: null });
    expect(await code(core.requests.approve(request.id, { caId: issuing.id, profileName: "two-approvers" }, op1))).toBe(
      "invalid_argument",
    );
    const content = {
      commonName: "intranet.example.com",
      sans: [{ type: "dns" as const, value: "intranet.example.com" }],
      keyAlgorithm: "ecdsa-p384" as const,
    };
    const once = await core.requests.approve(
      request.id,
      { caId: issuing.id, profileName: "two-approvers", content },
      op1,
    );
    expect(once).toMatchObject({ state: "pending", commonName: "intranet.example.com", keyAlgorithm: "ecdsa-p384" });
    expect(
      await code(core.requests.approve(request.id, { content: { ...content, commonName: "other.example.com" } }, op2)),
    ).toBe("failed_precondition");
    const issued = await core.requests.approve(request.id, { content }, op2);
    expect(issued).toMatchObject({ state: "issued", hasServerKey: true });
    expect(new X509Certificate(issued.certificateDer!).subjectAltName).toBe("DNS:intranet.example.com");

    // Content offered for a request whose requester set it is refused.
    const normal = await core.requests.submit(tlsRequest("normal.example.com"), bob);
    expect(
      await code(core.requests.approve(normal.id, { caId: issuing.id, profileName: "tls-server", content }, op1)),
    ).toBe("invalid_argument");
  });

  it("validates submissions", async () => {
    expect(await code(core.requests.submit({ commonName: "a.example.com", comment: "" }, alice))).toBe(
      "invalid_argument",
    );
    expect(
      await code(
        core.requests.submit(
          { commonName: "a.example.com", keyAlgorithm: "ecdsa-p256", csr: opensslCsr({ subject: "/CN=a" }) },
          alice,
        ),
      ),
    ).toBe("invalid_argument");
    expect(await code(core.requests.submit({ keyAlgorithm: "ecdsa-p256" }, alice))).toBe("invalid_argument");
    expect(
      await code(
        core.requests.submit({ keyAlgorithm: "ecdsa-p256", sans: [{ type: "dns", value: "bad name!" }] }, alice),
      ),
    ).toBe("invalid_argument");
    const csr = Buffer.from(opensslCsr({ subject: "/CN=tampered.example.com" }));
    csr[csr.length - 5]! ^= 0xff;
    expect(await code(core.requests.submit({ csr }, alice))).toBe("bad_csr");
    expect(await code(core.requests.submit({ keyAlgorithm: "ecdsa-p256", commonName: "x".repeat(65) }, alice))).toBe(
      "invalid_argument",
    );
  });
});
