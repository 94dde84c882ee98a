import { describe, expect, it } from "vitest";
import { ChanceryError } from "../errors.ts";
import { buildCaUrls } from "./ca-urls.ts";
import { createDefaultProfiles } from "./default-profiles.ts";
import { parseDuration } from "./duration.ts";
import { type ProfileInput, parseProfile } from "./profile-schema.ts";

function invalid(input: unknown): string {
  try {
    parseProfile(input);
  } catch (err) {
    expect(err).toBeInstanceOf(ChanceryError);
    expect((err as ChanceryError).code).toBe("invalid_argument");
    return (err as ChanceryError).message;
  }
  throw new Error("profile was accepted");
}

const minimal: ProfileInput = { name: "p", validity: { default: "1d", max: "2d" } };

describe("durations", () => {
  it.each([
    [3600, 3600],
    ["3600", 3600],
    ["3600s", 3600],
    ["30m", 1800],
    ["8760h", 31_536_000],
    ["90d", 7_776_000],
    ["2w", 1_209_600],
  ])("%j is %i seconds", (input, seconds) => {
    expect(parseDuration(input)).toBe(seconds);
  });

  it.each(["", "1y", "1.5d", "-1d", "d", "1 day", 1.5, -1])("%j is not a duration", (input) => {
    expect(parseDuration(input)).toBeUndefined();
  });
});

describe("profile schema", () => {
  it("fills safe defaults for a minimal profile", () => {
    const profile = parseProfile(minimal);
    expect(profile.validity).toEqual({ default: 86_400, max: 172_800 });
    expect(profile.basicConstraints).toEqual({ ca: false });
    expect(profile.keyUsage).toEqual(["digitalSignature"]);
    expect(profile.keyAlgorithms.rsa.minBits).toBe(2048);
    expect(profile.subject.keep).toEqual(["CN"]);
    expect(profile.backdateSeconds).toBe(60);
    expect(profile.requiresApproval).toEqual({ required: false, approvers: 1 });
    expect(profile.revocationInfo).toEqual({ crlDistributionPoint: true, ocsp: true, caIssuers: true });
  });

  it("is idempotent: a parsed profile (JSON round trip) parses to itself", () => {
    for (const profile of createDefaultProfiles()) {
      const again = parseProfile(JSON.parse(JSON.stringify(profile)));
      expect(again).toEqual(profile);
    }
  });

  it("canonicalises attribute names", () => {
    const profile = parseProfile({
      ...minimal,
      subject: { keep: ["cn", "o", "2.5.4.11", "1.2.3.4"], required: ["CN"] },
    });
    expect(profile.subject.keep).toEqual(["CN", "O", "OU", "1.2.3.4"]);
  });

  it.each<[string, unknown, RegExp]>([
    ["bad name", { ...minimal, name: "Not OK" }, /^profile "Not OK": name: lower-case/],
    [
      "bad duration",
      { ...minimal, validity: { default: "1y", max: "2d" } },
      /validity\.default: expected seconds or a duration/,
    ],
    [
      "default above max",
      { ...minimal, validity: { default: "3d", max: "2d" } },
      /validity\.default: must not exceed validity\.max/,
    ],
    ["RSA below 2048", { ...minimal, keyAlgorithms: { rsa: { minBits: 1024 } } }, /keyAlgorithms\.rsa\.minBits/],
    [
      "no key algorithm",
      { ...minimal, keyAlgorithms: { ecdsaCurves: [], rsa: { allowed: false }, ed25519: false } },
      /keyAlgorithms: allows no key algorithm/,
    ],
    ["unknown key usage", { ...minimal, keyUsage: ["signing"] }, /keyUsage\.0: Invalid enum value/],
    [
      "keyCertSign on an end entity",
      { ...minimal, keyUsage: ["digitalSignature", "keyCertSign"] },
      /keyUsage: keyCertSign requires/,
    ],
    ["CA without keyCertSign", { ...minimal, basicConstraints: { ca: true } }, /keyUsage: a CA profile/],
    ["pathLen without CA", { ...minimal, basicConstraints: { ca: false, pathLen: 0 } }, /basicConstraints\.pathLen/],
    [
      "name constraints on an end entity",
      { ...minimal, nameConstraints: { permitted: { dns: ["example.com"] } } },
      /nameConstraints: name constraints belong in CA profiles/,
    ],
    [
      "IP constraint with host bits",
      {
        ...minimal,
        basicConstraints: { ca: true },
        keyUsage: ["keyCertSign"],
        nameConstraints: { permitted: { ip: ["10.1.0.0/8"] } },
      },
      /nameConstraints: .*CIDR/,
    ],
    ["unknown EKU", { ...minimal, extendedKeyUsage: ["webServer"] }, /extendedKeyUsage\.0: must be one of serverAuth/],
    [
      "duplicate EKU",
      { ...minimal, extendedKeyUsage: ["serverAuth", "1.3.6.1.5.5.7.3.1"] },
      /extendedKeyUsage: lists a purpose twice/,
    ],
    [
      "bad SAN regex",
      { ...minimal, san: { patterns: { dns: ["(unclosed"] } } },
      /san\.patterns\.dns\.0: "\(unclosed" is not a valid regular/,
    ],
    [
      "pattern for a disallowed type",
      { ...minimal, san: { allowedTypes: ["dns"], patterns: { ip: ["10\\..*"] } } },
      /san\.patterns\.ip/,
    ],
    ["SAN type", { ...minimal, san: { allowedTypes: ["x400"] } }, /san\.allowedTypes\.0/],
    [
      "unknown subject attribute",
      // "nickname" would read as an OID registry id, checked by the profile service.
      { ...minimal, subject: { keep: ["CN", "Nick Name"] } },
      /subject\.keep\.1: "Nick Name"/,
    ],
    [
      "required but dropped",
      { ...minimal, subject: { keep: ["CN"], required: ["O"] } },
      /subject\.required\.0: O is required but not in subject\.keep/,
    ],
    [
      "custom extension duplicating a managed one",
      { ...minimal, customExtensions: [{ oid: "2.5.29.17", valueBase64: "MAA=" }] },
      /customExtensions\.0\.oid: this extension is built from other profile fields/,
    ],
    [
      "custom extension not DER",
      { ...minimal, customExtensions: [{ oid: "1.2.3.4", valueBase64: "MAAA" }] },
      /valueBase64: must be base64 of one/,
    ],
    [
      "policy OID",
      { ...minimal, certificatePolicies: [{ oid: "policy-1" }] },
      /certificatePolicies\.0\.oid: must be a dotted OID/,
    ],
    [
      "user notice too long",
      { ...minimal, certificatePolicies: [{ oid: "1.2.3", userNotice: "x".repeat(201) }] },
      /userNotice/,
    ],
    [
      "must-staple without OCSP",
      { ...minimal, ocspMustStaple: true, revocationInfo: { ocsp: false } },
      /ocspMustStaple: must-staple needs an OCSP URL/,
    ],
    ["backdate above a day", { ...minimal, backdateSeconds: "2d" }, /backdateSeconds: must be at most 1 day/],
    ["approvers", { ...minimal, requiresApproval: { required: true, approvers: 0 } }, /requiresApproval\.approvers/],
    ["unknown field", { ...minimal, validty: {} }, /Unrecognized key/],
    ["not an object", "tls-server", /profile: \(profile\): Expected object/],
  ])("names the offending field: %s", (_label, input, message) => {
    expect(invalid(input)).toMatch(message);
  });
});

describe("default profiles", () => {
  const profiles = createDefaultProfiles();
  const byName = Object.fromEntries(profiles.map((p) => [p.name, p]));

  it("creates tls-server, tls-client and device", () => {
    expect(profiles.map((p) => p.name)).toEqual(["tls-server", "tls-client", "device"]);
    for (const profile of profiles) {
      expect(profile.keyAlgorithms.ecdsaCurves).toEqual(["P-256", "P-384"]);
      expect(profile.keyAlgorithms.rsa).toMatchObject({ allowed: true, minBits: 2048 });
      expect(profile.keyAlgorithms.ed25519).toBe(true);
      expect(profile.basicConstraints.ca).toBe(false);
    }
  });

  it("tls-server: serverAuth, dns+ip SANs required, 90 days default, 397 max, keyEncipherment only for RSA", () => {
    const p = byName["tls-server"]!;
    expect(p.extendedKeyUsage).toEqual(["serverAuth"]);
    expect(p.san).toMatchObject({ allowedTypes: ["dns", "ip"], required: true });
    expect(p.validity).toEqual({ default: 90 * 86_400, max: 397 * 86_400 });
    expect(p.keyUsage).toEqual(["digitalSignature"]);
    expect(p.rsaKeyUsage).toEqual(["keyEncipherment"]);
    expect(p.subject.commonNameMustBeSan).toBe(true);
  });

  it("tls-client and device: clientAuth, optional SANs, CN kept and required", () => {
    expect(byName["tls-client"]!.extendedKeyUsage).toEqual(["clientAuth"]);
    expect(byName["tls-client"]!.san).toMatchObject({ allowedTypes: ["dns", "email", "uri"], required: false });
    expect(byName["device"]!.extendedKeyUsage).toEqual(["clientAuth"]);
    expect(byName["device"]!.validity.default).toBe(365 * 86_400);
    for (const name of ["tls-client", "device"]) {
      expect(byName[name]!.subject.keep).toContain("CN");
      expect(byName[name]!.subject.required).toEqual(["CN"]);
    }
  });

  it("returns fresh objects on every call", () => {
    const a = createDefaultProfiles();
    a[0]!.keyUsage.push("cRLSign");
    expect(createDefaultProfiles()[0]!.keyUsage).toEqual(["digitalSignature"]);
  });
});

describe("CA URLs", () => {
  it("derives CRL, OCSP and caIssuers URLs from one base", () => {
    expect(buildCaUrls("http://pki.example.com/", "ca-1")).toEqual({
      crl: "http://pki.example.com/crl/ca-1.crl",
      ocsp: "http://pki.example.com/ocsp",
      caIssuers: "http://pki.example.com/ca/ca-1.cer",
    });
    expect(buildCaUrls("http://pki.example.com:8080/base", "r").crl).toBe("http://pki.example.com:8080/base/crl/r.crl");
  });

  it("refuses https, relative URLs, queries and unsafe CA ids", () => {
    expect(() => buildCaUrls("https://pki.example.com", "a")).toThrow(/must use http:/);
    expect(() => buildCaUrls("pki.example.com", "a")).toThrow(/absolute/);
    expect(() => buildCaUrls("http://pki.example.com/?x=1", "a")).toThrow(/query/);
    expect(() => buildCaUrls("http://pki.example.com", "../etc")).toThrow(/CA id/);
  });
});
