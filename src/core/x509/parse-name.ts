import { ChanceryError } from "../errors.ts";
import { children, type DerNode, expectChildren, expectTag, raw, readOid, readString } from "./der-reader.ts";
import { tags } from "./der-writer.ts";
import { formatNameAttribute, type NameAttribute, nameAttributeName } from "./name.ts";

export interface ParsedName {
  /** The Name exactly as encoded (for byte-exact issuer/subject chaining, RFC 5280 §4.1.2.4). */
  readonly der: Uint8Array;
  /** Attributes in encoded order, multi-valued RDNs flattened. */
  readonly attributes: readonly NameAttribute[];
  /** RFC 4514 string. */
  readonly text: string;
}

/**
 * Reads a DER Name. Values of string types are decoded; any other value
 * is kept as RFC 4514 §2.4 "#" + hex of its BER encoding.
 */
export function parseName(buf: Uint8Array, node: DerNode): ParsedName {
  expectTag(node, tags.sequence, "Name");
  const attributes: NameAttribute[] = [];
  const rdnTexts: string[] = [];
  for (const rdn of children(buf, node)) {
    expectTag(rdn, tags.set, "RelativeDistinguishedName");
    const members: string[] = [];
    const rdnChildren = children(buf, rdn);
    // RFC 5280 §4.1.2.4: RelativeDistinguishedName is SET SIZE (1..MAX).
    if (rdnChildren.length === 0) throw new ChanceryError("invalid_argument", "malformed DER: empty RDN");
    for (const atv of rdnChildren) {
      const [typeNode, valueNode] = expectChildren(buf, atv, tags.sequence, "AttributeTypeAndValue", 2);
      const oid = readOid(buf, typeNode!);
      const type = nameAttributeName(oid);
      // RFC 4514 §2.4: dotted-decimal types and non-string values are written as "#" + hex of the BER.
      const hexValue = `#${Buffer.from(raw(buf, valueNode!)).toString("hex").toUpperCase()}`;
      let attribute: NameAttribute;
      let text: string;
      if (isStringTag(valueNode!.tag)) {
        attribute = { type, value: readString(buf, valueNode!) };
        text = type === oid ? `${type}=${hexValue}` : formatNameAttribute(attribute);
      } else {
        attribute = { type, value: hexValue };
        text = `${type}=${hexValue}`;
      }
      attributes.push(attribute);
      members.push(text);
    }
    rdnTexts.push(members.join("+"));
  }
  return { der: raw(buf, node), attributes, text: rdnTexts.reverse().join(",") };
}

function isStringTag(tag: number): boolean {
  return (
    tag === 0x0c ||
    tag === 0x12 ||
    tag === 0x13 ||
    tag === 0x14 ||
    tag === 0x16 ||
    tag === 0x1a ||
    tag === 0x1c ||
    tag === 0x1e
  );
}

/**
 * One RDN in comparable form: one key per member (OID, NUL, "s" and the
 * folded string or "x" and the hex DER of the value), sorted, so that the
 * order inside a multi-valued RDN (a SET) does not matter.
 */
export type CanonicalRdn = readonly string[];

/**
 * The RDNs of a DER Name in the form RFC 5280 §7.1 compares them, as
 * OpenSSL's canonical encoding does: values of the DirectoryString-like
 * types (UTF8, Printable, Teletex, IA5, Visible, BMP, Universal) are
 * compared whatever their string type, with leading and trailing white
 * space removed, inner runs of white space folded to one space, and ASCII
 * letters lower-cased (OpenSSL folds ASCII only, not all of RFC 4518);
 * any other value is compared as its exact DER.
 */
export function canonicalRdns(buf: Uint8Array, node: DerNode): CanonicalRdn[] {
  expectTag(node, tags.sequence, "Name");
  return children(buf, node).map((rdn) => {
    const members = children(buf, expectTag(rdn, tags.set, "RelativeDistinguishedName")).map((atv) => {
      const [typeNode, valueNode] = expectChildren(buf, atv, tags.sequence, "AttributeTypeAndValue", 2);
      const oid = readOid(buf, typeNode!);
      if (!canonicalStringTags.has(valueNode!.tag))
        return `${oid}\u0000x${Buffer.from(raw(buf, valueNode!)).toString("hex")}`;
      const folded = readString(buf, valueNode!)
        .replace(/^[ \t\n\v\f\r]+|[ \t\n\v\f\r]+$/g, "")
        .replace(/[ \t\n\v\f\r]+/g, " ")
        .replace(/[A-Z]+/g, (s) => s.toLowerCase());
      return `${oid}\u0000s${folded}`;
    });
    if (members.length === 0) throw new ChanceryError("invalid_argument", "malformed DER: empty RDN");
    return members.sort();
  });
}

/** The string types OpenSSL canonicalises (ASN1_MASK_CANON); NumericString is compared as DER. */
const canonicalStringTags: ReadonlySet<number> = new Set([0x0c, 0x13, 0x14, 0x16, 0x1a, 0x1c, 0x1e]);
