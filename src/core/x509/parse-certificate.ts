import { ChanceryError } from "../errors.ts";
import {
  children,
  content,
  type DerNode,
  expectChildren,
  expectTag,
  raw,
  readBitString,
  readBoolean,
  readIntegerContent,
  readOid,
  readRoot,
  readSmallInteger,
  readTime,
} from "./der-reader.ts";
import { contextConstructed, tags } from "./der-writer.ts";
import type { Extension } from "./extensions.ts";
import { type KeyUsageName, keyUsageNames } from "./key-usage.ts";
import { oids } from "./oids.ts";
import { type ParsedName, parseName } from "./parse-name.ts";
import { serialHexFromContent } from "./serial-number.ts";
import { readSubjectPublicKeyInfo, type SubjectPublicKeyInfoView } from "./subject-public-key-info.ts";

/** What the issuance core needs to know about a certificate, typically an issuer CA certificate. */
export interface CertificateView {
  readonly der: Uint8Array;
  readonly tbsDer: Uint8Array;
  readonly serialHex: string;
  readonly issuer: ParsedName;
  readonly subject: ParsedName;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly publicKey: SubjectPublicKeyInfoView;
  readonly extensions: readonly Extension[];
  readonly subjectKeyIdentifier: Uint8Array | undefined;
  readonly basicConstraints: { readonly ca: boolean; readonly pathLen: number | undefined } | undefined;
  readonly keyUsage: readonly KeyUsageName[] | undefined;
}

function extensionValue(extensions: readonly Extension[], oid: string): Uint8Array | undefined {
  return extensions.find((e) => e.oid === oid)?.value;
}

/**
 * Certificates already read, by the identity of their bytes (a WeakMap: an entry lives as long as the buffer).
 * The same buffer is often read more than once per request: an RA certificate from the cached list for
 * every SCEP message, a device's signer certificate when its request is read and again when the reply is
 * encrypted to it. A view is immutable; a copy of the bytes is read again.
 */
const certificatesRead = new WeakMap<Uint8Array, CertificateView>();

/** Reads a DER X.509 certificate; throws invalid_argument when it is not one. */
export function readCertificate(der: Uint8Array): CertificateView {
  const known = certificatesRead.get(der);
  if (known !== undefined) return known;
  try {
    const view = readCertificateUnchecked(der);
    certificatesRead.set(der, view);
    return view;
  } catch (cause) {
    if (cause instanceof ChanceryError) throw cause;
    throw new ChanceryError("invalid_argument", "not a valid X.509 certificate", { cause });
  }
}

function readCertificateUnchecked(der: Uint8Array): CertificateView {
  const root = readRoot(der);
  const [tbs] = expectChildren(der, root, tags.sequence, "Certificate", 3);
  const fields = expectChildren(der, tbs!, tags.sequence, "TBSCertificate", 6, 10);
  let i = 0;
  if (fields[0]!.tag === contextConstructed(0)) i++;
  const serial = readIntegerContent(der, fields[i++]!);
  i++; // signature AlgorithmIdentifier
  const issuer = parseName(der, fields[i++]!);
  const [notBefore, notAfter] = expectChildren(der, fields[i++]!, tags.sequence, "Validity", 2);
  const subject = parseName(der, fields[i++]!);
  const spkiNode = expectTag(fields[i++], tags.sequence, "SubjectPublicKeyInfo");
  const publicKey = readSubjectPublicKeyInfo(raw(der, spkiNode).slice());
  const extensions: Extension[] = [];
  for (; i < fields.length; i++) {
    if (fields[i]!.tag !== contextConstructed(3)) continue; // issuer/subject unique IDs (§4.1.2.8)
    const [list] = children(der, fields[i]!);
    for (const node of children(der, expectTag(list, tags.sequence, "Extensions")))
      extensions.push(readExtension(der, node));
  }
  const ski = extensionValue(extensions, oids.subjectKeyIdentifier);
  const bc = extensionValue(extensions, oids.basicConstraints);
  const ku = extensionValue(extensions, oids.keyUsage);
  return {
    der,
    tbsDer: raw(der, tbs!),
    serialHex: serialHexFromContent(serial),
    issuer,
    subject,
    notBefore: readTime(der, notBefore!),
    notAfter: readTime(der, notAfter!),
    publicKey,
    extensions,
    subjectKeyIdentifier: ski
      ? content(ski, expectTag(readRoot(ski), tags.octetString, "SubjectKeyIdentifier"))
      : undefined,
    basicConstraints: bc ? readBasicConstraints(bc) : undefined,
    keyUsage: ku ? readKeyUsage(ku) : undefined,
  };
}

/** One Extension SEQUENCE { extnID, critical DEFAULT FALSE, extnValue OCTET STRING }. */
export function readExtension(buf: Uint8Array, node: DerNode): Extension {
  const parts = expectChildren(buf, node, tags.sequence, "Extension", 2, 3);
  const oid = readOid(buf, parts[0]!);
  const critical = parts.length === 3 ? readBoolean(buf, parts[1]!) : false;
  const value = content(buf, expectTag(parts[parts.length - 1], tags.octetString, "extnValue")).slice();
  return { oid, critical, value };
}

function readBasicConstraints(value: Uint8Array): { ca: boolean; pathLen: number | undefined } {
  const parts = expectChildren(value, readRoot(value), tags.sequence, "BasicConstraints", 0, 2);
  let ca = false;
  let pathLen: number | undefined;
  for (const part of parts) {
    if (part.tag === tags.boolean) ca = readBoolean(value, part);
    else pathLen = readSmallInteger(value, part);
  }
  return { ca, pathLen };
}

function readKeyUsage(value: Uint8Array): KeyUsageName[] {
  const { bytes } = readBitString(value, readRoot(value));
  return keyUsageNames.filter((_, bit) => bit >> 3 < bytes.length && (bytes[bit >> 3]! & (0x80 >> (bit & 7))) !== 0);
}
