import { createPublicKey, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keyIdentifierOf } from "../../src/core/est/key-delivery.ts";
import { createDefaultProfiles } from "../../src/core/profiles/default-profiles.ts";
import type { RequestCaller } from "../../src/core/requests/request.ts";
import { asn1parse, createScratchDir, openssl } from "../../src/core/x509/testing/openssl.ts";
import { basicAuth, certificatesOfPkcs7, certificatesPemOf, makeCsr } from "./est-client.ts";
import { type EstTestEnv, startEstTestEnv } from "./est-test-env.ts";

let t: EstTestEnv;
const scratch = createScratchDir();
const pkcs10 = { "Content-Type": "application/pkcs10" };
const by = { actor: "test" };

beforeAll(async () => {
  t = await startEstTestEnv();
  const { gateway } = t.env;
  // A device profile that waits for one approver, allowed on the issuing CA.
  const device = createDefaultProfiles().find((p) => p.name === "device")!;
  await gateway.profiles.create(
    { ...device, name: "device-approved", requiresApproval: { required: true, approvers: 1 } },
    by,
  );
  // One that asks for nothing in particular: csrattrs answers 204.
  await gateway.profiles.create(
    {
      ...device,
      name: "device-open",
      subject: { keep: ["CN"], required: [], commonNameMustBeSan: false },
    },
    by,
  );
  const ca = await gateway.cas.get(t.issuingId);
  if (ca.allowedProfiles.length > 0)
    await gateway.cas.setAllowedProfiles(t.issuingId, [...ca.allowedProfiles, "device-approved", "device-open"], by);
  const labels = gateway.est.labels;
  await labels.create(
    { name: "bound", caId: t.issuingId, profileName: "device", authMode: "basic", channelBindingRequired: true },
    by,
  );
  await labels.create({ name: "approval", caId: t.issuingId, profileName: "device-approved", authMode: "basic" }, by);
  await labels.create(
    { name: "keygen", caId: t.issuingId, profileName: "device", authMode: "basic", serverKeygenAllowed: true },
    by,
  );
  await labels.create({ name: "secrets", caId: t.issuingId, profileName: "device", authMode: "basic" }, by);
  await labels.create({ name: "open", caId: t.issuingId, profileName: "device-open", authMode: "basic" }, by);
});
afterAll(async () => {
  await t?.stop();
  scratch.cleanup();
});

describe("channel binding (RFC 7030 §3.5)", () => {
  for (const tlsVersion of ["TLSv1.3", "TLSv1.2"] as const) {
    it(`accepts the ${tlsVersion === "TLSv1.3" ? "tls-exporter" : "tls-unique"} value in challengePassword over ${tlsVersion}`, async () => {
      const response = await t.call({
        method: "POST",
        path: "/.well-known/est/bound/simpleenroll",
        headers: { ...pkcs10, Authorization: t.adminBasic },
        tlsVersion,
        body: (binding) =>
          makeCsr({ subject: [{ type: "CN", value: "bound" }], challengePassword: binding.toString("base64") }).base64,
      });
      expect(response.status, response.text()).toBe(200);
    });
  }

  it("refuses a CSR without the binding, or with another connection's, with a clear message", async () => {
    const missing = await t.call({
      method: "POST",
      path: "/.well-known/est/bound/simpleenroll",
      headers: { ...pkcs10, Authorization: t.adminBasic },
      body: makeCsr({ subject: [{ type: "CN", value: "unbound" }] }).base64,
    });
    expect(missing.status).toBe(403);
    expect(missing.text()).toMatch(/requires the TLS channel binding in the CSR's challengePassword/);
    const wrong = await t.call({
      method: "POST",
      path: "/.well-known/est/bound/simpleenroll",
      headers: { ...pkcs10, Authorization: t.adminBasic },
      body: makeCsr({
        subject: [{ type: "CN", value: "wrong" }],
        challengePassword: Buffer.alloc(32, 7).toString("base64"),
      }).base64,
    });
    expect(wrong.status).toBe(403);
    expect(wrong.text()).toMatch(/not this TLS connection's tls-exporter channel binding/);
  });

  it("lists challengePassword in csrattrs when the label requires it", async () => {
    const response = await t.call({ method: "GET", path: "/.well-known/est/bound/csrattrs" });
    expect(response.status).toBe(200);
    expect(asn1parse(Buffer.from(response.text().replace(/\s+/g, ""), "base64"))).toContain("challengePassword");
    const none = await t.call({ method: "GET", path: "/.well-known/est/open/csrattrs" });
    expect(none.status).toBe(204);
  });
});

describe("approval (RFC 7030 §4.2.3)", () => {
  it("answers 202 with Retry-After, then the certificate on a retry once approved", async () => {
    const { gateway } = t.env;
    const csr = makeCsr({ subject: [{ type: "CN", value: "waits" }] });
    const request = {
      method: "POST" as const,
      path: "/.well-known/est/approval/simpleenroll",
      headers: { ...pkcs10, Authorization: t.adminBasic },
      body: csr.base64,
    };
    const first = await t.call(request);
    expect(first.status).toBe(202);
    expect(Number(first.headers["retry-after"])).toBeGreaterThan(0);
    const again = await t.call(request);
    expect(again.status).toBe(202);

    const operator = await gateway.users.create(
      { username: "est-approver", role: "operator", assignedCaIds: [t.issuingId] },
      by,
    );
    const caller: RequestCaller = { userId: operator.id, role: "operator", assignedCaIds: [t.issuingId] };
    const pending = await gateway.requests.list({ state: "pending" }, caller);
    const queued = pending.requests.filter((r) => r.protocolRequester?.startsWith("est-user:approval/"));
    // The retry did not queue a second request.
    expect(queued).toHaveLength(1);
    await gateway.requests.approve(queued[0]!.id, {}, caller);

    const collected = await t.call(request);
    expect(collected.status, collected.text()).toBe(200);
    const certificate = new X509Certificate(certificatesPemOf(collected.body)[0]!);
    expect(certificate.checkPrivateKey(csr.privateKey)).toBe(true);
  });

  it("answers 403 with the reason once rejected", async () => {
    const { gateway } = t.env;
    const csr = makeCsr({ subject: [{ type: "CN", value: "rejected" }] });
    const request = {
      method: "POST" as const,
      path: "/.well-known/est/approval/simpleenroll",
      headers: { ...pkcs10, Authorization: t.adminBasic },
      body: csr.base64,
    };
    expect((await t.call(request)).status).toBe(202);
    const approver = await gateway.users.create({ username: "est-rejecter", role: "admin" }, by);
    const caller: RequestCaller = { userId: approver.id, role: "admin", assignedCaIds: [] };
    const queued = (await gateway.requests.list({ state: "pending" }, caller)).requests.find(
      (r) => r.commonName === "rejected",
    )!;
    await gateway.requests.reject(queued.id, "not one of ours", caller);
    const refused = await t.call(request);
    expect(refused.status).toBe(403);
    expect(refused.text()).toMatch(/rejected by an approver: not one of ours/);
  });
});

describe("serverkeygen (RFC 7030 §4.4)", () => {
  function parts(body: Buffer, contentType: string): Array<{ type: string; der: Buffer }> {
    const boundary = /boundary=([^;]+)/.exec(contentType)![1]!;
    return body
      .toString("latin1")
      .split(`--${boundary}`)
      .slice(1, -1)
      .map((part) => {
        const [head, content] = part.split("\r\n\r\n");
        return {
          type: /Content-Type: ([^\r\n]+)/i.exec(head!)![1]!,
          der: Buffer.from(content!.replace(/\s+/g, ""), "base64"),
        };
      });
  }

  it("answers the PKCS#8 key and the certificate for it, multipart/mixed", async () => {
    const csr = makeCsr({ subject: [{ type: "CN", value: "keygen-device" }], dnsNames: ["keygen.est.test"] });
    const response = await t.call({
      method: "POST",
      path: "/.well-known/est/keygen/serverkeygen",
      headers: { ...pkcs10, Authorization: t.adminBasic },
      body: csr.base64,
    });
    expect(response.status, response.text()).toBe(200);
    expect(response.headers["content-type"]).toMatch(/^multipart\/mixed; boundary=/);
    const [key, certs] = parts(response.body, response.headers["content-type"]!);
    expect(key!.type).toBe("application/pkcs8");
    expect(certs!.type).toBe("application/pkcs7-mime; smime-type=certs-only");
    const certificate = new X509Certificate(certificatesOfPkcs7(certs!.der)[0]!);
    expect(certificate.subject).toBe("CN=keygen-device");
    // The key is the server's, not the CSR's: the certificate is for it.
    const keyFile = scratch.file("generated.key", key!.der);
    const checked = openssl(["pkey", "-inform", "DER", "-in", keyFile, "-pubout"]);
    expect(checked.ok, checked.stderr).toBe(true);
    expect(createPublicKey(checked.stdout).export({ type: "spki", format: "der" })).toEqual(
      certificate.publicKey.export({ type: "spki", format: "der" }),
    );
    expect(certificate.checkPrivateKey(csr.privateKey)).toBe(false);
  });

  it("encrypts the key to the CSR's own key when AsymmetricDecryptKeyIdentifier names it", async () => {
    const csr0 = makeCsr({ subject: [{ type: "CN", value: "tmp" }], keyType: "rsa" });
    const keyId = keyIdentifierOf(createPublicKey(csr0.privateKey).export({ type: "spki", format: "der" }));
    const csr = makeCsr({
      subject: [{ type: "CN", value: "sealed-device" }],
      privateKey: csr0.privateKey,
      asymmetricKeyId: keyId,
    });
    const response = await t.call({
      method: "POST",
      path: "/.well-known/est/keygen/serverkeygen",
      headers: { ...pkcs10, Authorization: t.adminBasic },
      body: csr.base64,
    });
    expect(response.status, response.text()).toBe(200);
    const [key, certs] = parts(response.body, response.headers["content-type"]!);
    expect(key!.type).toBe("application/pkcs7-mime; smime-type=server-generated-key");
    const inner = scratch.file("inner.der", "");
    const decrypted = openssl([
      "cms",
      "-decrypt",
      "-inform",
      "DER",
      "-in",
      scratch.file("sealed.p7", key!.der),
      "-inkey",
      scratch.file("transport.key", csr.keyPem),
      "-out",
      inner,
    ]);
    expect(decrypted.ok, decrypted.stderr).toBe(true);
    const keyPackage = scratch.file("package.der", "");
    const verified = openssl([
      "cms",
      "-verify",
      "-inform",
      "DER",
      "-in",
      inner,
      "-CAfile",
      scratch.file("root.pem", t.env.rootCa),
      "-purpose",
      "any",
      "-out",
      keyPackage,
    ]);
    expect(verified.ok, verified.stderr).toBe(true);
    const certificate = new X509Certificate(certificatesOfPkcs7(certs!.der)[0]!);
    const pkcs8 = readFileSync(keyPackage).subarray(4);
    const pub = openssl(["pkey", "-inform", "DER", "-in", scratch.file("sealed.key", pkcs8), "-pubout"]);
    expect(pub.ok, pub.stderr).toBe(true);
    expect(createPublicKey(pub.stdout).export({ type: "spki", format: "der" })).toEqual(
      certificate.publicKey.export({ type: "spki", format: "der" }),
    );
  });

  it("answers 501 where server key generation is off", async () => {
    const response = await t.call({
      method: "POST",
      path: "/.well-known/est/serverkeygen",
      headers: { ...pkcs10, Authorization: t.adminBasic },
      body: makeCsr({ subject: [{ type: "CN", value: "no-keygen" }] }).base64,
    });
    expect(response.status).toBe(501);
    expect(response.text()).toMatch(/not enabled/);
  });
});

describe("one-time enrollment secrets", () => {
  /** A secret of the label (the shared service, scope est_label; tested itself in src/core/enrollment-secrets/). */
  async function mint(labelName: string, input: { boundSubject?: string } = {}) {
    const label = await t.env.gateway.est.labels.getByName(labelName);
    return t.env.gateway.enrollmentSecrets.mint({ scope: { kind: "est_label", id: label.id }, ...input }, by);
  }

  it("enrolls once with a secret as the Basic password, then refuses it", async () => {
    const { gateway } = t.env;
    const minted = await mint("secrets");
    expect(minted.secret).toMatch(/^[0-9a-f]{40}$/);
    const request = (cn: string) => ({
      method: "POST" as const,
      path: "/.well-known/est/secrets/simpleenroll",
      headers: { ...pkcs10, Authorization: basicAuth("device-7", minted.secret) },
      body: makeCsr({ subject: [{ type: "CN", value: cn }] }).base64,
    });
    const first = await t.call(request("secret-device"));
    expect(first.status, first.text()).toBe(200);
    const serial = new X509Certificate(certificatesPemOf(first.body)[0]!).serialNumber.toLowerCase();
    expect((await gateway.enrollmentSecrets.get(minted.record.id)).usedBy).toBe(`certificate:${serial}`);
    const second = await t.call(request("secret-device-2"));
    expect(second.status).toBe(401);
    expect(second.text()).toMatch(/used/);
  });

  it("keeps a bound secret for the subject it was issued for, and gives it back after a refusal", async () => {
    const minted = await mint("secrets", { boundSubject: "CN=bound-device" });
    const call = (cn: string) =>
      t.call({
        method: "POST",
        path: "/.well-known/est/secrets/simpleenroll",
        headers: { ...pkcs10, Authorization: basicAuth("x", minted.secret) },
        body: makeCsr({ subject: [{ type: "CN", value: cn }] }).base64,
      });
    const mismatch = await call("someone-else");
    expect(mismatch.status).toBe(403);
    expect(mismatch.text()).toMatch(/issued for/);
    expect((await call("bound-device")).status).toBe(200);
  });

  it("gives a spent secret back when the issuance refuses the request, and audits that", async () => {
    const { gateway } = t.env;
    const minted = await mint("secrets");
    const call = (subject: { type: string; value: string }) =>
      t.call({
        method: "POST",
        path: "/.well-known/est/secrets/simpleenroll",
        headers: { ...pkcs10, Authorization: basicAuth("x", minted.secret) },
        body: makeCsr({ subject: [subject] }).base64,
      });
    // Spent, then refused by the profile (the device profile requires a CN): the secret is unspent again.
    const refused = await call({ type: "O", value: "no-cn" });
    expect(refused.status).toBe(400);
    expect((await gateway.enrollmentSecrets.get(minted.record.id)).usedBy).toBeNull();
    await gateway.est.batcher.flush();
    const givenBack = await gateway.audit.find(
      { action: "enrollment_secret.give_back" },
      { order: "newest", cursor: undefined, limit: 20 },
    );
    const event = givenBack.find((e) => e.target === `enrollment-secret:${minted.record.id}`);
    expect(event?.details).toMatchObject({ label: "secrets", operation: "simpleenroll" });
    // A corrected request uses it.
    expect((await call({ type: "CN", value: "corrected-device" })).status).toBe(200);
  });

  it("is spent by a request that waits for approval, which collects its certificate; another request is refused", async () => {
    const { gateway } = t.env;
    const minted = await mint("approval");
    const csr = makeCsr({ subject: [{ type: "CN", value: "secret-waits" }] });
    const request = (body: string) => ({
      method: "POST" as const,
      path: "/.well-known/est/approval/simpleenroll",
      headers: { ...pkcs10, Authorization: basicAuth("device-9", minted.secret) },
      body,
    });
    expect((await t.call(request(csr.base64))).status).toBe(202);
    expect((await gateway.enrollmentSecrets.get(minted.record.id)).usedBy).toMatch(/^est-enrollment:[0-9a-f-]{36}$/);
    // Another key (another device) with the same secret: the secret is spent.
    const other = await t.call(request(makeCsr({ subject: [{ type: "CN", value: "secret-waits" }] }).base64));
    expect(other.status).toBe(401);

    const approver = await gateway.users.create({ username: "est-secret-approver", role: "admin" }, by);
    const caller: RequestCaller = { userId: approver.id, role: "admin", assignedCaIds: [] };
    const queued = (await gateway.requests.list({ state: "pending" }, caller)).requests.find(
      (r) => r.commonName === "secret-waits",
    )!;
    await gateway.requests.approve(queued.id, {}, caller);
    const collected = await t.call(request(csr.base64));
    expect(collected.status, collected.text()).toBe(200);
    const serial = new X509Certificate(certificatesPemOf(collected.body)[0]!).serialNumber.toLowerCase();
    expect((await gateway.enrollmentSecrets.get(minted.record.id)).usedBy).toBe(`certificate:${serial}`);
  });
});
