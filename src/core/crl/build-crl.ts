import type { Signer } from "../ca/signer.ts";
import { ChanceryError } from "../errors.ts";
import type { RevocationReason } from "../revocation/revocation-reason.ts";
import { contextConstructed, derTime, sequence, tags, tlv } from "../x509/der-writer.ts";
import { authorityKeyIdentifierExtension, encodeExtension } from "../x509/extensions.ts";
import { readCertificate } from "../x509/parse-certificate.ts";
import { pemEncode } from "../x509/pem.ts";
import { encodeSigned } from "../x509/sign-certificate.ts";
import { keyIdentifier } from "../x509/subject-public-key-info.ts";
import { crlNumberExtension, issuingDistributionPointExtension, reasonCodeEntryExtensions } from "./crl-extensions.ts";

/** One revoked certificate as it goes onto the CRL (RFC 5280 §5.1.2.6). */
export interface RevokedEntry {
  /** The serial as stored: hex of the positive value (certificates.serial_hex). */
  readonly serialHex: string;
  /** Encoded with second precision (§5.1.2.6 revocationDate, UTCTime through 2049). */
  readonly revokedAt: Date;
  /** Omitted or "unspecified": no reasonCode extension (§5.3.1). */
  readonly reason?: RevocationReason | undefined;
}

export interface CrlInput {
  /** The issuing CA's certificate: its subject becomes the CRL issuer, its SKI the AKI. */
  readonly issuerCertificateDer: Uint8Array;
  /** Holds the issuing CA's key. */
  readonly signer: Signer;
  /** §5.2.3 cRLNumber; the caller keeps it monotonic per CA. */
  readonly crlNumber: bigint;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
  /**
   * The CRL's URL for the issuingDistributionPoint: exactly the
   * cRLDistributionPoints URL the CA's certificates carry. Undefined: no
   * IDP (see crl-service.ts for the self-signed root case).
   */
  readonly distributionPointUrl: string | undefined;
  readonly entries: readonly RevokedEntry[];
}

/** TBSCertList version: an untagged INTEGER, v2 = 1 (§5.1.2.1: required when extensions are present). */
const versionV2: Uint8Array = Uint8Array.of(tags.integer, 1, 1);

/**
 * Builds, signs and returns a DER CertificateList (RFC 5280 §5.1), version 2,
 * with authorityKeyIdentifier, cRLNumber and (given a URL) a critical
 * issuingDistributionPoint, and a reasonCode on each entry that has a reason.
 */
export async function buildCrl(input: CrlInput): Promise<Uint8Array> {
  const tbs = encodeTbsCertList(input);
  const signature = await input.signer.sign(tbs);
  return encodeSigned(tbs, input.signer.signatureAlgorithmDer, signature);
}

/** The DER TBSCertList (RFC 5280 §5.1.2) that buildCrl signs. */
export function encodeTbsCertList(input: CrlInput): Uint8Array {
  const issuer = readCertificate(input.issuerCertificateDer);
  if (!Buffer.from(issuer.publicKey.der).equals(input.signer.publicKeySpki))
    throw new ChanceryError("invalid_argument", "the CRL signer does not hold the issuer certificate's key");
  // §4.2.1.3: a key that signs CRLs needs cRLSign when keyUsage is present (relying parties check it).
  if (!issuer.basicConstraints?.ca)
    throw new ChanceryError("failed_precondition", "the CRL issuer is not a CA certificate");
  if (issuer.keyUsage && !issuer.keyUsage.includes("cRLSign"))
    throw new ChanceryError("failed_precondition", "the CRL issuer's keyUsage lacks cRLSign");
  // §5.1.2.5: conforming CRL issuers MUST include nextUpdate, and it must be later than thisUpdate.
  if (!(input.nextUpdate.getTime() > input.thisUpdate.getTime()))
    throw new ChanceryError("invalid_argument", "nextUpdate must be after thisUpdate");

  const extensions = [
    // §5.2.1: the keyIdentifier of the CA key, i.e. the issuer certificate's SKI.
    authorityKeyIdentifierExtension(issuer.subjectKeyIdentifier ?? keyIdentifier(issuer.publicKey.der)),
    crlNumberExtension(input.crlNumber),
  ];
  if (input.distributionPointUrl !== undefined)
    extensions.push(issuingDistributionPointExtension(input.distributionPointUrl));
  const parts = [
    versionV2,
    input.signer.signatureAlgorithmDer,
    // §5.1.2.3: the issuer Name, byte for byte the CA certificate's subject.
    issuer.subject.der,
    // §5.1.2.4/5: UTCTime through 2049, GeneralizedTime from 2050.
    derTime(input.thisUpdate),
    derTime(input.nextUpdate),
  ];
  // §5.1.2.6: with no revoked certificates the list MUST be absent, not an empty SEQUENCE.
  if (input.entries.length > 0) parts.push(encodeRevokedCertificates(input.entries));
  parts.push(tlv(contextConstructed(0), sequence(extensions.map(encodeExtension))));
  return sequence(parts);
}

/** PEM ("X509 CRL", RFC 7468 §6) for serving `?format=pem` or writing files. */
export function crlPem(der: Uint8Array): string {
  return pemEncode("X509 CRL", der);
}

/**
 * The revokedCertificates SEQUENCE OF, written into one buffer: a first pass
 * validates every entry and sums the lengths, a second writes the octets
 * directly (serial hex digits to bytes, times to digits), so a CRL of
 * 100 000 entries costs two loops and one buffer, not 100 000 small
 * encodings concatenated.
 */
export function encodeRevokedCertificates(entries: readonly RevokedEntry[]): Uint8Array {
  let total = 0;
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!;
    total += 2 + entryContentLength(entry);
  }
  const body = new Uint8Array(total);
  let offset = 0;
  for (let i = 0; i < entries.length; i++) offset = writeEntry(body, offset, entries[i]!);
  if (offset !== total) throw new ChanceryError("internal", "revoked certificates length mismatch");
  return tlv(tags.sequence, body);
}

/** Length of one revokedCertificates member's content (serial TLV, time TLV, optional extensions). */
function entryContentLength(entry: RevokedEntry): number {
  const extensions = entry.reason === undefined ? undefined : reasonExtensions(entry.reason);
  return 2 + serialContentLength(entry.serialHex) + timeLength(entry.revokedAt) + (extensions?.length ?? 0);
}

function reasonExtensions(reason: RevocationReason): Uint8Array | undefined {
  if (!Object.hasOwn(reasonCodeEntryExtensions, reason))
    throw new ChanceryError("invalid_argument", `unknown revocation reason ${reason}`);
  return reasonCodeEntryExtensions[reason];
}

/**
 * INTEGER content octets of a positive serial given in hex: leading zero
 * digits dropped (X.690 §8.3.2 minimal form), one 0x00 added when the top
 * bit is set. §4.1.2.2: at most 20 octets.
 */
function serialContentLength(hex: string): number {
  let start = 0;
  while (start < hex.length && hex.charCodeAt(start) === 0x30) start++;
  const digits = hex.length - start;
  if (digits === 0) throw new ChanceryError("invalid_argument", `serial "${hex}" is not a positive hex number`);
  for (let i = start; i < hex.length; i++)
    if (hexValue(hex.charCodeAt(i)) < 0) throw new ChanceryError("invalid_argument", `serial "${hex}" is not hex`);
  const octets = (digits + 1) >> 1;
  const pad = digits % 2 === 0 && hexValue(hex.charCodeAt(start)) >= 8 ? 1 : 0;
  if (octets + pad > 20) throw new ChanceryError("invalid_argument", `serial "${hex}" is longer than 20 octets`);
  return octets + pad;
}

function writeEntry(out: Uint8Array, at: number, entry: RevokedEntry): number {
  const extensions = entry.reason === undefined ? undefined : reasonCodeEntryExtensions[entry.reason];
  const serialLength = serialContentLength(entry.serialHex);
  // Every member is under 128 octets (serial ≤ 22, time ≤ 17, reason 14), so short-form lengths.
  let offset = at;
  out[offset++] = tags.sequence;
  out[offset++] = 2 + serialLength + timeLength(entry.revokedAt) + (extensions?.length ?? 0);
  out[offset++] = tags.integer;
  out[offset++] = serialLength;
  offset = writeSerial(out, offset, entry.serialHex, serialLength);
  offset = writeTime(out, offset, entry.revokedAt);
  if (extensions) {
    out.set(extensions, offset);
    offset += extensions.length;
  }
  return offset;
}

function writeSerial(out: Uint8Array, at: number, hex: string, length: number): number {
  // Fill from the last octet backwards, two digits at a time; what is left at the front is zero (padding).
  const end = at + length;
  let digit = hex.length - 1;
  for (let o = end - 1; o >= at; o--) {
    let value = 0;
    if (digit >= 0) value = hexValue(hex.charCodeAt(digit--));
    if (digit >= 0) value |= hexValue(hex.charCodeAt(digit--)) << 4;
    out[o] = value;
  }
  return end;
}

function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  if (code >= 0x61 && code <= 0x66) return code - 0x61 + 10;
  if (code >= 0x41 && code <= 0x46) return code - 0x41 + 10;
  return -1;
}

/** Bytes of the Time TLV: UTCTime (13 characters) through 2049, GeneralizedTime (15) after (§5.1.2.6 → §5.1.2.4). */
function timeLength(date: Date): number {
  const ms = date.getTime();
  if (!Number.isFinite(ms)) throw new ChanceryError("invalid_argument", "invalid revocation date");
  if (ms < utcTimeStartMs || ms >= endOfYear9999Ms)
    throw new ChanceryError("invalid_argument", `revocation date ${date.toISOString()} cannot be encoded`);
  return ms < generalizedTimeStartMs ? 15 : 17;
}

const utcTimeStartMs = Date.UTC(1950, 0, 1);
const generalizedTimeStartMs = Date.UTC(2050, 0, 1);
const endOfYear9999Ms = Date.UTC(10000, 0, 1);

/** Writes the Time TLV as derTime does, without building strings or Dates (civil date from days, H. Hinnant). */
function writeTime(out: Uint8Array, at: number, date: Date): number {
  const seconds = Math.floor(date.getTime() / 1000);
  const days = Math.floor(seconds / 86_400);
  let secondOfDay = seconds - days * 86_400;
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const dayOfEra = z - era * 146_097;
  const yearOfEra = Math.floor(
    (dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36_524) - Math.floor(dayOfEra / 146_096)) / 365,
  );
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const mp = Math.floor((5 * dayOfYear + 2) / 153);
  const day = dayOfYear - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0);
  const hour = Math.floor(secondOfDay / 3600);
  secondOfDay -= hour * 3600;
  const minute = Math.floor(secondOfDay / 60);
  const second = secondOfDay - minute * 60;

  let offset = at;
  if (year < 2050) {
    out[offset++] = tags.utcTime;
    out[offset++] = 13;
    offset = twoDigits(out, offset, year % 100);
  } else {
    out[offset++] = tags.generalizedTime;
    out[offset++] = 15;
    offset = twoDigits(out, offset, Math.floor(year / 100));
    offset = twoDigits(out, offset, year % 100);
  }
  offset = twoDigits(out, offset, month);
  offset = twoDigits(out, offset, day);
  offset = twoDigits(out, offset, hour);
  offset = twoDigits(out, offset, minute);
  offset = twoDigits(out, offset, second);
  out[offset++] = 0x5a; // "Z": §5.1.2.4 times are Zulu, with seconds, no fractions
  return offset;
}

function twoDigits(out: Uint8Array, at: number, value: number): number {
  out[at] = 0x30 + Math.floor(value / 10);
  out[at + 1] = 0x30 + (value % 10);
  return at + 2;
}
