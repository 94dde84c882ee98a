import { randomUUID, X509Certificate } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { failInfos, pkiStatuses } from "../../src/core/scep/scep-types.ts";
import {
  buildTestCsr,
  type CertRepResult,
  certificateNames,
  getCert,
  getCrl,
  renewalReq,
  type ScepTestSigner,
  selfSignedSigner,
} from "../../src/core/scep/testing/scep-test-client.ts";
import { createScratchDir, openssl } from "../../src/core/x509/testing/openssl.ts";
import { rsaKeys, type ScepTestEnv, startScepTestEnv, staticChallenge, testActor } from "./scep-test-env.ts";

/**
 * What a device does with a certificate it holds: fetch it again (GetCert,
 * RFC 8894 §3.3.4), fetch its CA's CRL (GetCRL, §3.3.5), and renew it
 * (RenewalReq, §3.3.1.2: signed with the certificate, no challenge, the
 * identity of the certificate renewed).
 */
let t: ScepTestEnv;
let keys: ReturnType<typeof rsaKeys>;
let ra: Buffer;
let issuerDer: Buffer;
/** A device certificate issued on "devices", with its key: the signer of the requests below. */
let holder: ScepTestSigner;

beforeAll(async () => {
  t = await startScepTestEnv();
  keys = rsaKeys(6);
  await Promise.all([t.endpoint("devices"), t.endpoint("no-renewal", { renewalAllowed: false })]);
  ra = await t.raCertificate("devices");
  issuerDer = certificateNames(t.issuing.certificateDer!).subjectDer;
  holder = await issued(0, "holder-device", ["dns:holder.devices.test"]);
});
afterAll(async () => {
  await t?.stop();
});

async function issued(keyIndex: number, cn: string, sans: string[] = []): Promise<ScepTestSigner> {
  const { reply } = await t.enrol("devices", { key: keys[keyIndex]!, cn, sans, challenge: staticChallenge });
  expect(reply.pkiStatus, `failInfo ${reply.failInfo}`).toBe(pkiStatuses.success);
  return { certificateDer: reply.certificatesDer[0]!, privateKey: keys[keyIndex]! };
}

const expectFailure = (reply: CertRepResult, failInfo: number) =>
  expect([reply.pkiStatus, reply.failInfo]).toEqual([pkiStatuses.failure, failInfo]);

describe("GetCert", () => {
  it("answers a certificate issued on the endpoint's CA", async () => {
    const { serialHex } = certificateNames(holder.certificateDer);
    const request = getCert({ issuerDer, serialHex }, { raCertificateDer: ra, signer: holder });
    const reply = await t.exchange("devices", request, ra);
    expect(reply.pkiStatus, `failInfo ${reply.failInfo}`).toBe(pkiStatuses.success);
    expect(reply.certificatesDer.map((der) => der.toString("base64"))).toEqual([
      holder.certificateDer.toString("base64"),
    ]);
  });

  it("an unknown serial is badCertId", async () => {
    const request = getCert({ issuerDer, serialHex: "7a3c55e1d0c0ffee" }, { raCertificateDer: ra, signer: holder });
    expectFailure(await t.exchange("devices", request, ra), failInfos.badCertId);
  });

  it("an issuer that is not the endpoint's CA is badCertId", async () => {
    const rootSubject = certificateNames(t.issuing.chainDer[0]!).subjectDer;
    const { serialHex } = certificateNames(holder.certificateDer);
    const request = getCert({ issuerDer: rootSubject, serialHex }, { raCertificateDer: ra, signer: holder });
    expectFailure(await t.exchange("devices", request, ra), failInfos.badCertId);
  });
});

describe("GetCRL", () => {
  it("answers the CA's current CRL, which lists a certificate revoked before it was made", async () => {
    const revoked = await issued(1, "crl-device");
    const { serialHex } = certificateNames(revoked.certificateDer);
    await t.gateway.issuance.revoke({ serialHex, reason: "keyCompromise" }, testActor);
    await t.gateway.crls.generate(t.issuing.id, testActor);
    const latest = await t.gateway.crls.latest(t.issuing.id);

    const request = getCrl({ issuerDer, serialHex }, { raCertificateDer: ra, signer: holder });
    const reply = await t.exchange("devices", request, ra);
    expect(reply.pkiStatus, `failInfo ${reply.failInfo}`).toBe(pkiStatuses.success);
    expect(reply.certificatesDer).toHaveLength(0);
    expect(reply.crlsDer).toHaveLength(1);
    expect(reply.crlsDer[0]!.equals(latest!.der)).toBe(true);

    // openssl reads it as a DER CRL of the issuing CA, signed by it, listing the revoked serial.
    const caPem = new X509Certificate(t.issuing.certificateDer!).toString();
    const dir = createScratchDir();
    try {
      const text = openssl(
        ["crl", "-inform", "DER", "-noout", "-text", "-CAfile", dir.file("ca.pem", caPem)],
        reply.crlsDer[0]!,
      );
      expect(text.ok, text.stderr).toBe(true);
      expect(text.stderr).toMatch(/verify OK/);
      const issuerCn = /CN=([^,]+)/.exec(t.issuing.subject)![1]!;
      expect(text.stdout).toContain(`CN = ${issuerCn}`);
      expect(text.stdout).toMatch(/^\s*Issuer: .*CN = /m);
      expect(text.stdout.replace(/\s/g, "").toLowerCase()).toContain(`serialnumber:${serialHex.toLowerCase()}`);
    } finally {
      dir.cleanup();
    }
  });
});

describe("RenewalReq", () => {
  it("signed with a valid issued certificate: a new certificate for the new key, same subject and SANs, no challenge", async () => {
    const old = await issued(2, "renew-device", ["dns:renew.devices.test", "ip:192.0.2.20"]);
    // The CSR asks for another name: the renewal still carries the identity of the certificate renewed.
    const csr = buildTestCsr({ privateKey: keys[3]!, subject: [["CN", "renamed-device"]], sans: ["dns:other.test"] });
    const request = renewalReq(csr, { raCertificateDer: ra, signer: old, transactionId: randomUUID() });
    const reply = await t.exchange("devices", request, ra);
    expect(reply.pkiStatus, `failInfo ${reply.failInfo}`).toBe(pkiStatuses.success);

    const before = new X509Certificate(old.certificateDer);
    const after = new X509Certificate(reply.certificatesDer[0]!);
    expect(after.serialNumber).not.toBe(before.serialNumber);
    expect(after.subject).toBe(before.subject);
    expect(after.subjectAltName).toBe(before.subjectAltName);
    expect(after.publicKey.equals(new X509Certificate(selfSignedSigner(keys[3]!).certificateDer).publicKey)).toBe(true);

    const [event] = await t.auditOf("scep.enrolment.issue", request.transactionId);
    expect(event?.details).toMatchObject({
      challengeMode: "renewal",
      messageType: 17,
      replaces: certificateNames(old.certificateDer).serialHex,
    });
  });

  it("signed with a self-signed (foreign) certificate: badCertId", async () => {
    const csr = buildTestCsr({ privateKey: keys[4]!, subject: [["CN", "holder-device"]] });
    const request = renewalReq(csr, {
      raCertificateDer: ra,
      signer: selfSignedSigner(keys[4]!, { commonName: "holder-device" }),
    });
    expectFailure(await t.exchange("devices", request, ra), failInfos.badCertId);
  });

  it("signed with a revoked certificate: refused", async () => {
    const revoked = await issued(5, "revoked-device");
    await t.gateway.issuance.revoke(
      { serialHex: certificateNames(revoked.certificateDer).serialHex, reason: "superseded" },
      testActor,
    );
    const csr = buildTestCsr({ privateKey: keys[5]!, subject: [["CN", "revoked-device"]] });
    const reply = await t.exchange("devices", renewalReq(csr, { raCertificateDer: ra, signer: revoked }), ra);
    expectFailure(reply, failInfos.badCertId);
  });

  it("on an endpoint with renewal off: refused with badRequest", async () => {
    const noRenewalRa = await t.raCertificate("no-renewal");
    const csr = buildTestCsr({ privateKey: keys[0]!, subject: [["CN", "holder-device"]] });
    const request = renewalReq(csr, { raCertificateDer: noRenewalRa, signer: holder });
    expectFailure(await t.exchange("no-renewal", request, noRenewalRa), failInfos.badRequest);
  });

  it("with the same key, as scepclient renews: SUCCESS", async () => {
    const csr = buildTestCsr({ privateKey: keys[0]!, subject: [["CN", "holder-device"]] });
    const reply = await t.exchange("devices", renewalReq(csr, { raCertificateDer: ra, signer: holder }), ra);
    expect(reply.pkiStatus, `failInfo ${reply.failInfo}`).toBe(pkiStatuses.success);
    expect(new X509Certificate(reply.certificatesDer[0]!).subject).toBe("CN=holder-device");
  });
});
