import { ChanceryError } from "../errors.ts";
import { children, content, type DerNode, readOid, readString } from "./der-reader.ts";
import { contextConstructed, contextPrimitive, derOid, ia5Tagged, tags, tlv, tlvOf } from "./der-writer.ts";
import { formatIpAddress, parseIpAddress } from "./ip-address.ts";
import { parseName } from "./parse-name.ts";
import { encodeStringValue, type StringValueType, stringValueProblem } from "./string-value-type.ts";

/** The GeneralName forms the gateway issues (RFC 5280 §4.2.1.6). */
export const subjectAltNameTypes = ["dns", "ip", "email", "uri"] as const;
export type SubjectAltNameType = (typeof subjectAltNameTypes)[number];

export type SubjectAltName = GeneralSubjectAltName | OtherNameSubjectAltName;

export interface GeneralSubjectAltName {
  readonly type: SubjectAltNameType;
  readonly value: string;
}

/**
 * An otherName SAN (RFC 5280 §4.2.1.6), e.g. the Microsoft UPN. Front ends
 * name it by its OID registry entry (`name`, e.g. "upn"); policy fills in the
 * OID and value type from the registry, and only then can it be encoded.
 */
export interface OtherNameSubjectAltName {
  readonly type: "otherName";
  /** The OID registry entry, e.g. "upn". */
  readonly name: string;
  readonly value: string;
  readonly oid?: string | undefined;
  readonly valueType?: StringValueType | undefined;
}

/**
 * A GeneralName read from a CSR or certificate; forms we do not issue come
 * back as "other". An otherName is "other" too (its OID alone says nothing
 * of how to issue it): when its value is one of the string types the OID
 * registry can describe, `otherName` carries its OID and value, for the
 * registry to name (src/core/issuance/requested-sans.ts).
 */
export interface ParsedGeneralName {
  readonly type: SubjectAltNameType | "other";
  readonly value: string;
  readonly otherName?: ParsedOtherName | undefined;
}

/** An otherName with a string value, as read: OID, value and the ASN.1 string type it came in. */
export interface ParsedOtherName {
  readonly oid: string;
  readonly value: string;
  readonly valueType: StringValueType;
}

/**
 * The longest otherName string value read. Active Directory caps a
 * userPrincipalName at 1024 characters (its rangeUpper); registry values
 * are identifiers, shorter still. Longer is a broken or hostile request.
 */
export const maxOtherNameValueLength = 1024;

/** Universal tags of the string types a registry entry's value can take (string-value-type.ts). */
const stringValueTags: ReadonlyMap<number, StringValueType> = new Map([
  [0x0c, "utf8String"],
  [0x13, "printableString"],
  [0x16, "ia5String"],
  [0x12, "numericString"],
  [0x1e, "bmpString"],
]);

/** One key per distinct SAN, for de-duplication and comparison. */
export function subjectAltNameKey(san: SubjectAltName): string {
  return san.type === "otherName" ? `otherName:${san.name}:${san.value}` : `${san.type}:${san.value}`;
}

/** RFC 5280 §4.2.1.6 GeneralName context tags. */
const generalNameTags = { otherName: 0, email: 1, dns: 2, directoryName: 4, uri: 6, ip: 7, registeredId: 8 } as const;

/** DER GeneralName for one SAN entry. The value must already be validated and normalised. */
export function encodeGeneralName(name: SubjectAltName): Uint8Array {
  switch (name.type) {
    case "dns":
      return ia5Tagged(contextPrimitive(generalNameTags.dns), name.value);
    case "email":
      return ia5Tagged(contextPrimitive(generalNameTags.email), name.value);
    case "uri":
      return ia5Tagged(contextPrimitive(generalNameTags.uri), name.value);
    case "ip": {
      const bytes = parseIpAddress(name.value);
      if (!bytes) throw new ChanceryError("invalid_argument", `"${name.value}" is not an IP address`);
      return tlv(contextPrimitive(generalNameTags.ip), bytes);
    }
    case "otherName": {
      if (!name.oid || !name.valueType)
        throw new ChanceryError("internal", `otherName ${name.name} was not resolved through the OID registry`);
      // OtherName ::= SEQUENCE { type-id OID, value [0] EXPLICIT ANY }, IMPLICIT [0] in GeneralName.
      return tlvOf(contextConstructed(generalNameTags.otherName), [
        derOid(name.oid),
        tlvOf(contextConstructed(0), [encodeStringValue(name.valueType, name.value)]),
      ]);
    }
  }
}

/** Reads one GeneralName. */
export function parseGeneralName(buf: Uint8Array, node: DerNode): ParsedGeneralName {
  const number = node.tag & 0x1f;
  const constructed = (node.tag & 0x20) !== 0;
  if ((node.tag & 0xc0) !== 0x80) return { type: "other", value: `tag 0x${node.tag.toString(16)}` };
  if (!constructed) {
    // dNSName, rfc822Name and URI are IA5String under IMPLICIT tags; read them as such.
    const asIa5: DerNode = { ...node, tag: 0x16 };
    switch (number) {
      case generalNameTags.dns:
        return { type: "dns", value: readString(buf, asIa5) };
      case generalNameTags.email:
        return { type: "email", value: readString(buf, asIa5) };
      case generalNameTags.uri:
        return { type: "uri", value: readString(buf, asIa5) };
      case generalNameTags.ip: {
        const bytes = content(buf, node);
        if (bytes.length !== 4 && bytes.length !== 16)
          return { type: "other", value: `iPAddress of ${bytes.length} octets` };
        return { type: "ip", value: formatIpAddress(bytes) };
      }
      case generalNameTags.registeredId:
        return { type: "other", value: `registeredID:${readOid(buf, { ...node, tag: 0x06 })}` };
    }
  } else {
    switch (number) {
      case generalNameTags.otherName:
        return parseOtherName(buf, node);
      case generalNameTags.directoryName: {
        const [name] = children(buf, node);
        return { type: "other", value: `dirName:${name ? parseName(buf, name).text : ""}` };
      }
    }
  }
  return { type: "other", value: `[${number}]` };
}

/**
 * OtherName ::= SEQUENCE { type-id OBJECT IDENTIFIER, value [0] EXPLICIT ANY }
 * (RFC 5280 §4.2.1.6), under IMPLICIT [0] in GeneralName. A value of a
 * registry string type is read (the Microsoft UPN is a UTF8String,
 * MS-WCCE); anything else (another structure, a missing value) stays
 * "other" and is never issued. Malformed DER, a string that is not valid
 * for its own type, or a value longer than maxOtherNameValueLength throws
 * (parse-csr.ts makes that a bad_csr), as a malformed dNSName does.
 */
function parseOtherName(buf: Uint8Array, node: DerNode): ParsedGeneralName {
  const [typeId, explicit, ...rest] = children(buf, node);
  if (!typeId || typeId.tag !== tags.oid) return { type: "other", value: "otherName:?" };
  const oid = readOid(buf, typeId);
  const other: ParsedGeneralName = { type: "other", value: `otherName:${oid}` };
  if (!explicit || rest.length > 0 || explicit.tag !== contextConstructed(0)) return other;
  const [inner, ...extra] = children(buf, explicit);
  const valueType = inner && extra.length === 0 ? stringValueTags.get(inner.tag) : undefined;
  if (!inner || !valueType) return other;
  const tooLong = () =>
    new ChanceryError(
      "invalid_argument",
      `otherName ${oid} value is longer than ${maxOtherNameValueLength} characters`,
    );
  // Bounded before decoding too: UTF-8 takes at most four octets a character.
  if (inner.end - inner.contentStart > maxOtherNameValueLength * 4) throw tooLong();
  const value = readString(buf, inner);
  if (value.length > maxOtherNameValueLength) throw tooLong();
  // An empty value is read as such: the profile refuses it with a reason (string-value-type.ts).
  const problem = value.length === 0 ? undefined : stringValueProblem(valueType, value);
  if (problem) throw new ChanceryError("invalid_argument", `otherName ${oid} value ${problem}`);
  return { ...other, otherName: { oid, value, valueType } };
}
