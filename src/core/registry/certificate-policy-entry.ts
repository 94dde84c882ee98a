import { z } from "zod";
import { ChanceryError } from "../errors.ts";
import { isIa5String, isOid } from "../x509/der-writer.ts";
import { registryIdPattern } from "./object-identifier-entry.ts";

/** An entry of the certificate policy registry (RFC 5280 §4.2.1.4): a policy profiles can name. */
export interface CertificatePolicyEntry {
  /** The id profiles reference, e.g. "qes-individual". */
  readonly id: string;
  readonly oid: string;
  readonly displayName: string;
  /** id-qt-cps qualifier: where the certification practice statement is published. */
  readonly cpsUri: string | undefined;
  /** UserNotice explicitText, at most 200 characters. */
  readonly userNotice: string | undefined;
  readonly builtin: boolean;
  readonly createdAt: Date | undefined;
  readonly updatedAt: Date | undefined;
}

function builtin(
  entry: Pick<CertificatePolicyEntry, "id" | "oid" | "displayName" | "userNotice">,
): CertificatePolicyEntry {
  return { ...entry, cpsUri: undefined, builtin: true, createdAt: undefined, updatedAt: undefined };
}

/**
 * Built-in qualified electronic signature (QES) policies, from ETSI EN 319
 * 411-2 §5.3: QCP-n-qscd for natural persons and QCP-l-qscd for legal
 * persons, both with the private key on a qualified signature creation
 * device. A sole proprietor signs as a natural person, so that entry carries
 * QCP-n-qscd too, with its own notice text. National policies (e.g. the
 * Russian KC1-KA1 classes, 1.2.643.100.113.x) are added as custom entries.
 */
export const builtinCertificatePolicies: readonly CertificatePolicyEntry[] = [
  builtin({
    id: "qes-individual",
    oid: "0.4.0.194112.1.2",
    displayName: "Qualified certificate for an individual (ETSI QCP-n-qscd)",
    userNotice: "Qualified certificate for electronic signatures of a natural person",
  }),
  builtin({
    id: "qes-organisation",
    oid: "0.4.0.194112.1.3",
    displayName: "Qualified certificate for an organisation (ETSI QCP-l-qscd)",
    userNotice: "Qualified certificate for electronic seals of a legal person",
  }),
  builtin({
    id: "qes-sole-proprietor",
    oid: "0.4.0.194112.1.2",
    displayName: "Qualified certificate for a sole proprietor (ETSI QCP-n-qscd)",
    userNotice: "Qualified certificate for electronic signatures of a sole proprietor",
  }),
];

const builtinIds: ReadonlySet<string> = new Set(builtinCertificatePolicies.map((e) => e.id));

export function isBuiltinCertificatePolicy(id: string): boolean {
  return builtinIds.has(id);
}

const cpsUri = z
  .string()
  .url()
  .max(2048)
  .refine(isIa5String, { message: "must be ASCII (IA5String, RFC 5280 §4.2.1.4)" });
// RFC 5280 §4.2.1.4: explicitText SHOULD NOT exceed 200 characters.
const userNotice = z.string().min(1).max(200);

const newEntry = z
  .object({
    id: z.string().regex(registryIdPattern, {
      message: "1-63 lower-case letters, digits and '-', starting with a letter",
    }),
    oid: z.string().refine(isOid, { message: "must be a dotted OID such as 1.3.6.1.4.1.99999.1.1" }),
    displayName: z.string().min(1).max(200),
    cpsUri: cpsUri.optional(),
    userNotice: userNotice.optional(),
  })
  .strict();

const entryChange = z
  .object({
    displayName: z.string().min(1).max(200),
    cpsUri: cpsUri.optional(),
    userNotice: userNotice.optional(),
  })
  .strict();

export type NewCertificatePolicy = z.input<typeof newEntry>;
export type CertificatePolicyChange = z.input<typeof entryChange>;

function invalid(result: z.SafeParseError<unknown>): ChanceryError {
  const issue = result.error.issues[0]!;
  return new ChanceryError("invalid_argument", `certificate policy: ${issue.path.join(".")}: ${issue.message}`);
}

export function parseNewCertificatePolicy(input: unknown): z.output<typeof newEntry> {
  const result = newEntry.safeParse(input);
  if (!result.success) throw invalid(result);
  if (builtinIds.has(result.data.id))
    throw new ChanceryError("already_exists", `"${result.data.id}" is a built-in certificate policy`);
  return result.data;
}

export function parseCertificatePolicyChange(input: unknown): z.output<typeof entryChange> {
  const result = entryChange.safeParse(input);
  if (!result.success) throw invalid(result);
  return result.data;
}
