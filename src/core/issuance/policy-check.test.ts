import { generateKeyPairSync, sign } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { ChanceryError } from "../errors.ts";
import { createDefaultProfiles } from "../profiles/default-profiles.ts";
import { type Profile, type ProfileInput, parseProfile } from "../profiles/profile-schema.ts";
import { createCertificateSigningRequest } from "../x509/certificate-signing-request.ts";
import { bitString, contextConstructed, derInteger, derOid, sequence, tlvOf } from "../x509/der-writer.ts";
import type { SubjectAltName } from "../x509/general-name.ts";
import { encodeName, type NameAttribute } from "../x509/name.ts";
import { oids } from "../x509/oids.ts";
import { type ParsedCsr, parseCsr } from "../x509/parse-csr.ts";
import { createTestSigner } from "../x509/testing/test-signer.ts";
import { createPolicyChecker, type IssuerFacts, type PolicyCheckInput } from "./policy-check.ts";

const day = 86_400_000;
const now = new Date("2026-03-01T12:00:00.750Z");
const nowSeconds = new Date("2026-03-01T12:00:00Z").getTime();
const profiles = Object.fromEntries(createDefaultProfiles().map((p) => [p.name, p]));
const tlsServer = profiles["tls-server"]!;
const device = profiles["device"]!;
const issuerSigner = createTestSigner("ecdsa-p256");
const issuer: IssuerFacts = {
  notBefore: new Date(nowSeconds - 365 * day),
  notAfter: new Date(nowSeconds + 5 * 365 * day),
  publicKeySpki: issuerSigner.publicKeySpki,
};

async function csrFor(subject: NameAttribute[], algorithm: "ecdsa-p256" | "ed25519" | "rsa-2048" = "ecdsa-p256") {
  return parseCsr(await createCertificateSigningRequest({ signer: createTestSigner(algorithm), subject }));
}

/** A CSR for a key node can make but the Signer list does not cover (RSA 1024, P-521, exponent 3). */
function csrForNodeKey(type: "rsa" | "ec", options: object): ParsedCsr {
  const { privateKey, publicKey } = generateKeyPairSync(type as "rsa", options as { modulusLength: number });
  const spki = new Uint8Array(publicKey.export({ format: "der", type: "spki" }));
  const info = sequence([
    derInteger(0),
    encodeName([{ type: "CN", value: "k" }]),
    spki,
    tlvOf(contextConstructed(0), []),
  ]);
  const algorithm = type === "rsa" ? sequence([derOid(oids.sha256WithRsa)]) : sequence([derOid(oids.ecdsaWithSha512)]);
  const signature = sign(type === "rsa" ? "sha256" : "sha512", info, privateKey);
  return parseCsr(sequence([info, algorithm, bitString(signature)]));
}

function violation(profile: Profile, input: PolicyCheckInput): ChanceryError {
  try {
    createPolicyChecker(profile).check(input);
  } catch (err) {
    expect(err).toBeInstanceOf(ChanceryError);
    expect((err as ChanceryError).code).toBe("policy_violation");
    return err as ChanceryError;
  }
  throw new Error("policy accepted the request");
}

function input(
  csr: ParsedCsr,
  sans: SubjectAltName[],
  extra: Partial<PolicyCheckInput["request"]> = {},
): PolicyCheckInput {
  return { csr, request: { approved: { sans }, ...extra }, issuer, now };
}

function withProfile(base: Profile, changes: Partial<ProfileInput>): Profile {
  return parseProfile({ ...base, ...changes });
}

let web: ParsedCsr;
beforeAll(async () => {
  web = await csrFor([
    { type: "C", value: "US" },
    { type: "O", value: "Requested Org" },
    { type: "CN", value: "www.example.com" },
  ]);
});

describe("keys", () => {
  it("accepts P-256, RSA 2048 and Ed25519 under the default tls-server profile", async () => {
    for (const algorithm of ["ecdsa-p256", "rsa-2048", "ed25519"] as const) {
      const csr = await csrFor([{ type: "CN", value: "a.example.com" }], algorithm);
      const content = createPolicyChecker(tlsServer).check(input(csr, [{ type: "dns", value: "a.example.com" }]));
      expect(content.publicKey.type).toBe(csr.publicKey.type);
      expect(Buffer.from(content.subjectPublicKeySpki).equals(Buffer.from(csr.publicKeySpki))).toBe(true);
    }
  });

  it("refuses a curve, an RSA size and an algorithm the profile does not allow", async () => {
    const p521 = csrForNodeKey("ec", { namedCurve: "P-521" });
    expect(violation(tlsServer, input(p521, [{ type: "dns", value: "a.example.com" }])).message).toMatch(
      /^keyAlgorithms\.ecdsaCurves: ECDSA P-521 keys are not allowed by profile tls-server \(allowed: P-256, P-384\)/,
    );
    const rsa1024 = csrForNodeKey("rsa", { modulusLength: 1024 });
    expect(violation(tlsServer, input(rsa1024, [{ type: "dns", value: "a.example.com" }])).message).toMatch(
      /^keyAlgorithms\.rsa\.minBits: RSA key of 1024 bits is below the minimum of 2048/,
    );
    const noEd = withProfile(tlsServer, { keyAlgorithms: { ...tlsServer.keyAlgorithms, ed25519: false } });
    const ed = await csrFor([], "ed25519");
    expect(violation(noEd, input(ed, [{ type: "dns", value: "a.example.com" }])).message).toMatch(
      /^keyAlgorithms\.ed25519/,
    );
  });

  it("refuses a request for the issuing CA's own key", () => {
    const csr = { ...web, publicKeySpki: issuerSigner.publicKeySpki };
    expect(violation(tlsServer, input(csr, [{ type: "dns", value: "www.example.com" }])).message).toMatch(
      /^key: .*own public key/,
    );
  });

  it("refuses a profile whose key usages do not apply to the key type", async () => {
    const onlyEncipherment = withProfile(device, { keyUsage: ["keyEncipherment"], rsaKeyUsage: [] });
    expect(violation(onlyEncipherment, input(web, [])).message).toMatch(/^keyUsage: none of the profile's key usages/);
  });
});

describe("SANs come from the approved request, checked against the profile", () => {
  it("normalises and de-duplicates", () => {
    const content = createPolicyChecker(tlsServer).check(
      input(web, [
        { type: "dns", value: "WWW.Example.COM" },
        { type: "dns", value: "www.example.com" },
        { type: "ip", value: "2001:DB8:0:0:0:0:0:1" },
        { type: "ip", value: "192.0.2.1" },
      ]),
    );
    expect(content.sans).toEqual([
      { type: "dns", value: "www.example.com" },
      { type: "ip", value: "2001:db8::1" },
      { type: "ip", value: "192.0.2.1" },
    ]);
  });

  it("never takes SANs from the CSR", async () => {
    const csr = parseCsr(
      await createCertificateSigningRequest({
        signer: createTestSigner("ecdsa-p256"),
        subject: [],
        extensions: [
          {
            oid: oids.subjectAltName,
            critical: false,
            value: sequence([tlvOf(0x82, [new TextEncoder().encode("evil.example.net")])]),
          },
        ],
      }),
    );
    expect(csr.requestedSans).toEqual([{ type: "dns", value: "evil.example.net" }]);
    const content = createPolicyChecker(tlsServer).check(input(csr, [{ type: "dns", value: "good.example.com" }]));
    expect(content.sans).toEqual([{ type: "dns", value: "good.example.com" }]);
  });

  it.each<[string, SubjectAltName[], RegExp]>([
    [
      "a type the profile forbids",
      [{ type: "email", value: "a@example.com" }],
      /^san\.allowedTypes: email SANs are not allowed/,
    ],
    ["no SAN when one is required", [], /^san\.required: profile tls-server requires at least one/],
    [
      "an empty label",
      [{ type: "dns", value: "a..example.com" }],
      /^san\[0\]: dns "a\.\.example\.com" has an empty label/,
    ],
    ["a trailing dot", [{ type: "dns", value: "example.com." }], /empty label \(or a trailing dot\)/],
    ["an underscore", [{ type: "dns", value: "_acme.example.com" }], /label "_acme" is not letters/],
    ["a leading hyphen", [{ type: "dns", value: "-a.example.com" }], /label "-a"/],
    ["a U-label", [{ type: "dns", value: "bücher.example" }], /A-label/],
    ["an IP as a dNSName", [{ type: "dns", value: "10.0.0.1" }], /looks like an IP address/],
    ["a partial wildcard", [{ type: "dns", value: "w*.example.com" }], /wildcard that is not the whole leftmost label/],
    ["a wildcard over a TLD", [{ type: "dns", value: "*.com" }], /at least two labels/],
    ["a bad IP", [{ type: "ip", value: "300.1.1.1" }], /^san\[0\]: ip "300\.1\.1\.1" is not an IPv4 or IPv6 address/],
    [
      "a second bad entry",
      [
        { type: "dns", value: "ok.example.com" },
        { type: "ip", value: "::1%lo" },
      ],
      /^san\[1\]/,
    ],
  ])("refuses %s", (_label, sans, message) => {
    expect(violation(tlsServer, input(web, sans)).message).toMatch(message);
  });

  it("applies the wildcard switch, patterns and maxCount", () => {
    expect(violation(device, input(web, [{ type: "dns", value: "*.example.com" }])).message).toMatch(
      /wildcard, which the profile does not allow/,
    );
    const patterned = withProfile(tlsServer, {
      san: {
        ...tlsServer.san,
        patterns: { dns: ["[a-z0-9-]+\\.internal\\.example\\.com"], ip: ["10\\..*"] },
        maxCount: 2,
      },
      subject: { keep: [], required: [], commonNameMustBeSan: false },
    });
    const ok = createPolicyChecker(patterned).check(
      input(web, [
        { type: "dns", value: "svc.internal.example.com" },
        { type: "ip", value: "10.1.2.3" },
      ]),
    );
    expect(ok.sans).toHaveLength(2);
    // Patterns are anchored: a suffix match is not enough.
    expect(
      violation(patterned, input(web, [{ type: "dns", value: "svc.internal.example.com.evil.net" }])).message,
    ).toMatch(/^san\.patterns\.dns: "svc\.internal\.example\.com\.evil\.net" matches none/);
    expect(violation(patterned, input(web, [{ type: "ip", value: "192.0.2.1" }])).message).toMatch(
      /^san\.patterns\.ip/,
    );
    expect(
      violation(
        patterned,
        input(web, [
          { type: "dns", value: "a.internal.example.com" },
          { type: "dns", value: "b.internal.example.com" },
          { type: "dns", value: "c.internal.example.com" },
        ]),
      ).message,
    ).toMatch(/^san\.maxCount: 3 SANs exceed the profile maximum of 2/);
  });

  it("accepts email and URI SANs where allowed", () => {
    const content = createPolicyChecker(device).check(
      input(web, [
        { type: "email", value: "Device.Owner@EXAMPLE.com" },
        { type: "uri", value: "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66" },
      ]),
    );
    expect(content.sans).toEqual([
      { type: "email", value: "Device.Owner@example.com" },
      { type: "uri", value: "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66" },
    ]);
    expect(violation(device, input(web, [{ type: "uri", value: "not a uri" }])).message).toMatch(/^san\[0\]: uri/);
    expect(violation(device, input(web, [{ type: "email", value: "no-at-sign" }])).message).toMatch(/not a mailbox/);
  });
});

describe("subject", () => {
  it("keeps only the profile's attributes, from the CSR by default", () => {
    const content = createPolicyChecker(tlsServer).check(input(web, [{ type: "dns", value: "www.example.com" }]));
    expect(content.subject).toEqual([{ type: "CN", value: "www.example.com" }]);
  });

  it("uses the approved subject instead of the CSR's when given", () => {
    const content = createPolicyChecker(device).check(
      input(web, [], {
        approved: {
          subject: [
            { type: "cn", value: "device-0042" },
            { type: "serialNumber", value: "SN0042" },
            { type: "L", value: "dropped" },
          ],
          sans: [],
        },
      }),
    );
    expect(content.subject).toEqual([
      { type: "CN", value: "device-0042" },
      { type: "serialNumber", value: "SN0042" },
    ]);
  });

  it("enforces required attributes, value syntax and CN-in-SANs", async () => {
    const noCn = await csrFor([{ type: "O", value: "x" }]);
    expect(violation(device, input(noCn, [])).message).toMatch(/^subject\.required: the subject must contain CN/);
    expect(
      violation(device, input(web, [], { approved: { subject: [{ type: "CN", value: "x".repeat(65) }], sans: [] } }))
        .message,
    ).toMatch(/^subject\.CN: CN is longer than 64 characters/);
    expect(violation(tlsServer, input(web, [{ type: "dns", value: "other.example.com" }])).message).toMatch(
      /^subject\.commonNameMustBeSan: CN "www\.example\.com" is not one of the certificate's SANs/,
    );
    const ipCn = await csrFor([{ type: "CN", value: "2001:DB8::1" }]);
    // The CN is rewritten to the SAN's canonical form.
    expect(createPolicyChecker(tlsServer).check(input(ipCn, [{ type: "ip", value: "2001:db8::1" }])).subject).toEqual([
      { type: "CN", value: "2001:db8::1" },
    ]);
    const upperCn = await csrFor([{ type: "CN", value: "WWW.EXAMPLE.COM" }]);
    expect(
      createPolicyChecker(tlsServer).check(input(upperCn, [{ type: "dns", value: "WWW.example.com" }])).subject,
    ).toEqual([{ type: "CN", value: "www.example.com" }]);
  });

  it("refuses a certificate with neither subject nor SAN (RFC 5280 §4.1.2.6)", async () => {
    const empty = await csrFor([]);
    const noRequirements = withProfile(device, { subject: { keep: ["CN"], required: [], commonNameMustBeSan: false } });
    expect(violation(noRequirements, input(empty, [])).message).toMatch(/^subject: the certificate would have neither/);
  });
});

describe("validity", () => {
  const check = (profile: Profile, validity?: { notBefore?: Date; notAfter?: Date }, issuerFacts = issuer) =>
    createPolicyChecker(profile).check({
      csr: web,
      request: { approved: { sans: [{ type: "dns", value: "www.example.com" }] }, validity },
      issuer: issuerFacts,
      now,
    });

  it("defaults to the profile's period, backdated, on whole seconds, inclusive", () => {
    const { notBefore, notAfter } = check(tlsServer);
    expect(notBefore.getTime()).toBe(nowSeconds - 60_000);
    // RFC 5280 §4.1.2.5: both ends inclusive, so 90 days end one second before notBefore + 90 days.
    expect(notAfter.getTime()).toBe(nowSeconds - 60_000 + 90 * day - 1000);
  });

  it("caps a requested notAfter at the profile maximum", () => {
    const { notBefore, notAfter } = check(tlsServer, { notAfter: new Date(nowSeconds + 1000 * day) });
    expect(notAfter.getTime()).toBe(notBefore.getTime() + 397 * day - 1000);
  });

  it("caps notAfter at the issuer's notAfter", () => {
    const shortIssuer = { ...issuer, notAfter: new Date(nowSeconds + 10 * day) };
    expect(check(tlsServer, undefined, shortIssuer).notAfter.getTime()).toBe(nowSeconds + 10 * day);
    expect(check(tlsServer, { notAfter: new Date(nowSeconds + 30 * day) }, shortIssuer).notAfter.getTime()).toBe(
      nowSeconds + 10 * day,
    );
  });

  it("keeps a shorter requested period and moves an early notBefore up to the backdate", () => {
    const { notBefore, notAfter } = check(tlsServer, {
      notBefore: new Date(nowSeconds - 30 * day),
      notAfter: new Date(nowSeconds + 7 * day + 999),
    });
    expect(notBefore.getTime()).toBe(nowSeconds - 60_000);
    expect(notAfter.getTime()).toBe(nowSeconds + 7 * day);
    const later = check(tlsServer, { notBefore: new Date(nowSeconds + day) });
    expect(later.notBefore.getTime()).toBe(nowSeconds + day);
  });

  it("refuses a notAfter in the past and an expired issuer", () => {
    expect(() => check(tlsServer, { notAfter: new Date(nowSeconds - day) })).toThrow(
      /^validity\.notAfter: is in the past/,
    );
    expect(() => check(tlsServer, undefined, { ...issuer, notAfter: new Date(nowSeconds - 1000) })).toThrow(
      /the issuing CA certificate has expired/,
    );
    expect(() =>
      check(tlsServer, { notBefore: new Date(nowSeconds + 20 * day), notAfter: new Date(nowSeconds + 10 * day) }),
    ).toThrow(/^validity\.notAfter: is before notBefore/);
  });
});
