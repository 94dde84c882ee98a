import { ChanceryError } from "../errors.ts";

/**
 * A small DER writer (ITU-T X.690 §10, distinguished encoding). Only
 * single-octet tags (tag number < 31) and definite lengths, which is all
 * X.509, PKCS#10 and OCSP need. Every function returns a fresh Uint8Array so
 * pieces can be precomputed once and spliced many times.
 */

/** Universal tags (X.690 §8) and the context-specific forms we build. */
export const tags = {
  boolean: 0x01,
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  null: 0x05,
  oid: 0x06,
  utf8String: 0x0c,
  numericString: 0x12,
  printableString: 0x13,
  ia5String: 0x16,
  utcTime: 0x17,
  generalizedTime: 0x18,
  bmpString: 0x1e,
  sequence: 0x30,
  set: 0x31,
} as const;

/** Context-specific, constructed: [n] EXPLICIT or [n] IMPLICIT of a constructed type. */
export function contextConstructed(n: number): number {
  return 0xa0 | n;
}

/** Context-specific, primitive: [n] IMPLICIT of a primitive type. */
export function contextPrimitive(n: number): number {
  return 0x80 | n;
}

/**
 * Output buffers come from Buffer.allocUnsafe, which serves small sizes from
 * a shared slab instead of creating an ArrayBuffer each time (several times
 * cheaper on the issuance path). Every byte is written before a buffer is
 * returned, so the uninitialised memory never shows.
 */
function allocate(size: number): Uint8Array {
  return Buffer.allocUnsafe(size);
}

function headerLength(length: number): number {
  if (length < 0x80) return 2;
  if (length < 0x100) return 3;
  if (length < 0x10000) return 4;
  if (length < 0x1000000) return 5;
  return 6;
}

function writeHeader(out: Uint8Array, tag: number, length: number): number {
  out[0] = tag;
  if (length < 0x80) {
    out[1] = length;
    return 2;
  }
  // X.690 §10.1: the long form uses the minimum number of length octets.
  const bytes = headerLength(length) - 2;
  out[1] = 0x80 | bytes;
  for (let i = 0; i < bytes; i++) out[2 + i] = (length >>> (8 * (bytes - 1 - i))) & 0xff;
  return 2 + bytes;
}

/** One TLV from a tag and its complete content octets. */
export function tlv(tag: number, content: Uint8Array): Uint8Array {
  const out = allocate(headerLength(content.length) + content.length);
  out.set(content, writeHeader(out, tag, content.length));
  return out;
}

/** One TLV whose content is the concatenation of `parts` (no intermediate copy). */
export function tlvOf(tag: number, parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = allocate(headerLength(length) + length);
  let offset = writeHeader(out, tag, length);
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = allocate(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

export function sequence(parts: readonly Uint8Array[]): Uint8Array {
  return tlvOf(tags.sequence, parts);
}

/**
 * SET OF: X.690 §11.6 requires the encodings sorted as octet strings, so a
 * SET OF with several members is sorted here (attribute values in a
 * multi-valued RDN, CSR attribute sets).
 */
export function setOf(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length < 2) return tlvOf(tags.set, parts);
  return tlvOf(tags.set, [...parts].sort(compareBytes));
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

export const derNull: Uint8Array = Uint8Array.of(tags.null, 0);
export const derTrue: Uint8Array = Uint8Array.of(tags.boolean, 1, 0xff);

/** X.690 §11.1: TRUE is 0xff. DEFAULT FALSE fields must be omitted, not encoded as FALSE. */
export function derBoolean(value: boolean): Uint8Array {
  return Uint8Array.of(tags.boolean, 1, value ? 0xff : 0);
}

/**
 * INTEGER from an unsigned magnitude (big-endian): leading zero octets are
 * dropped and one 0x00 is added when the top bit is set, which is the minimal
 * two's-complement form X.690 §8.3.2 requires.
 */
export function integerFromUnsigned(magnitude: Uint8Array): Uint8Array {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const body = magnitude.subarray(start);
  if (body.length === 0) return Uint8Array.of(tags.integer, 1, 0);
  if (body[0]! & 0x80) return tlvOf(tags.integer, [Uint8Array.of(0), body]);
  return tlv(tags.integer, body);
}

/** INTEGER from a non-negative safe integer or bigint. */
export function derInteger(value: number | bigint): Uint8Array {
  let v = BigInt(value);
  if (v < 0n) throw new ChanceryError("invalid_argument", "negative INTEGER values are not supported here");
  const bytes: number[] = [];
  do {
    bytes.unshift(Number(v & 0xffn));
    v >>= 8n;
  } while (v > 0n);
  return integerFromUnsigned(Uint8Array.from(bytes));
}

/** INTEGER whose content octets are already minimal two's complement (e.g. a serial number). */
export function integerFromContent(content: Uint8Array): Uint8Array {
  return tlv(tags.integer, content);
}

/** BIT STRING with `unusedBits` padding bits in the last octet (X.690 §8.6). */
export function bitString(bytes: Uint8Array, unusedBits = 0): Uint8Array {
  const out = allocate(headerLength(bytes.length + 1) + bytes.length + 1);
  const offset = writeHeader(out, tags.bitString, bytes.length + 1);
  out[offset] = unusedBits;
  out.set(bytes, offset + 1);
  return out;
}

/**
 * BIT STRING for a NamedBitList (KeyUsage): X.690 §11.2.2 says trailing zero
 * bits are removed, so the length and unused-bit count depend on the highest
 * bit set. Bit 0 is the most significant bit of the first octet.
 */
export function namedBitString(bits: readonly number[]): Uint8Array {
  if (bits.length === 0) return Uint8Array.of(tags.bitString, 1, 0);
  const highest = Math.max(...bits);
  const bytes = new Uint8Array((highest >> 3) + 1);
  for (const bit of bits) bytes[bit >> 3] = (bytes[bit >> 3] ?? 0) | (0x80 >> (bit & 7));
  return bitString(bytes, 7 - (highest & 7));
}

export function octetString(bytes: Uint8Array): Uint8Array {
  return tlv(tags.octetString, bytes);
}

const oidPattern = /^[0-2](\.(0|[1-9][0-9]*))+$/;

export function isOid(value: string): boolean {
  if (!oidPattern.test(value)) return false;
  const arcs = value.split(".");
  // X.660: under 0 and 1 the second arc is below 40.
  return arcs[0] === "2" || Number(arcs[1]) < 40;
}

/** OBJECT IDENTIFIER content octets (X.690 §8.19), base-128 arcs. */
export function oidContent(oid: string): Uint8Array {
  if (!isOid(oid)) throw new ChanceryError("invalid_argument", `not a valid OBJECT IDENTIFIER: ${oid}`);
  const arcs = oid.split(".").map((arc) => BigInt(arc));
  const values = [arcs[0]! * 40n + arcs[1]!, ...arcs.slice(2)];
  const out: number[] = [];
  for (const value of values) {
    const chunk: number[] = [Number(value & 0x7fn)];
    let v = value >> 7n;
    while (v > 0n) {
      chunk.unshift(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    out.push(...chunk);
  }
  return Uint8Array.from(out);
}

export function derOid(oid: string): Uint8Array {
  return tlv(tags.oid, oidContent(oid));
}

/**
 * An encoder that returns precomputed DER for a fixed set of OIDs and
 * encodes any other. The returned bytes are shared: callers splice them
 * into larger encodings and never modify them.
 */
export function createOidEncoder(known: Iterable<string>): (oid: string) => Uint8Array {
  const table = new Map<string, Uint8Array>();
  for (const oid of known) table.set(oid, derOid(oid));
  return (oid) => table.get(oid) ?? derOid(oid);
}

const textEncoder = new TextEncoder();

/**
 * A TLV whose content is the UTF-8 of `value`. Most values on the issuance
 * path (DNS names, URLs, common names) are ASCII, which is copied straight
 * into the output instead of going through TextEncoder and a second buffer.
 */
function stringTlv(tag: number, value: string): Uint8Array {
  const length = value.length;
  let ascii = true;
  for (let i = 0; i < length; i++) {
    if (value.charCodeAt(i) > 0x7f) {
      ascii = false;
      break;
    }
  }
  if (!ascii) return tlv(tag, textEncoder.encode(value));
  const out = allocate(headerLength(length) + length);
  const offset = writeHeader(out, tag, length);
  for (let i = 0; i < length; i++) out[offset + i] = value.charCodeAt(i);
  return out;
}

export function utf8String(value: string): Uint8Array {
  return stringTlv(tags.utf8String, value);
}

/** X.680 §41.4 PrintableString alphabet. */
const printablePattern = /^[A-Za-z0-9 '()+,\-./:=?]*$/;

export function isPrintableString(value: string): boolean {
  return printablePattern.test(value);
}

export function printableString(value: string): Uint8Array {
  if (!isPrintableString(value))
    throw new ChanceryError("invalid_argument", `"${value}" has characters a PrintableString cannot carry`);
  return stringTlv(tags.printableString, value);
}

export function isIa5String(value: string): boolean {
  for (let i = 0; i < value.length; i++) if (value.charCodeAt(i) > 0x7f) return false;
  return true;
}

export function ia5String(value: string): Uint8Array {
  if (!isIa5String(value)) throw new ChanceryError("invalid_argument", `"${value}" is not ASCII (IA5String)`);
  return stringTlv(tags.ia5String, value);
}

/** X.680 §41.2 NumericString alphabet: digits and space. */
export function isNumericString(value: string): boolean {
  return /^[0-9 ]*$/.test(value);
}

export function numericString(value: string): Uint8Array {
  if (!isNumericString(value))
    throw new ChanceryError("invalid_argument", `"${value}" is not digits and spaces (NumericString)`);
  return stringTlv(tags.numericString, value);
}

/** True when every character is in the Basic Multilingual Plane (BMPString is UCS-2, X.680 §41.16). */
export function isBmpString(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const unit = value.charCodeAt(i);
    if (unit >= 0xd800 && unit <= 0xdfff) return false;
  }
  return true;
}

/** BMPString: UCS-2 big-endian, as Microsoft's certificate template name extension uses. */
export function bmpString(value: string): Uint8Array {
  if (!isBmpString(value))
    throw new ChanceryError("invalid_argument", `"${value}" has characters outside the BMP (BMPString)`);
  const bytes = new Uint8Array(value.length * 2);
  for (let i = 0; i < value.length; i++) {
    const unit = value.charCodeAt(i);
    bytes[2 * i] = unit >> 8;
    bytes[2 * i + 1] = unit & 0xff;
  }
  return tlv(tags.bmpString, bytes);
}

/** IA5String content with an arbitrary tag, e.g. [2] dNSName or [6] URI in a GeneralName. */
export function ia5Tagged(tag: number, value: string): Uint8Array {
  if (!isIa5String(value)) throw new ChanceryError("invalid_argument", `"${value}" is not ASCII (IA5String)`);
  return stringTlv(tag, value);
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : `${n}`;
}

/**
 * RFC 5280 §4.1.2.5: UTCTime for dates through 2049, GeneralizedTime from
 * 2050 on, both in Zulu with seconds and without fractions.
 */
export function derTime(date: Date): Uint8Array {
  const ms = date.getTime();
  if (!Number.isFinite(ms)) throw new ChanceryError("invalid_argument", "invalid date");
  const year = date.getUTCFullYear();
  if (year < 1950 || year > 9999) throw new ChanceryError("invalid_argument", `year ${year} cannot be encoded`);
  const rest =
    pad2(date.getUTCMonth() + 1) +
    pad2(date.getUTCDate()) +
    pad2(date.getUTCHours()) +
    pad2(date.getUTCMinutes()) +
    pad2(date.getUTCSeconds()) +
    "Z";
  if (year < 2050) return stringTlv(tags.utcTime, pad2(year % 100) + rest);
  return stringTlv(tags.generalizedTime, String(year) + rest);
}
