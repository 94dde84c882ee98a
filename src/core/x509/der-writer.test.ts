import * as asn1js from "asn1js";
import { describe, expect, it } from "vitest";
import { isChanceryError } from "../errors.ts";
import { readInteger, readNode, readOid, readRoot, readString, readTime } from "./der-reader.ts";
import {
  derInteger,
  derOid,
  derTime,
  integerFromUnsigned,
  namedBitString,
  octetString,
  printableString,
  sequence,
  setOf,
  tlv,
  utf8String,
} from "./der-writer.ts";

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

describe("DER lengths", () => {
  it.each([
    [0, "0400"],
    [127, "047f"],
    [128, "048180"],
    [255, "0481ff"],
    [256, "04820100"],
    [65535, "0482ffff"],
    [65536, "0483010000"],
  ])("encodes a %i-octet content with the minimal header", (length, header) => {
    const encoded = octetString(new Uint8Array(length));
    expect(hex(encoded.subarray(0, header.length / 2))).toBe(header);
    expect(encoded.length).toBe(header.length / 2 + length);
    // An independent BER/DER parser agrees on the length.
    const parsed = asn1js.fromBER(encoded);
    expect(parsed.offset).toBe(encoded.length);
    expect((parsed.result as asn1js.OctetString).valueBlock.valueHexView.length).toBe(length);
  });
});

describe("INTEGER", () => {
  it.each([
    [0, "020100"],
    [1, "020101"],
    [127, "02017f"],
    [128, "02020080"],
    [255, "020200ff"],
    [256, "02020100"],
    [65537, "0203010001"],
  ])("encodes %i minimally", (value, expected) => {
    expect(hex(derInteger(value))).toBe(expected);
    expect(readInteger(derInteger(value), readRoot(derInteger(value)))).toBe(BigInt(value));
  });

  it("strips leading zero octets and adds a sign octet when needed", () => {
    expect(hex(integerFromUnsigned(Uint8Array.of(0, 0, 0x7f)))).toBe("02017f");
    expect(hex(integerFromUnsigned(Uint8Array.of(0, 0x80)))).toBe("02020080");
    expect(hex(integerFromUnsigned(Uint8Array.of(0xff, 0x01)))).toBe("020300ff01");
  });

  it("round-trips large values through asn1js", () => {
    const value = 2n ** 127n + 12345n;
    const encoded = derInteger(value);
    const parsed = asn1js.fromBER(encoded).result as asn1js.Integer;
    expect(parsed.toBigInt()).toBe(value);
  });
});

describe("OBJECT IDENTIFIER", () => {
  it.each([
    ["1.2.840.113549", "06062a864886f70d"],
    ["2.5.29.17", "0603551d11"],
    ["1.3.6.1.5.5.7.1.24", "06082b06010505070118"],
    ["2.999.3", "0603883703"],
    ["0.9.2342.19200300.100.1.25", "060a0992268993f22c640119"],
  ])("encodes %s", (oid, expected) => {
    expect(hex(derOid(oid))).toBe(expected);
    const encoded = derOid(oid);
    expect(readOid(encoded, readRoot(encoded))).toBe(oid);
    expect((asn1js.fromBER(encoded).result as asn1js.ObjectIdentifier).getValue()).toBe(oid);
  });

  // readOid keeps arcs as numbers below 2^46 and switches to bigints past that (UUID OIDs, RFC 4122 §4.1 / X.667).
  it.each([
    "1.2.549755813887", // 2^39 - 1
    "1.2.549755813888", // 2^39
    "1.2.70368744177663", // 2^46 - 1
    "1.2.9007199254740993", // 2^53 + 1: not exact as a number
    "2.25.329800735698586629295641978511506172918",
    "2.549755813968.1", // a first sub-identifier past 2^39 (2.x with x = 2^39 + 80 - 80)
  ])("reads %s back exactly", (oid) => {
    // (asn1js renders arcs past 2^53 as hex, so it cannot cross-check these.)
    const encoded = derOid(oid);
    expect(readOid(encoded, readRoot(encoded))).toBe(oid);
  });

  it.each(["", "1", "3.1", "1.40", "1.2.", "1..2", "01.2", "a.b"])("rejects %j", (oid) => {
    expect(() => derOid(oid)).toThrow(/OBJECT IDENTIFIER/);
  });
});

describe("named bit strings (KeyUsage)", () => {
  it.each([
    [[0], "03020780"], // digitalSignature
    [[0, 2], "030205a0"], // digitalSignature, keyEncipherment
    [[0, 5, 6], "03020186"], // digitalSignature, keyCertSign, cRLSign
    [[5, 6], "03020106"], // keyCertSign, cRLSign
    [[8], "0303070080"], // decipherOnly: trailing zero bits removed (X.690 §11.2.2)
  ])("encodes bits %j", (bits, expected) => {
    expect(hex(namedBitString(bits))).toBe(expected);
  });
});

describe("time", () => {
  it("uses UTCTime through 2049 and GeneralizedTime from 2050 (RFC 5280 §4.1.2.5)", () => {
    const a = derTime(new Date("2049-12-31T23:59:59Z"));
    const b = derTime(new Date("2050-01-01T00:00:00Z"));
    expect(Buffer.from(a).toString("latin1")).toBe("\x17\x0d491231235959Z");
    expect(Buffer.from(b).toString("latin1")).toBe("\x18\x0f20500101000000Z");
    expect(readTime(a, readRoot(a)).toISOString()).toBe("2049-12-31T23:59:59.000Z");
    expect(readTime(b, readRoot(b)).toISOString()).toBe("2050-01-01T00:00:00.000Z");
  });

  it("drops milliseconds", () => {
    const encoded = derTime(new Date("2030-06-01T12:34:56.789Z"));
    expect(readTime(encoded, readRoot(encoded)).toISOString()).toBe("2030-06-01T12:34:56.000Z");
  });
});

describe("strings and SET OF", () => {
  it("encodes UTF-8 and ASCII strings and decodes them back", () => {
    for (const value of ["plain", "Zürich ☃", "日本", ""]) {
      const encoded = utf8String(value);
      expect(readString(encoded, readRoot(encoded))).toBe(value);
      expect((asn1js.fromBER(encoded).result as asn1js.Utf8String).getValue()).toBe(value);
    }
  });

  it("refuses characters a PrintableString cannot carry", () => {
    expect(() => printableString("a@b")).toThrow();
    expect(hex(printableString("US"))).toBe("13025553");
  });

  it("sorts SET OF members (X.690 §11.6)", () => {
    const set = setOf([utf8String("b"), utf8String("a")]);
    expect(hex(set)).toBe(`3106${hex(utf8String("a"))}${hex(utf8String("b"))}`);
  });
});

describe("DER reader strictness", () => {
  const rejects = (bytes: number[], pattern: RegExp) => {
    let error: unknown;
    try {
      readRoot(Uint8Array.from(bytes));
    } catch (err) {
      error = err;
    }
    expect(isChanceryError(error, "invalid_argument")).toBe(true);
    expect((error as Error).message).toMatch(pattern);
  };

  it("rejects indefinite, non-minimal and truncated lengths and trailing data", () => {
    rejects([0x30, 0x80, 0x00, 0x00], /indefinite/);
    rejects([0x04, 0x81, 0x05, 1, 2, 3, 4, 5], /non-minimal/);
    rejects([0x04, 0x82, 0x00, 0x80, ...new Array(128).fill(0)], /non-minimal/);
    rejects([0x04, 0x05, 1, 2], /truncated/);
    rejects([0x04, 0x01, 1, 0], /trailing/);
    rejects([0x04], /truncated/);
  });

  it("reads nested structures the writer produced", () => {
    const encoded = sequence([derInteger(5), sequence([utf8String("x"), tlv(0x80, Uint8Array.of(1, 2))])]);
    const root = readRoot(encoded);
    const first = readNode(encoded, root.contentStart, root.end);
    expect(readInteger(encoded, first)).toBe(5n);
    expect(asn1js.fromBER(encoded).offset).toBe(encoded.length);
  });
});
