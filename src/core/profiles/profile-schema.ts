import { z } from "zod";
import { ChanceryError } from "../errors.ts";
import { registryIdPattern } from "../registry/object-identifier-entry.ts";
import { readRoot } from "../x509/der-reader.ts";
import { isIa5String, isOid } from "../x509/der-writer.ts";
import { nameConstraintsExtension } from "../x509/extensions.ts";
import { subjectAltNameTypes } from "../x509/general-name.ts";
import { extendedKeyUsageOid, extendedKeyUsageOids, type KeyUsageName, keyUsageNames } from "../x509/key-usage.ts";
import { managedExtensionOids } from "../x509/managed-extensions.ts";
import { canonicalNameAttributeType } from "../x509/name.ts";
import { decodeBase64Strict } from "../x509/pem.ts";
import { parseDuration } from "./duration.ts";

/**
 * A certificate profile: everything policy needs to turn an approved
 * request into certificate content, and everything the builder needs to
 * choose extensions. Profiles are stored as JSON; the parsed form below is
 * JSON too (durations in seconds, regexes and DER as strings), so parsing
 * a parsed profile again is a no-op.
 */

const duration = z.union([z.number(), z.string()]).transform((value, ctx) => {
  const seconds = parseDuration(value);
  if (seconds === undefined) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'expected seconds or a duration such as "90d" or "8760h"' });
    return z.NEVER;
  }
  return seconds;
});

const oid = z.string().refine(isOid, { message: "must be a dotted OID such as 1.3.6.1.4.1.99999.1" });

const pattern = z.string().superRefine((value, ctx) => {
  try {
    new RegExp(`^(?:${value})$`);
  } catch {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `"${value}" is not a valid regular expression` });
  }
});

const ascii = z.string().min(1).refine(isIa5String, { message: "must be ASCII" });

const keyUsageName = z.enum(keyUsageNames as [KeyUsageName, ...KeyUsageName[]]);

const extendedKeyUsage = z.string().refine((value) => value in extendedKeyUsageOids || isOid(value), {
  message: `must be one of ${Object.keys(extendedKeyUsageOids).join(", ")} or a dotted OID`,
});

/** The id of an OID or certificate policy registry entry (src/core/registry). */
const registryId = z.string().regex(registryIdPattern, {
  message: "must be a registry id: 1-63 lower-case letters, digits and '-', starting with a letter",
});

/**
 * A subject attribute: a known short name (any case) or OID, kept in
 * canonical form, or the id of a subject_attribute entry in the OID
 * registry (the profile service checks that it exists).
 */
const nameAttributeType = z.string().transform((value, ctx) => {
  const canonical = canonicalNameAttributeType(value);
  if (canonical !== undefined) return canonical;
  if (registryIdPattern.test(value)) return value;
  ctx.addIssue({
    code: z.ZodIssueCode.custom,
    message: `"${value}" is not a known name attribute (CN, O, OU, C, ST, L, serialNumber, emailAddress, UID, DC, SNILS, INN, ...), an OID or an OID registry id`,
  });
  return z.NEVER;
});

const subtrees = z
  .object({
    dns: z.array(ascii).optional(),
    ip: z.array(z.string()).optional(),
    email: z.array(ascii).optional(),
    uri: z.array(ascii).optional(),
  })
  .strict();

const nameConstraints = z
  .object({ permitted: subtrees.optional(), excluded: subtrees.optional() })
  .strict()
  .superRefine((value, ctx) => {
    try {
      nameConstraintsExtension(value);
    } catch (err) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: err instanceof Error ? err.message : String(err) });
    }
  });

const inlineCustomExtension = z
  .object({
    oid: oid.refine((value) => !managedExtensionOids.has(value), {
      message: "this extension is built from other profile fields and cannot be given as a custom extension",
    }),
    critical: z.boolean().default(false),
    /** Base64 of the DER that goes inside extnValue. */
    valueBase64: z.string().superRefine((value, ctx) => {
      const der = decodeBase64Strict(value);
      let ok = der !== undefined;
      if (der) {
        try {
          readRoot(der);
        } catch {
          ok = false;
        }
      }
      if (!ok) ctx.addIssue({ code: z.ZodIssueCode.custom, message: "must be base64 of one well-formed DER element" });
    }),
  })
  .strict();

/** An extension named by an "extension" entry of the OID registry, its value one string of the entry's type. */
const registeredCustomExtension = z
  .object({
    objectIdentifier: registryId,
    critical: z.boolean().default(false),
    value: z.string().min(1).max(4096),
  })
  .strict();

const customExtension = z.union([inlineCustomExtension, registeredCustomExtension]);

const inlineCertificatePolicy = z
  .object({
    oid,
    cpsUri: z
      .string()
      .url()
      .refine(isIa5String, { message: "must be ASCII (IA5String, RFC 5280 §4.2.1.4)" })
      .optional(),
    // RFC 5280 §4.2.1.4: explicitText SHOULD NOT exceed 200 characters.
    userNotice: z.string().min(1).max(200).optional(),
  })
  .strict();

/** A policy from the certificate policy registry, by id (e.g. "qes-individual"). */
const registeredCertificatePolicy = z.object({ policy: registryId }).strict();

const certificatePolicy = z.union([inlineCertificatePolicy, registeredCertificatePolicy]);

/** A fraction of a certificate's lifetime, strictly between 0 and 1. */
const lifetimeFraction = z.number().gt(0).lt(1);

/** RFC 9773 renewal window of a profile without one: from 2/3 to 90% of the lifetime. */
export const defaultRenewalWindow = { start: 2 / 3, end: 0.9 } as const;

const ecdsaCurve = z.enum(["P-256", "P-384", "P-521"]);

export const profileSchema = z
  .object({
    name: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, { message: "lower-case letters, digits and '-', at most 63 characters" }),
    description: z.string().max(1000).default(""),
    validity: z.object({ default: duration, max: duration }).strict(),
    keyAlgorithms: z
      .object({
        ecdsaCurves: z.array(ecdsaCurve).default(["P-256", "P-384"]),
        rsa: z
          .object({
            allowed: z.boolean().default(true),
            // CA/B BRs §6.1.5 and NIST SP 800-131A: at least 2048 bits.
            minBits: z.number().int().min(2048).default(2048),
            maxBits: z.number().int().max(8192).default(8192),
          })
          .strict()
          .default({}),
        ed25519: z.boolean().default(true),
        ed448: z.boolean().default(false),
      })
      .strict()
      .default({}),
    /** KeyUsage bits for every key type (bits meaningless for the key type are dropped, see keyUsagesForKey). */
    keyUsage: z.array(keyUsageName).min(1).default(["digitalSignature"]),
    /** Extra KeyUsage bits for RSA subject keys only, e.g. keyEncipherment for TLS 1.2 RSA key exchange. */
    rsaKeyUsage: z.array(keyUsageName).default([]),
    extendedKeyUsage: z.array(extendedKeyUsage).default([]),
    basicConstraints: z
      .object({ ca: z.boolean().default(false), pathLen: z.number().int().min(0).max(255).optional() })
      .strict()
      .default({}),
    /** Only for CA profiles (RFC 5280 §4.2.1.10: name constraints appear in CA certificates). */
    nameConstraints: nameConstraints.optional(),
    san: z
      .object({
        allowedTypes: z.array(z.enum(subjectAltNameTypes)).default(["dns"]),
        /** otherName SANs allowed, by OID registry id (san_other_name entries such as "upn"). */
        otherNames: z.array(registryId).default([]),
        /** Per type, values must fully match at least one of these regular expressions (when any are given). */
        patterns: z
          .object({
            dns: z.array(pattern).optional(),
            ip: z.array(pattern).optional(),
            email: z.array(pattern).optional(),
            uri: z.array(pattern).optional(),
          })
          .strict()
          .default({}),
        required: z.boolean().default(false),
        maxCount: z.number().int().min(1).max(1000).default(100),
        allowWildcard: z.boolean().default(false),
      })
      .strict()
      .default({}),
    subject: z
      .object({
        /** Attributes copied into the certificate; every other attribute is dropped. */
        keep: z.array(nameAttributeType).default(["CN"]),
        required: z.array(nameAttributeType).default([]),
        /** CA/B BRs (subscriber subject): a commonName, if present, must repeat one of the SAN values. */
        commonNameMustBeSan: z.boolean().default(false),
      })
      .strict()
      .default({}),
    certificatePolicies: z.array(certificatePolicy).default([]),
    customExtensions: z.array(customExtension).default([]),
    /** RFC 7633 TLS feature status_request. */
    ocspMustStaple: z.boolean().default(false),
    revocationInfo: z
      .object({
        crlDistributionPoint: z.boolean().default(true),
        ocsp: z.boolean().default(true),
        caIssuers: z.boolean().default(true),
      })
      .strict()
      .default({}),
    /**
     * Certificates whose validity period is at most `thresholdSeconds` carry
     * no CRL/OCSP pointers (CA/B BRs §1.6.1 short-lived certificates), and
     * the RFC 9608 noRevAvail extension when `noRevAvail` is set. 0 disables.
     */
    shortLived: z
      .object({ thresholdSeconds: duration.default(0), noRevAvail: z.boolean().default(true) })
      .strict()
      .default({}),
    /** Read by the approval queue: requests under the profile, and changes to the profile itself, wait for approval. */
    requiresApproval: z
      .object({ required: z.boolean().default(false), approvers: z.number().int().min(1).max(10).default(1) })
      .strict()
      .default({}),
    /** notBefore = now - backdate, to absorb relying parties' clock skew. At most a day. */
    backdateSeconds: duration.default(60).refine((s) => s <= 86_400, { message: "must be at most 1 day" }),
    /**
     * When ACME clients are told to renew (RFC 9773 suggestedWindow), as
     * fractions of the lifetime from notBefore. Read by src/core/acme/renewal-info.ts.
     */
    renewalWindow: z
      .object({
        start: lifetimeFraction.default(defaultRenewalWindow.start),
        end: lifetimeFraction.default(defaultRenewalWindow.end),
      })
      .strict()
      .default({}),
  })
  .strict()
  .superRefine((profile, ctx) => {
    const issue = (path: (string | number)[], message: string) =>
      ctx.addIssue({ code: z.ZodIssueCode.custom, path, message });
    if (profile.validity.max < 1) issue(["validity", "max"], "must be at least 1 second");
    if (profile.validity.default < 1) issue(["validity", "default"], "must be at least 1 second");
    if (profile.validity.default > profile.validity.max) issue(["validity", "default"], "must not exceed validity.max");

    const keys = profile.keyAlgorithms;
    if (keys.ecdsaCurves.length === 0 && !keys.rsa.allowed && !keys.ed25519 && !keys.ed448)
      issue(["keyAlgorithms"], "allows no key algorithm at all");
    if (keys.rsa.minBits > keys.rsa.maxBits) issue(["keyAlgorithms", "rsa", "minBits"], "must not exceed maxBits");

    const allUsages = [...profile.keyUsage, ...profile.rsaKeyUsage];
    if (profile.basicConstraints.ca) {
      // RFC 5280 §4.2.1.9: a CA certificate asserts keyCertSign.
      if (!profile.keyUsage.includes("keyCertSign"))
        issue(["keyUsage"], "a CA profile (basicConstraints.ca) must include keyCertSign");
    } else {
      // RFC 5280 §4.2.1.3: keyCertSign requires cA TRUE.
      if (allUsages.includes("keyCertSign")) issue(["keyUsage"], "keyCertSign requires basicConstraints.ca: true");
      if (profile.basicConstraints.pathLen !== undefined)
        issue(["basicConstraints", "pathLen"], "pathLen requires basicConstraints.ca: true");
      if (profile.nameConstraints) issue(["nameConstraints"], "name constraints belong in CA profiles only");
    }

    const eku = profile.extendedKeyUsage.map(extendedKeyUsageOid);
    if (new Set(eku).size !== eku.length) issue(["extendedKeyUsage"], "lists a purpose twice");

    const san = profile.san;
    if (san.required && san.allowedTypes.length === 0 && san.otherNames.length === 0)
      issue(["san", "required"], "requires a SAN but allows no type");
    for (const type of Object.keys(san.patterns) as (keyof typeof san.patterns)[])
      if (san.patterns[type] && !san.allowedTypes.includes(type))
        issue(["san", "patterns", type], `patterns given for ${type}, which allowedTypes does not allow`);
    for (const [i, type] of profile.subject.required.entries())
      if (!profile.subject.keep.includes(type))
        issue(["subject", "required", i], `${type} is required but not in subject.keep, so it would be dropped`);

    // Registry references are compared by id here; the profile service compares their OIDs.
    const policyKeys = profile.certificatePolicies.map((p) => ("policy" in p ? `ref:${p.policy}` : p.oid));
    if (new Set(policyKeys).size !== policyKeys.length)
      issue(["certificatePolicies"], "lists a policy OID twice (RFC 5280 §4.2.1.4)");
    const customKeys = profile.customExtensions.map((e) =>
      "objectIdentifier" in e ? `ref:${e.objectIdentifier}` : e.oid,
    );
    if (new Set(customKeys).size !== customKeys.length)
      issue(["customExtensions"], "lists an extension OID twice (RFC 5280 §4.2)");
    if (new Set(san.otherNames).size !== san.otherNames.length) issue(["san", "otherNames"], "lists a name twice");

    if (profile.ocspMustStaple && !profile.revocationInfo.ocsp)
      issue(["ocspMustStaple"], "must-staple needs an OCSP URL: set revocationInfo.ocsp");
    if (profile.shortLived.thresholdSeconds > profile.validity.max)
      issue(["shortLived", "thresholdSeconds"], "is larger than validity.max: every certificate would be short-lived");
    if (profile.renewalWindow.start >= profile.renewalWindow.end)
      issue(["renewalWindow", "start"], "must be before renewalWindow.end");
  });

export type Profile = z.output<typeof profileSchema>;
export type ProfileCertificatePolicy = Profile["certificatePolicies"][number];
export type ProfileCustomExtension = Profile["customExtensions"][number];
export type InlineCertificatePolicy = z.output<typeof inlineCertificatePolicy>;
export type InlineCustomExtension = z.output<typeof inlineCustomExtension>;
export type ProfileInput = z.input<typeof profileSchema>;

/**
 * Validates a profile (from the admin API, config or the database). Throws
 * invalid_argument naming the first offending field, e.g.
 * `profile "tls-server": validity.default: must not exceed validity.max`.
 */
export function parseProfile(input: unknown): Profile {
  const result = profileSchema.safeParse(input);
  if (result.success) return result.data;
  const name =
    typeof input === "object" && input !== null && typeof (input as { name?: unknown }).name === "string"
      ? ` "${(input as { name: string }).name}"`
      : "";
  const issues = result.error.issues.map((i) => `${i.path.length > 0 ? i.path.join(".") : "(profile)"}: ${i.message}`);
  throw new ChanceryError("invalid_argument", `profile${name}: ${issues[0]}`, { detail: { issues } });
}
