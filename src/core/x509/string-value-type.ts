import {
  bmpString,
  ia5String,
  isBmpString,
  isIa5String,
  isNumericString,
  isPrintableString,
  numericString,
  printableString,
  utf8String,
} from "./der-writer.ts";

/**
 * The ASN.1 string types a registered OID's value can take. These cover the
 * attribute and otherName values met in practice: UTF8String for
 * DirectoryString attributes and the Microsoft UPN (RFC 5280 §4.1.2.4), the
 * NumericString Russian qualified-certificate identifiers (SNILS, INN,
 * OGRN, OGRNIP), PrintableString and IA5String for legacy attributes, and
 * BMPString for Microsoft's certificate template name.
 */
export const stringValueTypes = ["utf8String", "printableString", "ia5String", "numericString", "bmpString"] as const;
export type StringValueType = (typeof stringValueTypes)[number];

export function isStringValueType(value: string): value is StringValueType {
  return (stringValueTypes as readonly string[]).includes(value);
}

/** Why `value` cannot be carried by `type`, or undefined when it can. */
export function stringValueProblem(type: StringValueType, value: string): string | undefined {
  if (value.length === 0) return "is empty";
  switch (type) {
    case "utf8String":
      return undefined;
    case "printableString":
      return isPrintableString(value) ? undefined : "has characters a PrintableString cannot carry";
    case "ia5String":
      return isIa5String(value) ? undefined : "must be ASCII (IA5String)";
    case "numericString":
      return isNumericString(value) ? undefined : "must be digits (NumericString)";
    case "bmpString":
      return isBmpString(value) ? undefined : "has characters outside the Basic Multilingual Plane (BMPString)";
  }
}

/** DER of `value` as `type`; the value must have passed stringValueProblem. */
export function encodeStringValue(type: StringValueType, value: string): Uint8Array {
  switch (type) {
    case "utf8String":
      return utf8String(value);
    case "printableString":
      return printableString(value);
    case "ia5String":
      return ia5String(value);
    case "numericString":
      return numericString(value);
    case "bmpString":
      return bmpString(value);
  }
}
