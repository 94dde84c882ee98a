import { ChanceryError } from "../errors.ts";
import { tags } from "./der-writer.ts";

/**
 * A strict DER reader over a byte buffer: nodes are offsets, nothing is
 * copied until a value is asked for. It rejects what DER forbids (indefinite
 * lengths, non-minimal lengths, high tag numbers we never use) so that the
 * bytes we sign over or hash are exactly the bytes we parsed.
 */
export interface DerNode {
  readonly tag: number;
  /** Offset of the tag octet. */
  readonly start: number;
  /** Offset of the first content octet. */
  readonly contentStart: number;
  /** Offset just past the last content octet. */
  readonly end: number;
}

function malformed(message: string): ChanceryError {
  return new ChanceryError("invalid_argument", `malformed DER: ${message}`);
}

export function readNode(buf: Uint8Array, offset: number, limit: number = buf.length): DerNode {
  if (offset + 2 > limit) throw malformed("truncated header");
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) throw malformed("multi-octet tags are not supported");
  const first = buf[offset + 1]!;
  let length: number;
  let contentStart: number;
  if (first < 0x80) {
    length = first;
    contentStart = offset + 2;
  } else {
    const count = first & 0x7f;
    // X.690 §10.1: DER has no indefinite length (0x80); we cap at 4 length octets.
    if (count === 0) throw malformed("indefinite length");
    if (count > 4) throw malformed("length too large");
    if (offset + 2 + count > limit) throw malformed("truncated length");
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + buf[offset + 2 + i]!;
    if (buf[offset + 2] === 0 || length < 0x80) throw malformed("non-minimal length");
    contentStart = offset + 2 + count;
  }
  const end = contentStart + length;
  if (end > limit) throw malformed("truncated content");
  return { tag, start: offset, contentStart, end };
}

/** The single top-level element of `buf`; trailing bytes are an error. */
export function readRoot(buf: Uint8Array): DerNode {
  const node = readNode(buf, 0);
  if (node.end !== buf.length) throw malformed("trailing data after the top-level element");
  return node;
}

export function children(buf: Uint8Array, node: DerNode): DerNode[] {
  if ((node.tag & 0x20) === 0) throw malformed(`tag 0x${node.tag.toString(16)} is not constructed`);
  const out: DerNode[] = [];
  let offset = node.contentStart;
  while (offset < node.end) {
    const child = readNode(buf, offset, node.end);
    out.push(child);
    offset = child.end;
  }
  return out;
}

/** Children of a constructed node, asserting its tag and a count range. */
export function expectChildren(
  buf: Uint8Array,
  node: DerNode,
  tag: number,
  what: string,
  min: number,
  max: number = min,
): DerNode[] {
  expectTag(node, tag, what);
  const list = children(buf, node);
  if (list.length < min || list.length > max) throw malformed(`${what} has ${list.length} elements`);
  return list;
}

export function expectTag(node: DerNode | undefined, tag: number, what: string): DerNode {
  if (node === undefined) throw malformed(`${what} is missing`);
  if (node.tag !== tag) throw malformed(`${what}: expected tag 0x${tag.toString(16)}, got 0x${node.tag.toString(16)}`);
  return node;
}

export function content(buf: Uint8Array, node: DerNode): Uint8Array {
  return buf.subarray(node.contentStart, node.end);
}

/** The whole TLV, header included. */
export function raw(buf: Uint8Array, node: DerNode): Uint8Array {
  return buf.subarray(node.start, node.end);
}

export function readOid(buf: Uint8Array, node: DerNode): string {
  expectTag(node, tags.oid, "OBJECT IDENTIFIER");
  const bytes = content(buf, node);
  if (bytes.length === 0) throw malformed("empty OBJECT IDENTIFIER");
  // Arcs are read as numbers while they fit in 46 bits (every registered OID but UUID ones, 2.25.x),
  // as bigints past that: this runs for every OID of every certificate, CSR and CMS message read.
  const arcs: Array<number | bigint> = [];
  let value: number | bigint = 0;
  let fresh = true;
  for (const byte of bytes) {
    // X.690 §8.19.2: no leading 0x80 padding in a sub-identifier.
    if (fresh && byte === 0x80) throw malformed("non-minimal OBJECT IDENTIFIER arc");
    if (typeof value === "number" && value < 2 ** 39) value = value * 128 + (byte & 0x7f);
    else value = (BigInt(value) << 7n) | BigInt(byte & 0x7f);
    fresh = (byte & 0x80) === 0;
    if (fresh) {
      arcs.push(value);
      value = 0;
    }
  }
  if (!fresh) throw malformed("truncated OBJECT IDENTIFIER");
  const first = arcs[0]!;
  const head =
    typeof first === "number"
      ? first < 80
        ? [Math.floor(first / 40), first % 40]
        : [2, first - 80]
      : [2n, first - 80n];
  return [...head, ...arcs.slice(1)].join(".");
}

/** Content octets of an INTEGER, checked for minimal encoding (X.690 §8.3.2). */
export function readIntegerContent(buf: Uint8Array, node: DerNode): Uint8Array {
  expectTag(node, tags.integer, "INTEGER");
  const bytes = content(buf, node);
  if (bytes.length === 0) throw malformed("empty INTEGER");
  if (bytes.length > 1 && ((bytes[0] === 0 && !(bytes[1]! & 0x80)) || (bytes[0] === 0xff && bytes[1]! & 0x80)))
    throw malformed("non-minimal INTEGER");
  return bytes;
}

export function readInteger(buf: Uint8Array, node: DerNode): bigint {
  const bytes = readIntegerContent(buf, node);
  let value = 0n;
  for (const byte of bytes) value = (value << 8n) | BigInt(byte);
  if (bytes[0]! & 0x80) value -= 1n << BigInt(bytes.length * 8);
  return value;
}

export function readSmallInteger(buf: Uint8Array, node: DerNode): number {
  const value = readInteger(buf, node);
  if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER))
    throw malformed("INTEGER out of range");
  return Number(value);
}

export function readBoolean(buf: Uint8Array, node: DerNode): boolean {
  expectTag(node, tags.boolean, "BOOLEAN");
  const bytes = content(buf, node);
  // X.690 §11.1: DER TRUE is exactly 0xff.
  if (bytes.length !== 1 || (bytes[0] !== 0 && bytes[0] !== 0xff)) throw malformed("BOOLEAN");
  return bytes[0] === 0xff;
}

/** BIT STRING payload and its unused-bit count. */
export function readBitString(buf: Uint8Array, node: DerNode): { bytes: Uint8Array; unusedBits: number } {
  expectTag(node, tags.bitString, "BIT STRING");
  const bytes = content(buf, node);
  if (bytes.length === 0) throw malformed("empty BIT STRING");
  const unusedBits = bytes[0]!;
  if (unusedBits > 7 || (bytes.length === 1 && unusedBits !== 0)) throw malformed("BIT STRING unused bits");
  return { bytes: bytes.subarray(1), unusedBits };
}

const utf8Decoder = new TextDecoder("utf-8", { fatal: true });
const latin1Decoder = new TextDecoder("latin1");

/** Decodes the string types a DirectoryString or GeneralName may carry. */
export function readString(buf: Uint8Array, node: DerNode): string {
  const bytes = content(buf, node);
  switch (node.tag & 0x1f) {
    case 0x0c: // UTF8String
      try {
        return utf8Decoder.decode(bytes);
      } catch {
        throw malformed("UTF8String is not valid UTF-8");
      }
    case 0x12: // NumericString
    case 0x13: // PrintableString
    case 0x16: // IA5String
    case 0x1a: // VisibleString
      for (const byte of bytes) if (byte > 0x7f) throw malformed("non-ASCII octet in an ASCII string type");
      return latin1Decoder.decode(bytes);
    case 0x14: // TeletexString: treated as Latin-1, as most software does
      return latin1Decoder.decode(bytes);
    case 0x1e: {
      // BMPString: UCS-2 big-endian
      if (bytes.length % 2 !== 0) throw malformed("BMPString length");
      let out = "";
      for (let i = 0; i < bytes.length; i += 2) out += String.fromCharCode((bytes[i]! << 8) | bytes[i + 1]!);
      return out;
    }
    case 0x1c: {
      // UniversalString: UCS-4 big-endian
      if (bytes.length % 4 !== 0) throw malformed("UniversalString length");
      let out = "";
      for (let i = 0; i < bytes.length; i += 4) {
        const cp = ((bytes[i]! << 24) | (bytes[i + 1]! << 16) | (bytes[i + 2]! << 8) | bytes[i + 3]!) >>> 0;
        if (cp > 0x10ffff) throw malformed("UniversalString code point");
        out += String.fromCodePoint(cp);
      }
      return out;
    }
    default:
      throw malformed(`tag 0x${node.tag.toString(16)} is not a string type`);
  }
}

function digits(text: string, from: number, count: number): number {
  let n = 0;
  for (let i = from; i < from + count; i++) {
    const c = text.charCodeAt(i) - 48;
    if (c < 0 || c > 9) throw malformed("time has a non-digit");
    n = n * 10 + c;
  }
  return n;
}

/** UTCTime or GeneralizedTime in the RFC 5280 §4.1.2.5 profile: Zulu, with seconds, no fractions. */
export function readTime(buf: Uint8Array, node: DerNode): Date {
  const text = latin1Decoder.decode(content(buf, node));
  let year: number;
  let rest: number;
  if (node.tag === tags.utcTime) {
    if (text.length !== 13 || text[12] !== "Z") throw malformed("UTCTime must be YYMMDDHHMMSSZ");
    const yy = digits(text, 0, 2);
    // RFC 5280 §4.1.2.5.1: YY >= 50 is 19YY, below 50 is 20YY.
    year = yy >= 50 ? 1900 + yy : 2000 + yy;
    rest = 2;
  } else if (node.tag === tags.generalizedTime) {
    if (text.length !== 15 || text[14] !== "Z") throw malformed("GeneralizedTime must be YYYYMMDDHHMMSSZ");
    year = digits(text, 0, 4);
    rest = 4;
  } else {
    throw malformed("expected UTCTime or GeneralizedTime");
  }
  const month = digits(text, rest, 2);
  const day = digits(text, rest + 2, 2);
  const hour = digits(text, rest + 4, 2);
  const minute = digits(text, rest + 6, 2);
  const second = digits(text, rest + 8, 2);
  const date = new Date(Date.UTC(year, month - 1, day, hour, minute, second));
  if (
    month < 1 ||
    month > 12 ||
    date.getUTCDate() !== day ||
    hour > 23 ||
    minute > 59 ||
    second > 59 ||
    date.getUTCFullYear() !== year
  )
    throw malformed("time out of range");
  return date;
}
