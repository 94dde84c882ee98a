import { generateKeyPairSync, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDefaultProfiles } from "../../src/core/profiles/default-profiles.ts";
import { certificateText, createScratchDir, openssl } from "../../src/core/x509/testing/openssl.ts";
import { certificatesPemOf } from "./est-client.ts";
import { type EstTestEnv, startEstTestEnv } from "./est-test-env.ts";

/**
 * otherName SANs an EST CSR asks for (802.1X supplicants put the user's
 * UPN there, as Intune SCEP profiles do): issued when the label's profile
 * allows the OID registry entry, refused with 400 and a plain-text reason
 * when it does not (as a disallowed DNS SAN is), and part of the identity
 * a simplereenroll must keep. The CSRs are made by `openssl req`.
 */
const upnOid = "1.3.6.1.4.1.311.20.2.3";
const by = { actor: "test" };
const pkcs10 = { "Content-Type": "application/pkcs10" };
let t: EstTestEnv;
const scratch = createScratchDir();

beforeAll(async () => {
  t = await startEstTestEnv();
  const { profiles, est } = t.env.gateway;
  const device = createDefaultProfiles().find((p) => p.name === "device")!;
  await profiles.create({ ...device, name: "device-upn", san: { ...device.san, otherNames: ["upn"] } }, by);
  await est.labels.create(
    { name: "upn", caId: t.issuingId, profileName: "device-upn", authMode: "either", clientCaIds: [t.issuingId] },
    by,
  );
  await est.labels.create({ name: "plain", caId: t.issuingId, profileName: "device", authMode: "basic" }, by);
});
afterAll(async () => {
  await t?.stop();
  scratch.cleanup();
});

/** An openssl CSR for a fresh P-256 key, with an openssl subjectAltName value; base64 DER and the key. */
function opensslCsr(cn: string, sans: string, keyPem?: string): { base64: string; keyPem: string } {
  const key =
    keyPem ??
    (generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ type: "pkcs8", format: "pem" }) as string);
  const keyPath = scratch.file(`${cn}-${Math.random().toString(36).slice(2)}.key`, key);
  const out = join(scratch.dir, `${cn}-${Math.random().toString(36).slice(2)}.der`);
  const args = ["req", "-new", "-key", keyPath, "-subj", `/CN=${cn}`, "-addext", `subjectAltName=${sans}`];
  const result = openssl([...args, "-outform", "DER", "-out", out]);
  if (!result.ok) throw new Error(result.stderr);
  return { base64: readFileSync(out).toString("base64"), keyPem: key };
}

function enroll(label: string, csrBase64: string) {
  return t.call({
    method: "POST",
    path: `/.well-known/est/${label}/simpleenroll`,
    headers: { ...pkcs10, Authorization: t.adminBasic },
    body: csrBase64,
  });
}

describe("EST otherName SANs", () => {
  let aliceCertPem: string;
  let aliceKeyPem: string;

  it("simpleenroll issues the UPN a CSR asks for under a profile that allows upn", async () => {
    const csr = opensslCsr("alice-laptop", `otherName:${upnOid};UTF8:alice@example.com,DNS:alice-laptop.example.com`);
    const response = await enroll("upn", csr.base64);
    expect(response.status, response.text()).toBe(200);
    aliceCertPem = certificatesPemOf(response.body)[0]!;
    aliceKeyPem = csr.keyPem;
    const certificate = new X509Certificate(aliceCertPem);
    const text = certificateText(certificate.raw);
    // OpenSSL 3 prints the UPN by name.
    expect(text).toMatch(/othername: ?UPN:+alice@example\.com/i);
    expect(text).toMatch(/DNS:alice-laptop\.example\.com/);
    expect((await t.env.gateway.issuance.get(certificate.serialNumber)).sans).toEqual([
      { type: "otherName", name: "upn", value: "alice@example.com" },
      { type: "dns", value: "alice-laptop.example.com" },
    ]);
  });

  it("simpleenroll refuses it with 400 and a plain-text reason under a profile that does not allow upn", async () => {
    const csr = opensslCsr("bob-laptop", `otherName:${upnOid};UTF8:bob@example.com,DNS:bob-laptop.example.com`);
    const response = await enroll("plain", csr.base64);
    expect(response.status).toBe(400);
    expect(response.headers["content-type"]).toMatch(/^text\/plain/);
    expect(response.text()).toMatch(/otherName upn SANs are not allowed by profile device/);
    await t.env.gateway.est.batcher.flush();
    const refused = await t.env.gateway.audit.find(
      { action: "est.refuse" },
      { order: "newest", cursor: undefined, limit: 20 },
    );
    expect(
      refused.some(
        (e) => e.details["code"] === "policy_violation" && /otherName upn/.test(String(e.details["reason"])),
      ),
    ).toBe(true);
  });

  it("simplereenroll keeps the UPN: the same one renews, another or none is refused (403)", async () => {
    const reenroll = (csrBase64: string) =>
      t.call({
        method: "POST",
        path: "/.well-known/est/upn/simplereenroll",
        headers: pkcs10,
        body: csrBase64,
        certificatePem: aliceCertPem,
        keyPem: aliceKeyPem,
      });
    for (const sans of [
      `otherName:${upnOid};UTF8:mallory@example.com,DNS:alice-laptop.example.com`,
      "DNS:alice-laptop.example.com",
    ]) {
      const response = await reenroll(opensslCsr("alice-laptop", sans).base64);
      expect(response.status, sans).toBe(403);
      expect(response.text()).toMatch(/keep the subject and SANs/);
    }
    const same = opensslCsr(
      "alice-laptop",
      `DNS:alice-laptop.example.com,otherName:${upnOid};UTF8:alice@example.com`,
      aliceKeyPem,
    );
    const response = await reenroll(same.base64);
    expect(response.status, response.text()).toBe(200);
    const renewed = new X509Certificate(certificatesPemOf(response.body)[0]!);
    expect(certificateText(renewed.raw)).toMatch(/othername: ?UPN:+alice@example\.com/i);
  });
});
