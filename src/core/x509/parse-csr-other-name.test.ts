import { describe, expect, it } from "vitest";
import { ChanceryError } from "../errors.ts";
import { createCertificateSigningRequest } from "./certificate-signing-request.ts";
import {
  bmpString,
  contextConstructed,
  contextPrimitive,
  derInteger,
  derOid,
  ia5String,
  ia5Tagged,
  numericString,
  printableString,
  sequence,
  tlv,
  tlvOf,
  utf8String,
} from "./der-writer.ts";
import { customExtension } from "./extensions.ts";
import { maxOtherNameValueLength, type ParsedGeneralName } from "./general-name.ts";
import { oids } from "./oids.ts";
import { parseCsr, readCsr } from "./parse-csr.ts";
import { opensslCsr } from "./testing/openssl.ts";
import { createTestSigner } from "./testing/test-signer.ts";

const upnOid = oids.microsoftUpn;
const signer = createTestSigner("ecdsa-p256");

/** OtherName under GeneralName's IMPLICIT [0]: type-id, then value [0] EXPLICIT. */
function otherName(oid: string, value: Uint8Array): Uint8Array {
  return tlvOf(contextConstructed(0), [derOid(oid), tlvOf(contextConstructed(0), [value])]);
}

/** A CSR signed by our own key whose subjectAltName extension value is exactly `generalNames` (any bytes). */
function csrWithSanValue(sanValue: Uint8Array): Promise<Uint8Array> {
  return createCertificateSigningRequest({
    signer,
    subject: [{ type: "CN", value: "device" }],
    extensions: [customExtension(oids.subjectAltName, false, sanValue)],
  });
}

function requestedSans(der: Uint8Array): readonly ParsedGeneralName[] {
  return parseCsr(der).requestedSans;
}

function badCsrMessage(der: Uint8Array): string {
  try {
    parseCsr(der);
  } catch (err) {
    expect(err).toBeInstanceOf(ChanceryError);
    expect((err as ChanceryError).code).toBe("bad_csr");
    return (err as ChanceryError).message;
  }
  throw new Error("parseCsr accepted the CSR");
}

describe("otherName SANs in a CSR", () => {
  it("reads the Microsoft UPN an openssl (Intune-style) CSR asks for, next to a DNS name", () => {
    const der = opensslCsr({
      subject: "/CN=alice",
      sans: `otherName:${upnOid};UTF8:alice@example.com,DNS:alice-laptop.example.com`,
    });
    expect(requestedSans(der)).toEqual([
      {
        type: "other",
        value: `otherName:${upnOid}`,
        otherName: { oid: upnOid, value: "alice@example.com", valueType: "utf8String" },
      },
      { type: "dns", value: "alice-laptop.example.com" },
    ]);
  });

  it("reads every string type a registry entry can take (openssl's encodings)", () => {
    const cases: [string, string, string][] = [
      ["PRINTABLESTRING:ABC-123", "ABC-123", "printableString"],
      ["IA5STRING:ops@example.com", "ops@example.com", "ia5String"],
      ["NUMERICSTRING:12345678901", "12345678901", "numericString"],
      ["BMPSTRING:WebServer", "WebServer", "bmpString"],
    ];
    for (const [openssl, value, valueType] of cases) {
      const der = opensslCsr({ subject: "/CN=x", sans: `otherName:1.3.6.1.4.1.99999.7;${openssl}` });
      expect(requestedSans(der), openssl).toEqual([
        {
          type: "other",
          value: "otherName:1.3.6.1.4.1.99999.7",
          otherName: { oid: "1.3.6.1.4.1.99999.7", value, valueType },
        },
      ]);
    }
  });

  it("decodes non-ASCII UTF8String and BMPString values", async () => {
    const der = await csrWithSanValue(
      sequence([
        otherName(upnOid, utf8String("j\u00fcrgen@example.com")),
        otherName("1.3.6.1.4.1.99999.8", bmpString("Stra\u00dfe")),
      ]),
    );
    expect(requestedSans(der).map((san) => san.otherName)).toEqual([
      { oid: upnOid, value: "j\u00fcrgen@example.com", valueType: "utf8String" },
      { oid: "1.3.6.1.4.1.99999.8", value: "Stra\u00dfe", valueType: "bmpString" },
    ]);
  });

  it("keeps an otherName whose value is not a registry string type as a bare 'other' (never issued)", async () => {
    const fromOpenssl = opensslCsr({ subject: "/CN=x", sans: "otherName:1.2.3.4;INTEGER:42" });
    expect(requestedSans(fromOpenssl)).toEqual([{ type: "other", value: "otherName:1.2.3.4" }]);
    // A VisibleString, a SEQUENCE, a value with two elements, a missing value, an [1] instead of [0]:
    // well-formed DER, just nothing the registry describes.
    const odd = [
      otherName(upnOid, tlv(0x1a, Buffer.from("alice"))),
      otherName(upnOid, sequence([utf8String("alice@example.com")])),
      tlvOf(contextConstructed(0), [
        derOid(upnOid),
        tlvOf(contextConstructed(0), [utf8String("a@example.com"), utf8String("b@example.com")]),
      ]),
      tlvOf(contextConstructed(0), [derOid(upnOid)]),
      tlvOf(contextConstructed(0), [derOid(upnOid), tlvOf(contextConstructed(1), [utf8String("a@example.com")])]),
      tlvOf(contextConstructed(0), [
        derOid(upnOid),
        tlvOf(contextConstructed(0), [utf8String("a@example.com")]),
        derInteger(1),
      ]),
    ];
    for (const name of odd)
      expect(requestedSans(await csrWithSanValue(sequence([name])))).toEqual([
        { type: "other", value: `otherName:${upnOid}` },
      ]);
    expect(requestedSans(await csrWithSanValue(sequence([tlvOf(contextConstructed(0), [derInteger(7)])])))).toEqual([
      { type: "other", value: "otherName:?" },
    ]);
  });

  it("reads an empty value as such (the profile refuses it with a reason) and one of the maximum length", async () => {
    expect(requestedSans(await csrWithSanValue(sequence([otherName(upnOid, utf8String(""))])))).toEqual([
      { type: "other", value: `otherName:${upnOid}`, otherName: { oid: upnOid, value: "", valueType: "utf8String" } },
    ]);
    const longest = `${"a".repeat(maxOtherNameValueLength - "@example.com".length)}@example.com`;
    const [san] = requestedSans(await csrWithSanValue(sequence([otherName(upnOid, utf8String(longest))])));
    expect(san?.otherName?.value).toBe(longest);
  });

  it("refuses an oversized value as a bad CSR, whatever its string type", async () => {
    const long = "a".repeat(maxOtherNameValueLength + 1);
    for (const value of [utf8String(long), ia5String(long), bmpString(long), utf8String("\u{1F600}".repeat(1100))])
      expect(badCsrMessage(await csrWithSanValue(sequence([otherName(upnOid, value)])))).toMatch(
        new RegExp(`otherName ${upnOid.replace(/\./g, "\\.")} value is longer than ${maxOtherNameValueLength}`),
      );
    // 60 KB of value: refused before decoding.
    expect(badCsrMessage(await csrWithSanValue(sequence([otherName(upnOid, utf8String("b".repeat(60_000)))])))).toMatch(
      /longer than/,
    );
  });

  it("refuses a string that is not valid for its own type, as a malformed dNSName is", async () => {
    const invalid = [
      tlv(0x0c, Uint8Array.of(0x61, 0xff, 0x62)), // UTF8String that is not UTF-8
      tlv(0x13, Buffer.from("alice@example.com")), // '@' is not a PrintableString character
      tlv(0x12, Buffer.from("12a4")), // NumericString with a letter
      tlv(0x16, Uint8Array.of(0x61, 0xe9)), // IA5String with a non-ASCII octet
      tlv(0x1e, Uint8Array.of(0x00, 0x61, 0x00)), // BMPString of an odd length
    ];
    for (const value of invalid)
      expect(badCsrMessage(await csrWithSanValue(sequence([otherName("1.3.6.1.4.1.99999.7", value)])))).toMatch(
        /^CSR rejected: /,
      );
    // The builders refuse such values themselves; the parser is checked above with hand-made bytes.
    expect(() => printableString("a@b")).toThrow();
    expect(() => numericString("12a")).toThrow();
  });

  it("refuses truncated otherNames as bad CSRs", async () => {
    const good = otherName(upnOid, utf8String("alice@example.com"));
    for (let cut = 1; cut < good.length; cut++)
      expect(badCsrMessage(await csrWithSanValue(sequence([good.subarray(0, cut)])))).toMatch(/malformed DER/);
    // The value's own length running past the otherName's end.
    const overlong = good.slice();
    overlong[overlong.length - "alice@example.com".length - 1] = 0x7f;
    expect(badCsrMessage(await csrWithSanValue(sequence([overlong])))).toMatch(/malformed DER/);
  });

  it("never lets anything but bad_csr out of a CSR whose otherName bytes are mangled", async () => {
    const sanValue = sequence([
      otherName(upnOid, utf8String("alice@example.com")),
      ia5Tagged(contextPrimitive(2), "x.example.com"),
    ]);
    const der = await csrWithSanValue(sanValue);
    const at = Buffer.from(der).indexOf(Buffer.from(sanValue));
    expect(at).toBeGreaterThan(0);
    for (let i = at; i < at + sanValue.length; i++)
      for (const mask of [0x01, 0x80, 0xff]) {
        const changed = der.slice();
        changed[i] = changed[i]! ^ mask;
        try {
          // Without the signature check: only the parse is under test here.
          readCsr(changed);
        } catch (err) {
          expect(err).toBeInstanceOf(ChanceryError);
          expect((err as ChanceryError).code).toBe("bad_csr");
        }
      }
  });
});
