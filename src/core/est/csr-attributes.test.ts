import { describe, expect, it } from "vitest";
import { createDefaultProfiles } from "../profiles/default-profiles.ts";
import { parseProfile } from "../profiles/profile-schema.ts";
import { asn1parse } from "../x509/testing/openssl.ts";
import { buildCsrAttributes } from "./csr-attributes.ts";

const device = createDefaultProfiles().find((p) => p.name === "device")!;

describe("buildCsrAttributes (RFC 7030 §4.5.2)", () => {
  it("names the profile's required subject attributes and, when asked, challengePassword", () => {
    const der = buildCsrAttributes(device, { channelBindingRequired: true })!;
    const parsed = asn1parse(der);
    expect(parsed).toContain("challengePassword");
    expect(parsed).toContain("commonName");
    // Several key families allowed: no key attribute.
    expect(parsed).not.toContain("id-ecPublicKey");
  });

  it("describes the key when the profile allows one family (RFC 9908 form)", () => {
    const ec = parseProfile({
      ...device,
      keyAlgorithms: { ecdsaCurves: ["P-384"], rsa: { allowed: false }, ed25519: false },
    });
    const ecParsed = asn1parse(buildCsrAttributes(ec, { channelBindingRequired: false })!);
    expect(ecParsed).toContain("id-ecPublicKey");
    expect(ecParsed).toContain("secp384r1");
    const rsa = parseProfile({
      ...device,
      keyAlgorithms: { ecdsaCurves: [], rsa: { allowed: true, minBits: 3072 }, ed25519: false },
    });
    const rsaParsed = asn1parse(buildCsrAttributes(rsa, { channelBindingRequired: false })!);
    expect(rsaParsed).toContain("rsaEncryption");
    expect(rsaParsed).toMatch(/INTEGER\s+:0C00/);
  });

  it("is null (204) when there is nothing to ask for", () => {
    const open = parseProfile({ ...device, subject: { keep: ["CN"], required: [] } });
    expect(buildCsrAttributes(open, { channelBindingRequired: false })).toBeNull();
  });
});
