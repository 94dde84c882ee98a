import { describe, expect, it } from "vitest";
import { isChanceryError } from "../errors.ts";
import { readRoot } from "./der-reader.ts";
import { bitString, derOid, sequence, setOf, tlvOf, utf8String } from "./der-writer.ts";
import { encodeName, formatAttributes, type NameAttribute, nameAttributeProblem } from "./name.ts";
import { readCertificate } from "./parse-certificate.ts";
import { parseName } from "./parse-name.ts";
import { generateSerial } from "./serial-number.ts";
import { signCertificate } from "./sign-certificate.ts";
import { asn1parse, openssl } from "./testing/openssl.ts";
import { createTestSigner } from "./testing/test-signer.ts";

const subject: NameAttribute[] = [
  { type: "DC", value: "com" },
  { type: "DC", value: "example" },
  { type: "C", value: "CH" },
  { type: "ST", value: "Zürich" },
  { type: "L", value: "Zürich" },
  { type: "O", value: 'Example, Inc. "quoted" <x>' },
  { type: "OU", value: "#hash+plus;semi\\back" },
  { type: "CN", value: " leading and trailing " },
  { type: "serialNumber", value: "SN-1234" },
  { type: "emailAddress", value: "ops@example.com" },
  { type: "UID", value: "u-42" },
  { type: "1.3.6.1.4.1.99999.1", value: "custom" },
];

async function selfSigned(attributes: readonly NameAttribute[]): Promise<Uint8Array> {
  const signer = createTestSigner("ecdsa-p256");
  const name = encodeName(attributes);
  return signCertificate(
    {
      serial: generateSerial(),
      issuerDer: encodeName([{ type: "CN", value: "issuer" }]),
      validity: { notBefore: new Date("2025-01-01T00:00:00Z"), notAfter: new Date("2026-01-01T00:00:00Z") },
      subjectDer: name,
      subjectPublicKeySpki: signer.publicKeySpki,
      extensions: [],
    },
    signer,
  );
}

describe("Name encoding", () => {
  it("encodes each attribute with the string type RFC 5280 asks for, readable by openssl", async () => {
    const der = await selfSigned(subject);
    const dump = asn1parse(der);
    expect(dump).toMatch(/:countryName\s*\n.*PRINTABLESTRING\s*:CH/);
    expect(dump).toMatch(/:serialNumber\s*\n.*PRINTABLESTRING\s*:SN-1234/);
    expect(dump).toMatch(/:emailAddress\s*\n.*IA5STRING\s*:ops@example.com/);
    expect(dump).toMatch(/:domainComponent\s*\n.*IA5STRING\s*:com/);
    expect(dump).toMatch(/:commonName\s*\n.*UTF8STRING\s*: leading and trailing /);
    expect(dump).toMatch(/:1.3.6.1.4.1.99999.1\s*\n.*UTF8STRING\s*:custom/);
  });

  it("formats RFC 4514 strings the way openssl's RFC 2253 mode does", async () => {
    const der = await selfSigned(subject);
    const result = openssl(["x509", "-inform", "DER", "-noout", "-subject", "-nameopt", "RFC2253,-esc_msb"], der);
    expect(result.ok).toBe(true);
    const expected = formatAttributes(subject);
    expect(result.stdout.trim()).toBe(`subject=${expected}`);
    expect(expected.startsWith("1.3.6.1.4.1.99999.1=#0C06637573746F6D,UID=u-42,emailAddress=ops@example.com")).toBe(
      true,
    );
    expect(expected).toContain("CN=\\ leading and trailing\\ ");
    expect(expected).toContain("OU=\\#hash\\+plus\\;semi\\\\back");
    expect(expected).toContain('O=Example\\, Inc. \\"quoted\\" \\<x\\>');
    // And our own parser reads back what we wrote.
    const view = readCertificate(der);
    expect(view.subject.attributes).toEqual(subject.map((a) => ({ type: a.type, value: a.value })));
    expect(view.subject.text).toBe(expected);
  });

  it("encodes the empty Name as an empty SEQUENCE", () => {
    expect(Buffer.from(encodeName([])).toString("hex")).toBe("3000");
    expect(formatAttributes([])).toBe("");
  });

  it("formats multi-valued RDNs with + and non-string values as #hex", () => {
    const atv = (oid: string, value: Uint8Array) => sequence([derOid(oid), value]);
    const handmade = sequence([
      tlvOf(0x31, [atv("2.5.4.3", utf8String("a")), atv("2.5.4.10", utf8String("b"))]),
      setOf([atv("2.5.4.45", bitString(Uint8Array.of(0)))]),
    ]);
    const parsed = parseName(handmade, readRoot(handmade));
    expect(parsed.attributes).toEqual([
      { type: "CN", value: "a" },
      { type: "O", value: "b" },
      { type: "2.5.4.45", value: "#03020000" },
    ]);
    expect(parsed.text).toBe("2.5.4.45=#03020000,CN=a+O=b");
  });

  it.each([
    [{ type: "C", value: "USA" }, /C must be a two-letter/],
    [{ type: "C", value: "us" }, /C must be a two-letter/],
    [{ type: "CN", value: "x".repeat(65) }, /longer than 64/],
    [{ type: "CN", value: "" }, /empty/],
    [{ type: "emailAddress", value: "jörg@example.com" }, /ASCII/],
    [{ type: "serialNumber", value: "a_b" }, /PrintableString/],
    [{ type: "frobnicator", value: "x" }, /unknown name attribute/],
  ])("refuses %j", (attribute, message) => {
    expect(nameAttributeProblem(attribute)).toMatch(message);
    let error: unknown;
    try {
      encodeName([attribute]);
    } catch (err) {
      error = err;
    }
    expect(isChanceryError(error, "invalid_argument")).toBe(true);
  });
});
