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
