import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { sql } from "slonik";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { asn1parse, createScratchDir, openssl } from "../../src/core/x509/testing/openssl.ts";
import { basicAuth, certificatesPemOf, makeCsr } from "./est-client.ts";
import { type EstTestEnv, startEstTestEnv } from "./est-test-env.ts";

let t: EstTestEnv;
const scratch = createScratchDir();

beforeAll(async () => {
  t = await startEstTestEnv();
});
afterAll(async () => {
  await t?.stop();
  scratch.cleanup();
});

const pkcs10 = { "Content-Type": "application/pkcs10" };

/** simpleenroll on the default label with the admin's Basic credentials. */
async function enrollWithBasic(cn: string, path = "/.well-known/est/simpleenroll") {
  const csr = makeCsr({ subject: [{ type: "CN", value: cn }], dnsNames: [`${cn}.est.test`] });
  const response = await t.call({
    method: "POST",
    path,
    headers: { ...pkcs10, Authorization: t.adminBasic },
    body: csr.base64,
  });
  return { csr, response };
}

describe("cacerts and csrattrs", () => {
  it("answers the CA chain as a base64 certs-only PKCS#7 that openssl reads", async () => {
    const response = await t.call({ method: "GET", path: "/.well-known/est/cacerts" });
    expect(response.status).toBe(200);
    expect(response.headers["content-type"]).toBe("application/pkcs7-mime; smime-type=certs-only");
    const file = scratch.file("cacerts.p7", Buffer.from(response.text().replace(/\s+/g, ""), "base64"));
    const printed = openssl(["pkcs7", "-inform", "DER", "-in", file, "-print_certs", "-noout"]);
    expect(printed.ok, printed.stderr).toBe(true);
    expect(printed.stdout).toContain("Chancery Root CA");
    // The labelled form is the same label.
    const labelled = await t.call({ method: "GET", path: "/.well-known/est/default/cacerts" });
    expect(labelled.text()).toBe(response.text());
  });

  it("answers csrattrs from the profile: the required CN as an OID", async () => {
    const response = await t.call({ method: "GET", path: "/.well-known/est/csrattrs" });
    expect(response.status).toBe(200);
    expect(response.headers["content-type"]).toBe("application/csrattrs");
    const parsed = asn1parse(Buffer.from(response.text().replace(/\s+/g, ""), "base64"));
    expect(parsed).toContain("commonName");
  });
});

describe("simpleenroll", () => {
  it("issues to HTTP Basic with a gateway admin's token, answering only the new certificate", async () => {
    const { csr, response } = await enrollWithBasic("basic-device");
    expect(response.status).toBe(200);
    expect(response.headers["content-type"]).toBe("application/pkcs7-mime; smime-type=certs-only");
    const certificates = certificatesPemOf(response.body);
    expect(certificates).toHaveLength(1);
    const certificate = new X509Certificate(certificates[0]!);
    expect(certificate.subject).toBe("CN=basic-device");
    expect(certificate.subjectAltName).toBe("DNS:basic-device.est.test");
    expect(certificate.checkPrivateKey(csr.privateKey)).toBe(true);
    const record = await t.env.gateway.issuance.get(certificate.serialNumber);
    expect(record.sourceProtocol).toBe("est");
    expect(record.requester).toMatch(/^est-user:default\/[0-9a-f-]{36}$/);
  });

  it("accepts the CSR with line breaks, as PEM and as DER with Content-Transfer-Encoding", async () => {
    const csr = makeCsr({ subject: [{ type: "CN", value: "encodings" }] });
    const wrapped = csr.base64.replace(/(.{64})/g, "$1\r\n");
    for (const [body, headers] of [
      [wrapped, { "Content-Transfer-Encoding": "base64" }],
      [`-----BEGIN CERTIFICATE REQUEST-----\n${wrapped}\n-----END CERTIFICATE REQUEST-----\n`, {}],
      [csr.der, { "Content-Transfer-Encoding": "binary" }],
    ] as const) {
      const response = await t.call({
        method: "POST",
        path: "/.well-known/est/simpleenroll",
        headers: { ...pkcs10, ...headers, Authorization: t.adminBasic },
        body,
      });
      expect(response.status, response.text()).toBe(200);
    }
  });

  it("answers 401 with WWW-Authenticate when credentials are missing, and for a wrong token", async () => {
    const csr = makeCsr({ subject: [{ type: "CN", value: "anonymous" }] });
    const missing = await t.call({
      method: "POST",
      path: "/.well-known/est/simpleenroll",
      headers: pkcs10,
      body: csr.base64,
    });
    expect(missing.status).toBe(401);
    expect(missing.headers["www-authenticate"]).toMatch(/^Basic realm="EST default"/);
    expect(missing.headers["content-type"]).toMatch(/^text\/plain/);
    const wrong = await t.call({
      method: "POST",
      path: "/.well-known/est/simpleenroll",
      headers: { ...pkcs10, Authorization: basicAuth(t.env.adminUsername, "chancery_pat_wrong") },
      body: csr.base64,
    });
    expect(wrong.status).toBe(401);
    // A real token under another username names nobody.
    const otherName = await t.call({
      method: "POST",
      path: "/.well-known/est/simpleenroll",
      headers: { ...pkcs10, Authorization: basicAuth("someone-else", t.env.adminToken) },
      body: csr.base64,
    });
    expect(otherName.status).toBe(401);
  });

  it("refuses a plain user's token (403): enrolling here skips approval", async () => {
    const { gateway } = t.env;
    const user = await gateway.users.create(
      { username: "est-plain-user", role: "user", apiAccess: true },
      { actor: "test" },
    );
    const token = await gateway.tokens.create(user.id, { actor: "test" });
    const csr = makeCsr({ subject: [{ type: "CN", value: "plain" }] });
    const response = await t.call({
      method: "POST",
      path: "/.well-known/est/simpleenroll",
      headers: { ...pkcs10, Authorization: basicAuth("est-plain-user", token.secret) },
      body: csr.base64,
    });
    expect(response.status).toBe(403);
    expect(response.text()).toMatch(/may not enroll/);
  });

  it("maps bad input to 4xx with a plain-text reason, never 500", async () => {
    const csr = makeCsr({ subject: [{ type: "CN", value: "bad-input" }] });
    const cases: Array<[Parameters<EstTestEnv["call"]>[0], number, RegExp]> = [
      [
        {
          method: "POST",
          path: "/.well-known/est/simpleenroll",
          headers: { Authorization: t.adminBasic, "Content-Type": "text/plain" },
          body: csr.base64,
        },
        415,
        /application\/pkcs10/,
      ],
      [
        {
          method: "POST",
          path: "/.well-known/est/simpleenroll",
          headers: { ...pkcs10, Authorization: t.adminBasic },
          body: "not base64 at all!",
        },
        400,
        /CSR/,
      ],
      [
        {
          method: "POST",
          path: "/.well-known/est/simpleenroll",
          headers: { ...pkcs10, Authorization: t.adminBasic },
          body: Buffer.from("MIIB").toString(),
        },
        400,
        /CSR/,
      ],
      [
        {
          method: "POST",
          path: "/.well-known/est/simpleenroll",
          headers: { ...pkcs10, Authorization: t.adminBasic },
          body: "",
        },
        400,
        /empty/,
      ],
      [{ method: "GET", path: "/.well-known/est/simpleenroll" }, 405, /POST/],
      [
        {
          method: "POST",
          path: "/.well-known/est/fullcmc",
          headers: { "Content-Type": "application/pkcs7-mime" },
          body: "MA==",
        },
        501,
        /Full CMC/,
      ],
      [{ method: "GET", path: "/.well-known/est/nosuchop" }, 404, /no EST operation/],
      [{ method: "GET", path: "/.well-known/est/no-such-label/cacerts" }, 404, /no EST label/],
      [{ method: "GET", path: "/elsewhere" }, 404, /well-known/],
      [
        {
          method: "POST",
          path: "/.well-known/est/simpleenroll",
          headers: { ...pkcs10, Authorization: "Basic !!!" },
          body: csr.base64,
        },
        401,
        /Basic/,
      ],
    ];
    for (const [request, status, reason] of cases) {
      const response = await t.call(request);
      expect(response.status, `${request.method} ${request.path}: ${response.text()}`).toBe(status);
      expect(response.text()).toMatch(reason);
    }
    // A body over the limit is 413 before it is read.
    const huge = await t.call({
      method: "POST",
      path: "/.well-known/est/simpleenroll",
      headers: { ...pkcs10, Authorization: t.adminBasic },
      body: "A".repeat(300_000),
    });
    expect(huge.status).toBe(413);
  });

  it("audits enrollments (est.enroll) and refusals (est.refuse, batched)", async () => {
    const { gateway } = t.env;
    await gateway.est.batcher.flush();
    const find = (action: string) => gateway.audit.find({ action }, { order: "newest", cursor: undefined, limit: 50 });
    const enrolled = await find("est.enroll");
    expect(enrolled.some((e) => e.details["auth"] === "basic-token" && e.details["label"] === "default")).toBe(true);
    const refused = await find("est.refuse");
    expect(refused.some((e) => e.details["code"] === "unauthenticated")).toBe(true);
    expect(refused.some((e) => e.details["code"] === "bad_csr")).toBe(true);
  });

  it("refuses a CSR the profile does not allow with 400", async () => {
    // The device profile requires a CN.
    const csr = makeCsr({ subject: [{ type: "O", value: "no-cn" }] });
    const response = await t.call({
      method: "POST",
      path: "/.well-known/est/simpleenroll",
      headers: { ...pkcs10, Authorization: t.adminBasic },
      body: csr.base64,
    });
    expect(response.status).toBe(400);
    expect(response.text()).toMatch(/CN/);
  });
});

describe("client certificates and simplereenroll", () => {
  let deviceCertPem: string;
  let deviceKeyPem: string;
  let serial: string;

  beforeAll(async () => {
    const { csr, response } = await enrollWithBasic("cert-device");
    expect(response.status).toBe(200);
    deviceCertPem = certificatesPemOf(response.body)[0]!;
    deviceKeyPem = csr.keyPem;
    serial = new X509Certificate(deviceCertPem).serialNumber.toLowerCase();
  });

  it("enrolls with the certificate as the only credential (it chains to the default label's CA)", async () => {
    const csr = makeCsr({ subject: [{ type: "CN", value: "second-identity" }] });
    const response = await t.call({
      method: "POST",
      path: "/.well-known/est/simpleenroll",
      headers: pkcs10,
      body: csr.base64,
      certificatePem: deviceCertPem,
      keyPem: deviceKeyPem,
    });
    expect(response.status, response.text()).toBe(200);
    const record = await t.env.gateway.issuance.get(
      new X509Certificate(certificatesPemOf(response.body)[0]!).serialNumber,
    );
    expect(record.requester).toMatch(/^est-cert:default\/[0-9a-f]{64}$/);
  });

  it("re-enrolls with the same subject and records the old certificate as replaced", async () => {
    const csr = makeCsr({ subject: [{ type: "CN", value: "cert-device" }], dnsNames: ["cert-device.est.test"] });
    const response = await t.call({
      method: "POST",
      path: "/.well-known/est/simplereenroll",
      headers: pkcs10,
      body: csr.base64,
      certificatePem: deviceCertPem,
      keyPem: deviceKeyPem,
    });
    expect(response.status, response.text()).toBe(200);
    const renewed = new X509Certificate(certificatesPemOf(response.body)[0]!);
    expect(renewed.subject).toBe("CN=cert-device");
    const replaced = await t.env.gateway.pool.maybeOne(
      sql.type(z.object({ certificate_serial_hex: z.string(), operation: z.string() }))`
        SELECT certificate_serial_hex, operation FROM est_enrollments WHERE replaces_serial_hex = ${serial}`,
    );
    expect(replaced).toEqual({
      certificate_serial_hex: renewed.serialNumber.toLowerCase(),
      operation: "simplereenroll",
    });
    const audit = await t.env.gateway.audit.find(
      { action: "est.reenroll" },
      { order: "newest", cursor: undefined, limit: 10 },
    );
    expect(audit.some((e) => e.details["replaces"] === serial)).toBe(true);
  });

  it("refuses re-enrollment with a changed subject or SANs (403)", async () => {
    for (const csr of [
      makeCsr({ subject: [{ type: "CN", value: "someone-else" }], dnsNames: ["cert-device.est.test"] }),
      makeCsr({ subject: [{ type: "CN", value: "cert-device" }], dnsNames: ["other.est.test"] }),
    ]) {
      const response = await t.call({
        method: "POST",
        path: "/.well-known/est/simplereenroll",
        headers: pkcs10,
        body: csr.base64,
        certificatePem: deviceCertPem,
        keyPem: deviceKeyPem,
      });
      expect(response.status).toBe(403);
      expect(response.text()).toMatch(/keep the subject and SANs/);
    }
  });

  it("refuses re-enrollment without a certificate, or with one we did not issue", async () => {
    const csr = makeCsr({ subject: [{ type: "CN", value: "cert-device" }], dnsNames: ["cert-device.est.test"] });
    const without = await t.call({
      method: "POST",
      path: "/.well-known/est/simplereenroll",
      headers: { ...pkcs10, Authorization: t.adminBasic },
      body: csr.base64,
    });
    expect(without.status).toBe(403);
    const keyFile = scratch.file("foreign.key", "");
    const certFile = scratch.file("foreign.crt", "");
    const made = openssl([
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      keyFile,
      "-out",
      certFile,
      "-subj",
      "/CN=cert-device",
      "-days",
      "1",
    ]);
    expect(made.ok, made.stderr).toBe(true);
    const foreign = await t.call({
      method: "POST",
      path: "/.well-known/est/simplereenroll",
      headers: pkcs10,
      body: csr.base64,
      certificatePem: readFileSync(certFile, "utf8"),
      keyPem: readFileSync(keyFile, "utf8"),
    });
    expect(foreign.status).toBe(403);
    expect(foreign.text()).toMatch(/not issued by this gateway/);
  });

  it("refuses a revoked certificate as a credential", async () => {
    const { csr, response } = await enrollWithBasic("revoked-device");
    const pem = certificatesPemOf(response.body)[0]!;
    await t.env.gateway.issuance.revoke(
      { serialHex: new X509Certificate(pem).serialNumber, reason: "keyCompromise" },
      { actor: "test" },
    );
    const next = makeCsr({ subject: [{ type: "CN", value: "revoked-device" }] });
    const refused = await t.call({
      method: "POST",
      path: "/.well-known/est/simpleenroll",
      headers: pkcs10,
      body: next.base64,
      certificatePem: pem,
      keyPem: csr.keyPem,
    });
    expect(refused.status).toBe(401);
    expect(refused.text()).toMatch(/revoked/);
  });
});
