import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pemEncode } from "../src/core/x509/pem.ts";
import { certificateText, opensslCsr } from "../src/core/x509/testing/openssl.ts";
import { connectJson, startTestGateway, type TestGateway } from "./support/test-gateway.ts";

const registry = "chancery.admin.v1.RegistryService";

/** RegistryService and registry-backed profiles over Connect JSON, as curl or a browser client sends them. */
describe("RegistryService on a running gateway", () => {
  let env: TestGateway;
  let issuingCa: string;
  const call = (method: string, body: unknown) => connectJson(env, method, body, env.adminToken);

  beforeAll(async () => {
    env = await startTestGateway();
    const cas = await call("chancery.admin.v1.CertificateAuthorityService/ListCertificateAuthorities", {});
    const list = cas.json["certificateAuthorities"] as Array<{ name: string; parent?: string }>;
    issuingCa = list.find((ca) => ca.parent)!.name;
  });
  afterAll(async () => {
    await env?.stop();
  });

  it("lists built-ins first, pages through them, and refuses to change them", async () => {
    const all = await call(`${registry}/ListObjectIdentifiers`, {});
    expect(all.status).toBe(200);
    const entries = all.json["objectIdentifiers"] as Array<Record<string, unknown>>;
    expect(entries.find((e) => e["name"] === "objectIdentifiers/upn")).toEqual({
      name: "objectIdentifiers/upn",
      oid: "1.3.6.1.4.1.311.20.2.3",
      displayName: "User principal name (Microsoft UPN)",
      valueType: "VALUE_TYPE_UTF8_STRING",
      placement: "PLACEMENT_SAN_OTHER_NAME",
      builtin: true,
    });
    const first = await call(`${registry}/ListObjectIdentifiers`, { pageSize: 4 });
    const second = await call(`${registry}/ListObjectIdentifiers`, {
      pageSize: 4,
      pageToken: first.json["nextPageToken"],
    });
    const names = (page: typeof first) =>
      (page.json["objectIdentifiers"] as Array<{ name: string }>).map((e) => e.name.split("/")[1]);
    expect([...names(first), ...names(second)]).toEqual(["dns", "ip", "email", "uri", "upn", "snils", "inn", "innle"]);

    const policies = await call(`${registry}/GetCertificatePolicy`, { name: "certificatePolicies/qes-organisation" });
    expect(policies.json).toMatchObject({ oid: "0.4.0.194112.1.3", builtin: true });
    const deleted = await call(`${registry}/DeleteCertificatePolicy`, { name: "certificatePolicies/qes-organisation" });
    expect(deleted.status).toBe(400);
    expect(deleted.json["code"]).toBe("failed_precondition");
    const missing = await call(`${registry}/GetObjectIdentifier`, { name: "objectIdentifiers/nope" });
    expect(missing.json["code"]).toBe("not_found");
    const unset = await call(`${registry}/CreateObjectIdentifier`, {
      objectIdentifierId: "no-placement",
      objectIdentifier: { oid: "1.3.6.1.4.1.99999.5", displayName: "x", valueType: "VALUE_TYPE_UTF8_STRING" },
    });
    expect(unset.json).toMatchObject({ code: "invalid_argument", message: "object_identifier.placement must be set" });
  });

  it("creates entries, a profile naming them, and issues a certificate with an otherName SAN", async () => {
    const created = await call(`${registry}/CreateObjectIdentifier`, {
      objectIdentifierId: "badge",
      objectIdentifier: {
        oid: "1.3.6.1.4.1.99999.4.1",
        displayName: "Badge number",
        valueType: "VALUE_TYPE_NUMERIC_STRING",
        placement: "PLACEMENT_SUBJECT_ATTRIBUTE",
        valuePattern: "[0-9]{5}",
      },
    });
    expect(created.status).toBe(200);
    expect(created.json["name"]).toBe("objectIdentifiers/badge");
    expect(created.json["builtin"]).toBeUndefined(); // proto3 JSON leaves out false
    expect(created.json["createTime"]).toBeDefined();
    const renamed = await call(`${registry}/UpdateObjectIdentifier`, {
      objectIdentifier: { name: "objectIdentifiers/badge", displayName: "Staff badge", oid: "9.9" },
      updateMask: ["display_name"],
    });
    expect(renamed.json).toMatchObject({ displayName: "Staff badge", oid: "1.3.6.1.4.1.99999.4.1" });
    const identity = await call(`${registry}/UpdateObjectIdentifier`, {
      objectIdentifier: { name: "objectIdentifiers/badge", oid: "9.9" },
      updateMask: ["oid"],
    });
    expect(identity.json["code"]).toBe("invalid_argument");

    const createPolicy = {
      certificatePolicyId: "staff-policy",
      certificatePolicy: {
        oid: "1.3.6.1.4.1.99999.4.2",
        displayName: "Staff",
        cpsUri: "https://pki.corp.example/cps",
      },
      requestId: "0b7e4c1e-5d3f-4a57-9f0e-3f3b1f2a6c11",
    };
    const policy = await call(`${registry}/CreateCertificatePolicy`, createPolicy);
    expect(policy.status).toBe(200);
    // AIP-155: the retry gets the first answer instead of ALREADY_EXISTS.
    expect(await call(`${registry}/CreateCertificatePolicy`, createPolicy)).toEqual(policy);

    const profile = await call("chancery.admin.v1.ProfileService/CreateProfile", {
      profileId: "staff-smartcard",
      profile: {
        validity: { default: "86400s", max: "864000s" },
        keyUsage: ["KEY_USAGE_DIGITAL_SIGNATURE"],
        extendedKeyUsage: ["clientAuth", "1.3.6.1.4.1.311.20.2.2"],
        san: { allowedTypes: [], otherNames: ["upn"], required: true },
        subject: { keep: ["CN", "badge"], required: ["badge"] },
        certificatePolicies: [{ policy: "staff-policy" }],
      },
    });
    expect(profile.status).toBe(200);
    expect(profile.json["certificatePolicies"]).toEqual([{ policy: "staff-policy" }]);
    expect((profile.json["san"] as { otherNames: string[] }).otherNames).toEqual(["upn"]);

    const issued = await call("chancery.admin.v1.CertificateService/IssueCertificate", {
      parent: issuingCa,
      profile: "profiles/staff-smartcard",
      csrPem: pemEncode("CERTIFICATE REQUEST", opensslCsr({ subject: "/CN=Alice" })),
      subject: [
        { type: "CN", value: "Alice" },
        { type: "badge", value: "04711" },
      ],
      subjectAltNames: [{ type: "TYPE_OTHER_NAME", otherName: "upn", value: "alice@corp.example" }],
    });
    expect(issued.status).toBe(200);
    expect(issued.json["subjectAltNames"]).toEqual([
      { type: "TYPE_OTHER_NAME", value: "alice@corp.example", otherName: "upn" },
    ]);
    const pem = (issued.json["certificatePem"] ?? (issued.json["certificateChainPem"] as string[])[0]) as string;
    const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ""), "base64");
    const text = certificateText(der);
    expect(text).toContain("othername: UPN::alice@corp.example");
    expect(text).toContain("1.3.6.1.4.1.99999.4.1 = 04711");
    expect(text).toContain("CPS: https://pki.corp.example/cps");

    const badBadge = await call("chancery.admin.v1.CertificateService/IssueCertificate", {
      parent: issuingCa,
      profile: "profiles/staff-smartcard",
      csrPem: pemEncode("CERTIFICATE REQUEST", opensslCsr({ subject: "/CN=Bob" })),
      subject: [{ type: "badge", value: "12" }],
      subjectAltNames: [{ type: "TYPE_OTHER_NAME", otherName: "upn", value: "bob@corp.example" }],
    });
    expect(badBadge.json["code"]).toBe("failed_precondition");
    expect(badBadge.json["message"]).toMatch(/Staff badge does not match/);

    const inUse = await call(`${registry}/DeleteObjectIdentifier`, { name: "objectIdentifiers/badge" });
    expect(inUse.json).toMatchObject({ code: "failed_precondition" });
    expect(inUse.json["message"]).toMatch(/used by profile staff-smartcard/);
  });
});
