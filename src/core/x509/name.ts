import { ChanceryError } from "../errors.ts";
import { createOidEncoder, derOid, isOid, sequence, setOf } from "./der-writer.ts";
import { encodeStringValue, type StringValueType, stringValueProblem } from "./string-value-type.ts";

/**
 * One attribute of a distinguished name. `type` is a short name from the
 * table below ("CN", "O", "serialNumber", ...) or a dotted OID for anything
 * else. A Name is a list of them, most significant first (C, O, OU, CN), each
 * its own RDN, which is how CAs issue names in practice.
 */
export interface NameAttribute {
  readonly type: string;
  readonly value: string;
  /**
   * The string type for an attribute known only by OID, as its entry in the
   * OID registry says; unset means UTF8String. Ignored for known types,
   * whose string type is fixed below.
   */
  readonly valueType?: StringValueType | undefined;
}

interface AttributeSpec {
  readonly name: string;
  readonly oid: string;
  /**
   * RFC 5280 §4.1.2.4: DirectoryString attributes are UTF8String; countryName,
   * serialNumber and dnQualifier are PrintableString (X.520); emailAddress
   * (RFC 5280 §4.1.2.6) and domainComponent (RFC 4519) are IA5String.
   */
  readonly kind: StringValueType;
  /** Upper bound from RFC 5280 Appendix A.1 (ub-*) or the defining document. */
  readonly maxLength: number;
  /** An exact number of digits, for the fixed-size NumericString identifiers. */
  readonly digits?: number;
}

const specs: readonly AttributeSpec[] = [
  { name: "CN", oid: "2.5.4.3", kind: "utf8String", maxLength: 64 },
  { name: "surname", oid: "2.5.4.4", kind: "utf8String", maxLength: 32768 },
  { name: "serialNumber", oid: "2.5.4.5", kind: "printableString", maxLength: 64 },
  { name: "C", oid: "2.5.4.6", kind: "printableString", maxLength: 2 },
  { name: "L", oid: "2.5.4.7", kind: "utf8String", maxLength: 128 },
  { name: "ST", oid: "2.5.4.8", kind: "utf8String", maxLength: 128 },
  { name: "STREET", oid: "2.5.4.9", kind: "utf8String", maxLength: 128 },
  { name: "O", oid: "2.5.4.10", kind: "utf8String", maxLength: 64 },
  { name: "OU", oid: "2.5.4.11", kind: "utf8String", maxLength: 64 },
  { name: "title", oid: "2.5.4.12", kind: "utf8String", maxLength: 64 },
  { name: "businessCategory", oid: "2.5.4.15", kind: "utf8String", maxLength: 128 },
  { name: "postalCode", oid: "2.5.4.17", kind: "utf8String", maxLength: 40 },
  { name: "givenName", oid: "2.5.4.42", kind: "utf8String", maxLength: 32768 },
  { name: "initials", oid: "2.5.4.43", kind: "utf8String", maxLength: 32768 },
  { name: "generationQualifier", oid: "2.5.4.44", kind: "utf8String", maxLength: 32768 },
  { name: "dnQualifier", oid: "2.5.4.46", kind: "printableString", maxLength: 64 },
  { name: "pseudonym", oid: "2.5.4.65", kind: "utf8String", maxLength: 128 },
  { name: "organizationIdentifier", oid: "2.5.4.97", kind: "utf8String", maxLength: 64 },
  { name: "emailAddress", oid: "1.2.840.113549.1.9.1", kind: "ia5String", maxLength: 255 },
  { name: "UID", oid: "0.9.2342.19200300.100.1.1", kind: "utf8String", maxLength: 256 },
  { name: "DC", oid: "0.9.2342.19200300.100.1.25", kind: "ia5String", maxLength: 63 },
  { name: "jurisdictionL", oid: "1.3.6.1.4.1.311.60.2.1.1", kind: "utf8String", maxLength: 128 },
  { name: "jurisdictionST", oid: "1.3.6.1.4.1.311.60.2.1.2", kind: "utf8String", maxLength: 128 },
  { name: "jurisdictionC", oid: "1.3.6.1.4.1.311.60.2.1.3", kind: "printableString", maxLength: 2 },
  // Russian qualified-certificate subject identifiers (Federal Law 63-FZ;
  // FSB order 795 fixes each as a NumericString of an exact size).
  { name: "OGRN", oid: "1.2.643.100.1", kind: "numericString", maxLength: 13, digits: 13 },
  { name: "SNILS", oid: "1.2.643.100.3", kind: "numericString", maxLength: 11, digits: 11 },
  { name: "INNLE", oid: "1.2.643.100.4", kind: "numericString", maxLength: 10, digits: 10 },
  { name: "OGRNIP", oid: "1.2.643.100.5", kind: "numericString", maxLength: 15, digits: 15 },
  { name: "INN", oid: "1.2.643.3.131.1.1", kind: "numericString", maxLength: 12, digits: 12 },
];

/** Short names accepted in profiles and subjects. */
export const nameAttributeTypes: readonly string[] = specs.map((spec) => spec.name);

const encodeAttributeOid = createOidEncoder(specs.map((spec) => spec.oid));

const specsByKey: ReadonlyMap<string, AttributeSpec> = new Map(
  specs.flatMap((spec) => [[spec.name.toLowerCase(), spec] as const, [spec.oid, spec] as const]),
);

function lookupSpec(type: string): AttributeSpec | undefined {
  return specsByKey.get(type) ?? specsByKey.get(type.toLowerCase());
}

/** True for a known short name (any case) or a dotted OID. */
export function isNameAttributeType(type: string): boolean {
  return lookupSpec(type) !== undefined || isOid(type);
}

/** The canonical short name for a known type (any case, or its OID), the OID for other dotted OIDs, else undefined. */
export function canonicalNameAttributeType(type: string): string | undefined {
  const spec = lookupSpec(type);
  if (spec) return spec.name;
  return isOid(type) ? type : undefined;
}

/** The OID of a short name or dotted OID; undefined for an unknown name. */
export function nameAttributeOid(type: string): string | undefined {
  const spec = lookupSpec(type);
  if (spec) return spec.oid;
  return isOid(type) ? type : undefined;
}

/** The canonical short name for an OID, or the OID itself when we have no name for it. */
export function nameAttributeName(oid: string): string {
  return specsByKey.get(oid)?.name ?? oid;
}

/** Upper bound on the value length, in characters (RFC 5280 Appendix A.1). */
export function nameAttributeMaxLength(type: string): number {
  return lookupSpec(type)?.maxLength ?? 32768;
}

/** Checks one attribute value; returns a message for an invalid one, undefined when fine. */
export function nameAttributeProblem(attribute: NameAttribute): string | undefined {
  const spec = lookupSpec(attribute.type);
  if (!spec && !isOid(attribute.type)) return `unknown name attribute type "${attribute.type}"`;
  const label = spec?.name ?? attribute.type;
  const value = attribute.value;
  // RFC 5280 Appendix A.1: every DirectoryString is SIZE (1..ub).
  if (value.length === 0) return `${label} is empty`;
  if ((spec?.name === "C" || spec?.name === "jurisdictionC") && !/^[A-Z]{2}$/.test(value))
    return `${label} must be a two-letter upper-case ISO 3166 code`;
  const max = spec?.maxLength ?? 32768;
  // Length in characters (code points); UTF-16 length is an upper bound, so count only when it matters.
  if (value.length > max && [...value].length > max) return `${label} is longer than ${max} characters`;
  if (spec?.digits !== undefined && !new RegExp(`^[0-9]{${spec.digits}}$`).test(value))
    return `${label} must be exactly ${spec.digits} digits`;
  const problem = stringValueProblem(spec?.kind ?? attribute.valueType ?? "utf8String", value);
  return problem ? `${label} ${problem}` : undefined;
}

function encodeValue(spec: AttributeSpec | undefined, attribute: NameAttribute): Uint8Array {
  return encodeStringValue(spec?.kind ?? attribute.valueType ?? "utf8String", attribute.value);
}

/** DER AttributeTypeAndValue (RFC 5280 §4.1.2.4). */
export function encodeAttribute(attribute: NameAttribute): Uint8Array {
  const problem = nameAttributeProblem(attribute);
  if (problem) throw new ChanceryError("invalid_argument", problem);
  const spec = lookupSpec(attribute.type);
  return sequence([spec ? encodeAttributeOid(spec.oid) : derOid(attribute.type), encodeValue(spec, attribute)]);
}

/** DER Name: a SEQUENCE of single-valued RDNs in the given order. An empty list is the empty Name. */
export function encodeName(attributes: readonly NameAttribute[]): Uint8Array {
  return sequence(attributes.map((attribute) => setOf([encodeAttribute(attribute)])));
}

/** RFC 4514 §2.4 escaping of one attribute value. */
export function escapeRfc4514Value(value: string): string {
  let out = "";
  for (let i = 0; i < value.length; i++) {
    const ch = value[i]!;
    if (ch === "\0") out += "\\00";
    else if ('"+,;<>\\'.includes(ch)) out += `\\${ch}`;
    else if ((i === 0 && (ch === " " || ch === "#")) || (i === value.length - 1 && ch === " ")) out += `\\${ch}`;
    else out += ch;
  }
  return out;
}

/**
 * RFC 4514 §2.1 string form: RDNs in reverse order (least significant
 * first), separated by ",", multi-valued RDN members by "+".
 */
export function formatName(rdns: readonly (readonly NameAttribute[])[]): string {
  const parts: string[] = [];
  for (let i = rdns.length - 1; i >= 0; i--) {
    parts.push(rdns[i]!.map(formatNameAttribute).join("+"));
  }
  return parts.join(",");
}

/** RFC 4514 string of a Name built by encodeName (one attribute per RDN). */
export function formatAttributes(attributes: readonly NameAttribute[]): string {
  return formatName(attributes.map((attribute) => [attribute]));
}

/**
 * One `type=value` pair of an RFC 4514 string. RFC 4514 §2.4: a type we can
 * only show in dotted-decimal form gets its value as "#" and the hex of its
 * BER encoding (here the UTF8String encodeName would write).
 */
export function formatNameAttribute(attribute: NameAttribute): string {
  const spec = lookupSpec(attribute.type);
  if (!spec)
    return `${attribute.type}=#${Buffer.from(encodeValue(undefined, attribute)).toString("hex").toUpperCase()}`;
  return `${spec.name}=${escapeRfc4514Value(attribute.value)}`;
}
