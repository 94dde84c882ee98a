import { z } from "zod";
import { ChanceryError } from "../errors.ts";
import { isOid } from "../x509/der-writer.ts";
import { subjectAltNameTypes } from "../x509/general-name.ts";
import { managedExtensionOids } from "../x509/managed-extensions.ts";
import { canonicalNameAttributeType, nameAttributeName, nameAttributeOid } from "../x509/name.ts";
import { oids } from "../x509/oids.ts";
import { type StringValueType, stringValueTypes } from "../x509/string-value-type.ts";

/**
 * Where a registered OID's value goes in a certificate:
 * - general_name: one of the GeneralName forms with no OID of their own
 *   (dNSName, iPAddress, rfc822Name, URI); built-in only;
 * - san_other_name: an otherName in subjectAltName (RFC 5280 §4.2.1.6);
 * - subject_attribute: an AttributeTypeAndValue in the subject (§4.1.2.4);
 * - extension: a non-standard extension whose extnValue is one string of
 *   the entry's value type (§4.2), given by a profile.
 */
export const placements = ["general_name", "san_other_name", "subject_attribute", "extension"] as const;
export type Placement = (typeof placements)[number];

/** An entry of the OID registry: a name profiles use for an OID, and how its values are encoded. */
export interface ObjectIdentifierEntry {
  /** The id profiles reference, e.g. "upn", "snils": 1-63 of [a-z0-9-], starting with a letter. */
  readonly id: string;
  /** Dotted OID; empty for the general_name built-ins, which are GeneralName choices, not OIDs. */
  readonly oid: string;
  readonly displayName: string;
  /** The ASN.1 string type of values; undefined only for the iPAddress built-in (an OCTET STRING). */
  readonly valueType: StringValueType | undefined;
  readonly placement: Placement;
  /** Values must fully match this regular expression, when given. */
  readonly valuePattern: string | undefined;
  readonly builtin: boolean;
  readonly createdAt: Date | undefined;
  readonly updatedAt: Date | undefined;
}

function builtin(
  entry: Pick<ObjectIdentifierEntry, "id" | "oid" | "displayName" | "valueType" | "placement" | "valuePattern">,
): ObjectIdentifierEntry {
  return { ...entry, builtin: true, createdAt: undefined, updatedAt: undefined };
}

function subjectBuiltin(id: string, displayName: string, digits: number): ObjectIdentifierEntry {
  const oid = nameAttributeOid(id);
  if (!oid) throw new Error(`no name attribute ${id}`);
  return builtin({
    id,
    oid,
    displayName,
    valueType: "numericString",
    placement: "subject_attribute",
    valuePattern: `[0-9]{${digits}}`,
  });
}

/**
 * Built-in entries: always present, never changed or deleted. The Russian
 * qualified-certificate identifiers are NumericStrings of a fixed size (FSB
 * order 795); the subject attribute table in x509/name.ts knows them too, so
 * profiles may also write them as SNILS, INN, ... like CN or O.
 */
export const builtinObjectIdentifiers: readonly ObjectIdentifierEntry[] = [
  builtin({
    id: "dns",
    oid: "",
    displayName: "DNS name",
    valueType: "ia5String",
    placement: "general_name",
    valuePattern: undefined,
  }),
  builtin({
    id: "ip",
    oid: "",
    displayName: "IP address",
    valueType: undefined,
    placement: "general_name",
    valuePattern: undefined,
  }),
  builtin({
    id: "email",
    oid: "",
    displayName: "Email address (rfc822Name)",
    valueType: "ia5String",
    placement: "general_name",
    valuePattern: undefined,
  }),
  builtin({
    id: "uri",
    oid: "",
    displayName: "URI",
    valueType: "ia5String",
    placement: "general_name",
    valuePattern: undefined,
  }),
  builtin({
    id: "upn",
    oid: oids.microsoftUpn,
    displayName: "User principal name (Microsoft UPN)",
    valueType: "utf8String",
    placement: "san_other_name",
    valuePattern: undefined,
  }),
  subjectBuiltin("snils", "SNILS (insurance account number of an individual)", 11),
  subjectBuiltin("inn", "INN (taxpayer number of an individual)", 12),
  subjectBuiltin("innle", "INNLE (taxpayer number of a legal entity)", 10),
  subjectBuiltin("ogrn", "OGRN (state registration number of a legal entity)", 13),
  subjectBuiltin("ogrnip", "OGRNIP (state registration number of a sole proprietor)", 15),
];

const builtinIds: ReadonlySet<string> = new Set(builtinObjectIdentifiers.map((e) => e.id));

export function isBuiltinObjectIdentifier(id: string): boolean {
  return builtinIds.has(id);
}

export const registryIdPattern = /^[a-z][a-z0-9-]{0,62}$/;

const valuePattern = z
  .string()
  .max(1000)
  .superRefine((value, ctx) => {
    try {
      new RegExp(`^(?:${value})$`);
    } catch {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `"${value}" is not a valid regular expression` });
    }
  });

const newEntry = z
  .object({
    id: z.string().regex(registryIdPattern, {
      message: "1-63 lower-case letters, digits and '-', starting with a letter",
    }),
    oid: z.string().refine(isOid, { message: "must be a dotted OID such as 1.3.6.1.4.1.99999.1" }),
    displayName: z.string().min(1).max(200),
    valueType: z.enum(stringValueTypes),
    placement: z.enum(["san_other_name", "subject_attribute", "extension"], {
      message: "must be san_other_name, subject_attribute or extension (general_name is built-in only)",
    }),
    valuePattern: valuePattern.optional(),
  })
  .strict();

export type NewObjectIdentifier = z.input<typeof newEntry>;

/** What may change on an entry: the OID, value type and placement are its identity and stay fixed. */
const entryChange = z
  .object({ displayName: z.string().min(1).max(200), valuePattern: valuePattern.optional() })
  .strict();

export type ObjectIdentifierChange = z.input<typeof entryChange>;

export function parseObjectIdentifierChange(input: unknown): z.output<typeof entryChange> {
  const result = entryChange.safeParse(input);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new ChanceryError("invalid_argument", `object identifier: ${issue.path.join(".")}: ${issue.message}`);
  }
  return result.data;
}

/** Validates an entry an admin creates; throws invalid_argument naming the field. */
export function parseNewObjectIdentifier(input: unknown): z.output<typeof newEntry> {
  const result = newEntry.safeParse(input);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new ChanceryError("invalid_argument", `object identifier: ${issue.path.join(".")}: ${issue.message}`);
  }
  const entry = result.data;
  if (builtinIds.has(entry.id) || (subjectAltNameTypes as readonly string[]).includes(entry.id))
    throw new ChanceryError("already_exists", `"${entry.id}" is a built-in registry entry`);
  // Profiles write subject attributes by short name (CN, O, SNILS, ...) or registry id in one list, so
  // an id must not read as an attribute name (which match case-insensitively).
  if (canonicalNameAttributeType(entry.id) !== undefined)
    throw new ChanceryError("invalid_argument", `object identifier: id: "${entry.id}" is a subject attribute name`);
  if (entry.placement === "extension" && managedExtensionOids.has(entry.oid))
    throw new ChanceryError(
      "invalid_argument",
      `object identifier: oid: ${entry.oid} is an extension the gateway builds from profile fields`,
    );
  if (entry.placement === "subject_attribute" && nameAttributeName(entry.oid) !== entry.oid)
    throw new ChanceryError(
      "invalid_argument",
      `object identifier: oid: ${entry.oid} is the built-in subject attribute ${nameAttributeName(entry.oid)}`,
    );
  return entry;
}

export function isPlacement(value: string): value is Placement {
  return (placements as readonly string[]).includes(value);
}
