import { AsnConvert } from "@peculiar/asn1-schema";
import * as asn1X509 from "@peculiar/asn1-x509";
import * as x509 from "@peculiar/x509";
import * as asn1js from "asn1js";
import { beforeAll, describe, expect, it } from "vitest";
import { derNull, derOid, sequence, utf8String } from "./der-writer.ts";
import {
  authorityInfoAccessExtension,
  authorityKeyIdentifierExtension,
  basicConstraintsExtension,
  certificatePoliciesExtension,
  crlDistributionPointsExtension,
  customExtension,
  type Extension,
  encodeExtension,
  extendedKeyUsageExtension,
  keyUsageExtension,
  nameConstraintsExtension,
  noRevocationAvailableExtension,
  subjectAltNameExtension,
  subjectKeyIdentifierExtension,
  tlsFeatureExtension,
} from "./extensions.ts";
import { encodeName } from "./name.ts";
import { generateSerial } from "./serial-number.ts";
import { signCertificate } from "./sign-certificate.ts";
import { keyIdentifier } from "./subject-public-key-info.ts";
import { certificateText } from "./testing/openssl.ts";
import { createTestSigner } from "./testing/test-signer.ts";

const hex = (bytes: Uint8Array | ArrayBuffer) => Buffer.from(bytes as Uint8Array).toString("hex");

async function certificateWith(extensions: Extension[], subject = [{ type: "CN", value: "ext test" }]) {
  const signer = createTestSigner("ecdsa-p256");
  const der = await signCertificate(
    {
      serial: generateSerial(),
      issuerDer: encodeName([{ type: "CN", value: "Issuer" }]),
      validity: { notBefore: new Date("2025-01-01T00:00:00Z"), notAfter: new Date("2026-01-01T00:00:00Z") },
      subjectDer: encodeName(subject),
      subjectPublicKeySpki: signer.publicKeySpki,
      extensions,
    },
    signer,
  );
  return { der, signer };
}

describe("end-entity style extensions, read back by @peculiar/x509 and openssl", () => {
  let cert: x509.X509Certificate;
  let text: string;
  let spki: Uint8Array;
  const aki = Uint8Array.from({ length: 20 }, (_, i) => i + 1);

  beforeAll(async () => {
    const signerForSki = createTestSigner("ecdsa-p256");
    spki = signerForSki.publicKeySpki;
    const { der } = await certificateWith([
      basicConstraintsExtension({ ca: false }),
      keyUsageExtension(["digitalSignature", "keyEncipherment"]),
      extendedKeyUsageExtension(["serverAuth", "clientAuth", "1.3.6.1.4.1.99999.7"]),
      subjectAltNameExtension(
        [
          { type: "dns", value: "www.example.com" },
          { type: "dns", value: "*.example.com" },
          { type: "ip", value: "192.0.2.7" },
          { type: "ip", value: "2001:db8::1" },
          { type: "email", value: "ops@example.com" },
          { type: "uri", value: "spiffe://example.com/ns/default/sa/web" },
        ],
        false,
      ),
      subjectKeyIdentifierExtension(keyIdentifier(spki)),
      authorityKeyIdentifierExtension(aki),
      certificatePoliciesExtension([
        { oid: "2.23.140.1.2.1" },
        { oid: "1.3.6.1.4.1.99999.1.1", cpsUri: "http://pki.example.com/cps", userNotice: "Für Tests ☃" },
      ]),
      crlDistributionPointsExtension(["http://pki.example.com/crl/ca1.crl"]),
      authorityInfoAccessExtension({
        ocsp: ["http://pki.example.com/ocsp"],
        caIssuers: ["http://pki.example.com/ca/ca1.cer"],
      }),
      tlsFeatureExtension(),
      noRevocationAvailableExtension(),
      customExtension("1.3.6.1.4.1.99999.2", false, utf8String("hello")),
    ]);
    cert = new x509.X509Certificate(der);
    text = certificateText(der);
  });

  it("basicConstraints: critical, cA FALSE encoded as an empty SEQUENCE", () => {
    const bc = cert.getExtension(x509.BasicConstraintsExtension)!;
    expect(bc.critical).toBe(true);
    expect(bc.ca).toBe(false);
    expect(bc.pathLength).toBeUndefined();
    expect(hex(bc.value)).toBe("3000");
    expect(text).toMatch(/Basic Constraints: critical\s+CA:FALSE/);
  });

  it("keyUsage: critical, exact bits", () => {
    const ku = cert.getExtension(x509.KeyUsagesExtension)!;
    expect(ku.critical).toBe(true);
    expect(ku.usages).toBe(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment);
    expect(text).toMatch(/Key Usage: critical\s+Digital Signature, Key Encipherment/);
  });

  it("extendedKeyUsage: non-critical, names and raw OIDs", () => {
    const eku = cert.getExtension(x509.ExtendedKeyUsageExtension)!;
    expect(eku.critical).toBe(false);
    expect(eku.usages).toEqual(["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2", "1.3.6.1.4.1.99999.7"]);
  });

  it("subjectAltName: dns, IPv4, IPv6 (16 octets), email, uri", () => {
    const san = cert.getExtension(x509.SubjectAlternativeNameExtension)!;
    expect(san.critical).toBe(false);
    const items = san.names.items.map((n) => [n.type, n.value]);
    expect(items[0]).toEqual(["dns", "www.example.com"]);
    expect(items[1]).toEqual(["dns", "*.example.com"]);
    expect(items[2]).toEqual(["ip", "192.0.2.7"]);
    expect(items[3]).toEqual(["ip", "2001:db8::1"]);
    expect(items[4]).toEqual(["email", "ops@example.com"]);
    expect(items[5]).toEqual(["url", "spiffe://example.com/ns/default/sa/web"]);
    // The raw GeneralName: [7] with the 16 address octets.
    expect(hex(san.value)).toContain(`8710${"20010db8000000000000000000000001"}`);
    expect(text).toContain("IP Address:2001:DB8:0:0:0:0:0:1");
  });

  it("SKI is RFC 7093 method 1 (SHA-256 truncated to 160 bits), AKI carries the key id only", () => {
    const ski = cert.getExtension(x509.SubjectKeyIdentifierExtension)!;
    expect(ski.critical).toBe(false);
    expect(ski.keyId).toBe(hex(keyIdentifier(spki)));
    expect(ski.keyId).toHaveLength(40);
    const akiExt = cert.getExtension(x509.AuthorityKeyIdentifierExtension)!;
    expect(akiExt.critical).toBe(false);
    expect(akiExt.keyId).toBe(hex(aki));
    expect(akiExt.certId).toBeUndefined();
  });

  it("certificatePolicies: OIDs, CPS URI and a UTF8String user notice", () => {
    const cp = cert.getExtension(x509.CertificatePolicyExtension)!;
    expect(cp.critical).toBe(false);
    expect(cp.policies).toEqual(["2.23.140.1.2.1", "1.3.6.1.4.1.99999.1.1"]);
    const asn = AsnConvert.parse(cp.value, asn1X509.CertificatePolicies);
    expect(asn[0]!.policyQualifiers).toBeUndefined();
    const [cps, notice] = asn[1]!.policyQualifiers!;
    expect(cps!.policyQualifierId).toBe("1.3.6.1.5.5.7.2.1");
    expect((asn1js.fromBER(cps!.qualifier).result as asn1js.IA5String).getValue()).toBe("http://pki.example.com/cps");
    expect(notice!.policyQualifierId).toBe("1.3.6.1.5.5.7.2.2");
    const userNotice = AsnConvert.parse(notice!.qualifier, asn1X509.UserNotice);
    expect(userNotice.explicitText?.utf8String).toBe("Für Tests ☃");
    expect(text).toContain("CPS: http://pki.example.com/cps");
  });

  it("cRLDistributionPoints: one fullName URI", () => {
    const cdp = cert.getExtension(x509.CRLDistributionPointsExtension)!;
    expect(cdp.critical).toBe(false);
    expect(cdp.distributionPoints).toHaveLength(1);
    const name = cdp.distributionPoints[0]!.distributionPoint!.fullName![0]!;
    expect(name.uniformResourceIdentifier).toBe("http://pki.example.com/crl/ca1.crl");
    expect(text).toMatch(/CRL Distribution Points:\s+Full Name:\s+URI:http:\/\/pki.example.com\/crl\/ca1.crl/);
  });

  it("authorityInfoAccess: OCSP and caIssuers", () => {
    const aia = cert.getExtension(x509.AuthorityInfoAccessExtension)!;
    expect(aia.critical).toBe(false);
    expect(aia.ocsp.map((n) => n.value)).toEqual(["http://pki.example.com/ocsp"]);
    expect(aia.caIssuers.map((n) => n.value)).toEqual(["http://pki.example.com/ca/ca1.cer"]);
  });

  it("TLS feature status_request (RFC 7633 must-staple) and RFC 9608 noRevAvail", () => {
    const tls = cert.getExtension("1.3.6.1.5.5.7.1.24")!;
    expect(tls.critical).toBe(false);
    expect(hex(tls.value)).toBe("3003020105");
    expect(text).toMatch(/TLS Feature:\s+status_request/);
    const nra = cert.getExtension("2.5.29.56")!;
    expect(nra.critical).toBe(false);
    expect(hex(nra.value)).toBe(hex(derNull));
  });

  it("custom extensions keep their OID, flag and DER value", () => {
    const custom = cert.getExtension("1.3.6.1.4.1.99999.2")!;
    expect(custom.critical).toBe(false);
    expect((asn1js.fromBER(custom.value).result as asn1js.Utf8String).getValue()).toBe("hello");
  });
});

describe("extension encoding details", () => {
  it("encodes critical as TRUE and omits the DEFAULT FALSE", () => {
    const value = sequence([derOid("1.2.3")]);
    expect(hex(value)).toBe("300406022a03");
    expect(hex(encodeExtension(customExtension("1.2.3.4", true, value)))).toBe("301006032a03040101ff0406300406022a03");
    expect(hex(encodeExtension(customExtension("1.2.3.4", false, value)))).toBe("300d06032a03040406300406022a03");
  });

  it("basicConstraints of a CA carries cA TRUE and pathLen", () => {
    expect(hex(basicConstraintsExtension({ ca: true, pathLen: 0 }).value)).toBe("30060101ff020100");
    expect(hex(basicConstraintsExtension({ ca: true }).value)).toBe("30030101ff");
    expect(() => basicConstraintsExtension({ ca: false, pathLen: 1 })).toThrow(/pathLen/);
  });

  it("SAN is critical exactly when asked for (empty subject, RFC 5280 §4.2.1.6)", () => {
    expect(subjectAltNameExtension([{ type: "dns", value: "a.example" }], true).critical).toBe(true);
    expect(subjectAltNameExtension([{ type: "dns", value: "a.example" }], false).critical).toBe(false);
  });

  it("name constraints: critical, permitted [0] and excluded [1] subtrees of each type", async () => {
    const ext = nameConstraintsExtension({
      permitted: {
        dns: ["example.com"],
        ip: ["10.0.0.0/8", "2001:db8::/32"],
        email: ["example.com"],
        uri: [".example.com"],
      },
      excluded: { dns: ["secret.example.com"] },
    });
    expect(ext.critical).toBe(true);
    const nc = AsnConvert.parse(ext.value, asn1X509.NameConstraints);
    const permitted = nc.permittedSubtrees!.map((s) => s.base);
    expect(permitted[0]!.dNSName).toBe("example.com");
    expect(permitted[1]!.iPAddress).toBe("10.0.0.0/8");
    expect(permitted[2]!.iPAddress).toBe("2001:db8::/32");
    expect(permitted[3]!.rfc822Name).toBe("example.com");
    expect(permitted[4]!.uniformResourceIdentifier).toBe(".example.com");
    expect(nc.excludedSubtrees!.map((s) => s.base.dNSName)).toEqual(["secret.example.com"]);
    expect(hex(ext.value)).toContain("87080a000000ff000000");
    expect(hex(ext.value)).toContain(`872020010db8${"0".repeat(24)}ffffffff${"0".repeat(24)}`);
    const { der } = await certificateWith([basicConstraintsExtension({ ca: true }), ext]);
    const text = certificateText(der);
    expect(text).toMatch(/Name Constraints: critical\s+Permitted:\s+DNS:example.com\s+IP:10.0.0.0\/255.0.0.0/);
    expect(text).toMatch(/Excluded:\s+DNS:secret.example.com/);
  });

  it("refuses host bits in IP constraints and empty constraints", () => {
    expect(() => nameConstraintsExtension({ permitted: { ip: ["10.1.0.0/8"] } })).toThrow(/CIDR/);
    expect(() => nameConstraintsExtension({})).toThrow(/at least one/);
  });

  it("refuses a user notice over 200 characters and duplicate policies", () => {
    expect(() => certificatePoliciesExtension([{ oid: "1.2.3", userNotice: "x".repeat(201) }])).toThrow(/200/);
    expect(() => certificatePoliciesExtension([{ oid: "1.2.3" }, { oid: "1.2.3" }])).toThrow(/twice/);
  });

  it("refuses a certificate with the same extension twice (RFC 5280 §4.2)", async () => {
    await expect(
      certificateWith([keyUsageExtension(["digitalSignature"]), keyUsageExtension(["cRLSign"])]),
    ).rejects.toThrow(/given twice/);
  });
});
