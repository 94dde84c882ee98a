import { type KeyObject, randomUUID, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDefaultProfiles } from "../../src/core/profiles/default-profiles.ts";
import { createRegistryService } from "../../src/core/registry/registry-service.ts";
import { failInfos, pkiStatuses } from "../../src/core/scep/scep-types.ts";
import { type CertRepResult, pkcsReq, selfSignedSigner } from "../../src/core/scep/testing/scep-test-client.ts";
import { startWebhookTestServer, type WebhookTestServer } from "../../src/core/scep/testing/webhook-test-server.ts";
import { certificateText, createScratchDir, openssl } from "../../src/core/x509/testing/openssl.ts";
import { rsaKeys, type ScepTestEnv, startScepTestEnv, testActor } from "./scep-test-env.ts";

/**
 * otherName SANs a SCEP CSR asks for, as Microsoft Intune profiles put the
 * user's UPN there (MS-WCCE; 802.1X/NPS map the certificate to the account
 * by it): issued when the endpoint's profile allows the OID registry entry,
 * refused with FAILURE badRequest (the reason in the audit) when it does
 * not, as a disallowed DNS SAN is. The CSRs are made by `openssl req`.
 */
const upnOid = "1.3.6.1.4.1.311.20.2.3";
const employeeOid = "1.3.6.1.4.1.99999.7";
const webhookSecret = "webhook-hmac-secret-for-other-names";
let t: ScepTestEnv;
let hook: WebhookTestServer;
let keys: KeyObject[];

beforeAll(async () => {
  [t, hook] = await Promise.all([startScepTestEnv(), startWebhookTestServer({ secret: webhookSecret })]);
  keys = rsaKeys(2);
  // A custom otherName entry: how the registry's own entries (not only the built-in UPN) reach a CSR.
  const registry = createRegistryService({ pool: t.gateway.pool, audit: t.gateway.audit });
  await registry.createObjectIdentifier(
    {
      id: "employee-id",
      oid: employeeOid,
      displayName: "Employee number",
      valueType: "printableString",
      placement: "san_other_name",
      valuePattern: "E-[0-9]+",
    },
    testActor,
  );
  const deviceProfile = createDefaultProfiles().find((p) => p.name === "device")!;
  await t.gateway.profiles.create(
    { ...deviceProfile, name: "device-upn", san: { ...deviceProfile.san, otherNames: ["upn", "employee-id"] } },
    testActor,
  );
  await Promise.all([
    t.endpoint("upn", { challengeMode: "none", profileName: "device-upn" }),
    // The default device profile allows dns, ip, email and uri SANs, no otherName.
    t.endpoint("plain", { challengeMode: "none" }),
    t.endpoint("upn-hook", {
      challengeMode: "webhook",
      webhook: { url: hook.url },
      webhookSecret,
      profileName: "device-upn",
    }),
  ]);
});
afterAll(async () => {
  await Promise.all([t?.stop(), hook?.close()]);
});

/** A CSR for `key` made by openssl, with an openssl subjectAltName value. */
function opensslCsrFor(key: KeyObject, cn: string, sans: string): Buffer {
  const scratch = createScratchDir();
  try {
    const keyPath = scratch.file("key.pem", key.export({ type: "pkcs8", format: "pem" }) as string);
    const out = join(scratch.dir, "csr.der");
    const args = ["req", "-new", "-key", keyPath, "-subj", `/CN=${cn}`, "-addext", `subjectAltName=${sans}`];
    const result = openssl([...args, "-outform", "DER", "-out", out]);
    if (!result.ok) throw new Error(result.stderr);
    return readFileSync(out);
  } finally {
    scratch.cleanup();
  }
}

async function enrol(endpoint: string, key: KeyObject, cn: string, sans: string) {
  const ra = await t.raCertificate(endpoint);
  const request = pkcsReq(opensslCsrFor(key, cn, sans), {
    transactionId: randomUUID(),
    raCertificateDer: ra,
    signer: selfSignedSigner(key, { commonName: cn }),
  });
  return { request, reply: await t.exchange(endpoint, request, ra) };
}

function issued(reply: CertRepResult): Buffer {
  expect(reply.pkiStatus, `failInfo ${reply.failInfo}`).toBe(pkiStatuses.success);
  return Buffer.from(reply.certificatesDer[0]!);
}

async function sansOf(der: Buffer) {
  return (await t.gateway.issuance.get(new X509Certificate(der).serialNumber.toLowerCase())).sans;
}

describe("SCEP otherName SANs", () => {
  it("issues the UPN (and a custom registry otherName) a CSR asks for under a profile that allows them", async () => {
    const { request, reply } = await enrol(
      "upn",
      keys[0]!,
      "alice-laptop",
      `otherName:${upnOid};UTF8:alice@example.com,otherName:${employeeOid};PRINTABLESTRING:E-1234,DNS:alice-laptop.example.com`,
    );
    const der = issued(reply);
    // OpenSSL 3 prints the UPN by name.
    const text = certificateText(der);
    expect(text).toMatch(/othername: ?UPN:+alice@example\.com/i);
    expect(text).toMatch(/DNS:alice-laptop\.example\.com/);
    expect(text).toContain(`othername: ${employeeOid}::`);
    expect(await sansOf(der)).toEqual([
      { type: "otherName", name: "upn", value: "alice@example.com" },
      { type: "otherName", name: "employee-id", value: "E-1234" },
      { type: "dns", value: "alice-laptop.example.com" },
    ]);
    expect(await t.auditOf("scep.enrolment.issue", request.transactionId)).toHaveLength(1);
  });

  it("refuses it with FAILURE badRequest under a profile that does not allow upn, the reason in the audit", async () => {
    const { request, reply } = await enrol(
      "plain",
      keys[1]!,
      "bob-laptop",
      `otherName:${upnOid};UTF8:bob@example.com,DNS:bob-laptop.example.com`,
    );
    expect([reply.pkiStatus, reply.failInfo]).toEqual([pkiStatuses.failure, failInfos.badRequest]);
    const [audit] = await t.auditOf("scep.enrolment.fail", request.transactionId);
    expect(String(audit?.details["reason"])).toMatch(/otherName upn SANs are not allowed by profile device/);
  });

  it("refuses a value the registry entry's pattern does not match", async () => {
    const { request, reply } = await enrol(
      "upn",
      keys[1]!,
      "carol-laptop",
      `otherName:${employeeOid};PRINTABLESTRING:X-1`,
    );
    expect([reply.pkiStatus, reply.failInfo]).toEqual([pkiStatuses.failure, failInfos.badRequest]);
    const [audit] = await t.auditOf("scep.enrolment.fail", request.transactionId);
    expect(String(audit?.details["reason"])).toMatch(/Employee number "X-1" does not match/);
  });

  it("leaves out an otherName no registry entry describes, as before", async () => {
    const { reply } = await enrol(
      "plain",
      keys[1]!,
      "dave-laptop",
      "otherName:1.2.3.4;UTF8:unregistered,DNS:dave-laptop.example.com",
    );
    const der = issued(reply);
    expect(await sansOf(der)).toEqual([{ type: "dns", value: "dave-laptop.example.com" }]);
    expect(certificateText(der)).not.toMatch(/othername/i);
  });

  it("shows the webhook the UPN among the CSR's SANs as otherName:upn:<value>", async () => {
    hook.answer(() => ({ json: { allow: true } }));
    const { request, reply } = await enrol(
      "upn-hook",
      keys[0]!,
      "erin-laptop",
      `otherName:${upnOid};UTF8:erin@example.com,DNS:erin-laptop.example.com`,
    );
    issued(reply);
    const events = hook.requests
      .map((r) => r.json as Record<string, unknown>)
      .filter((json) => json?.["transactionId"] === request.transactionId);
    expect(events.map((e) => e["event"])).toEqual(["validate", "issued"]);
    expect(events[0]!["sans"]).toEqual(["otherName:upn:erin@example.com", "dns:erin-laptop.example.com"]);
  });
});
