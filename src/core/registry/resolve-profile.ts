import { ChanceryError, type ErrorCode } from "../errors.ts";
import type { InlineCertificatePolicy, InlineCustomExtension, Profile } from "../profiles/profile-schema.ts";
import { canonicalNameAttributeType } from "../x509/name.ts";
import { encodeStringValue, type StringValueType, stringValueProblem } from "../x509/string-value-type.ts";
import { builtinCertificatePolicies, type CertificatePolicyEntry } from "./certificate-policy-entry.ts";
import { builtinObjectIdentifiers, type ObjectIdentifierEntry, type Placement } from "./object-identifier-entry.ts";

/** The registries as read at one moment: built-ins first, then the stored entries. */
export interface RegistrySnapshot {
  objectIdentifier(id: string): ObjectIdentifierEntry | undefined;
  certificatePolicy(id: string): CertificatePolicyEntry | undefined;
}

export function createRegistrySnapshot(
  stored: {
    objectIdentifiers: readonly ObjectIdentifierEntry[];
    certificatePolicies: readonly CertificatePolicyEntry[];
  } = {
    objectIdentifiers: [],
    certificatePolicies: [],
  },
): RegistrySnapshot {
  const oidsById = new Map([...builtinObjectIdentifiers, ...stored.objectIdentifiers].map((e) => [e.id, e]));
  const policiesById = new Map([...builtinCertificatePolicies, ...stored.certificatePolicies].map((e) => [e.id, e]));
  return {
    objectIdentifier: (id) => oidsById.get(id),
    certificatePolicy: (id) => policiesById.get(id),
  };
}

/** A registry value rule compiled for the issuance path. */
export interface RegisteredValue {
  readonly id: string;
  readonly oid: string;
  readonly displayName: string;
  readonly valueType: StringValueType;
  readonly pattern: RegExp | undefined;
}

/**
 * A profile with its registry references resolved: certificate policies and
 * custom extensions are all inline, registry subject attributes are written
 * as OIDs, and the value rules for them and for otherName SANs are at hand.
 */
export interface ResolvedProfile {
  readonly profile: Profile;
  /** Registry subject attributes the profile keeps, by OID. */
  readonly subjectAttributes: ReadonlyMap<string, RegisteredValue>;
  /** otherName SANs the profile allows, by registry id. */
  readonly otherNames: ReadonlyMap<string, RegisteredValue>;
}

/** Ids of the registry entries a profile names, to lock them while the profile is written. */
export function registryReferencesOf(profile: Profile): { objectIdentifiers: string[]; certificatePolicies: string[] } {
  const ids = new Set<string>(profile.san.otherNames);
  for (const type of [...profile.subject.keep, ...profile.subject.required])
    if (canonicalNameAttributeType(type) === undefined) ids.add(type);
  for (const extension of profile.customExtensions)
    if ("objectIdentifier" in extension) ids.add(extension.objectIdentifier);
  const policies = new Set<string>();
  for (const policy of profile.certificatePolicies) if ("policy" in policy) policies.add(policy.policy);
  return { objectIdentifiers: [...ids].sort(), certificatePolicies: [...policies].sort() };
}

/**
 * Resolves a profile against the registries. A reference to an entry that
 * does not exist, or exists for another placement, is an error with `code`:
 * invalid_argument when an admin writes the profile, failed_precondition
 * when issuance meets it.
 */
export function resolveProfile(
  profile: Profile,
  registry: RegistrySnapshot,
  code: ErrorCode = "invalid_argument",
): ResolvedProfile {
  const fail = (path: string, message: string) =>
    new ChanceryError(code, `profile "${profile.name}": ${path}: ${message}`);

  function entry(path: string, id: string, placement: Placement): RegisteredValue {
    const found = registry.objectIdentifier(id);
    if (!found) throw fail(path, `no entry "${id}" in the OID registry`);
    if (found.placement !== placement)
      throw fail(path, `OID registry entry "${id}" is a ${found.placement} entry, not ${placement}`);
    if (!found.valueType) throw fail(path, `OID registry entry "${id}" has no string value type`);
    return {
      id,
      oid: found.oid,
      displayName: found.displayName,
      valueType: found.valueType,
      pattern: found.valuePattern ? new RegExp(`^(?:${found.valuePattern})$`) : undefined,
    };
  }

  const otherNames = new Map<string, RegisteredValue>();
  for (const [i, id] of profile.san.otherNames.entries())
    otherNames.set(id, entry(`san.otherNames.${i}`, id, "san_other_name"));

  const subjectAttributes = new Map<string, RegisteredValue>();
  const attributeType = (path: string, type: string): string => {
    if (canonicalNameAttributeType(type) !== undefined) return type;
    const value = entry(path, type, "subject_attribute");
    subjectAttributes.set(value.oid, value);
    return value.oid;
  };
  const keep = profile.subject.keep.map((type, i) => attributeType(`subject.keep.${i}`, type));
  const required = profile.subject.required.map((type, i) => attributeType(`subject.required.${i}`, type));

  const certificatePolicies: InlineCertificatePolicy[] = profile.certificatePolicies.map((policy, i) => {
    if (!("policy" in policy)) return policy;
    const found = registry.certificatePolicy(policy.policy);
    if (!found)
      throw fail(`certificatePolicies.${i}`, `no entry "${policy.policy}" in the certificate policy registry`);
    return {
      oid: found.oid,
      ...(found.cpsUri === undefined ? {} : { cpsUri: found.cpsUri }),
      ...(found.userNotice === undefined ? {} : { userNotice: found.userNotice }),
    };
  });
  const policyOids = certificatePolicies.map((p) => p.oid);
  if (new Set(policyOids).size !== policyOids.length)
    throw fail("certificatePolicies", "names one policy OID twice (RFC 5280 §4.2.1.4)");

  const customExtensions: InlineCustomExtension[] = profile.customExtensions.map((extension, i) => {
    if (!("objectIdentifier" in extension)) return extension;
    const rule = entry(`customExtensions.${i}`, extension.objectIdentifier, "extension");
    const problem = stringValueProblem(rule.valueType, extension.value) ?? patternProblem(rule, extension.value);
    if (problem) throw fail(`customExtensions.${i}.value`, `"${extension.value}" ${problem}`);
    return {
      oid: rule.oid,
      critical: extension.critical,
      valueBase64: Buffer.from(encodeStringValue(rule.valueType, extension.value)).toString("base64"),
    };
  });
  const extensionOids = customExtensions.map((e) => e.oid);
  if (new Set(extensionOids).size !== extensionOids.length)
    throw fail("customExtensions", "names one extension OID twice (RFC 5280 §4.2)");

  return {
    profile: {
      ...profile,
      subject: { ...profile.subject, keep, required },
      certificatePolicies,
      customExtensions,
    },
    subjectAttributes,
    otherNames,
  };
}

/** Why `value` does not match the entry's pattern, or undefined. */
export function patternProblem(rule: RegisteredValue, value: string): string | undefined {
  return rule.pattern && !rule.pattern.test(value) ? `does not match the pattern of ${rule.displayName}` : undefined;
}

/**
 * The certificate policies and custom extensions of a profile, which must
 * name only built-in registry entries or be resolved already; custom
 * references left here mean a caller skipped resolveProfile.
 */
export function concretePolicyParts(profile: Profile): {
  certificatePolicies: InlineCertificatePolicy[];
  customExtensions: InlineCustomExtension[];
} {
  // Only the policy parts are resolved here: a resolved profile keeps san.otherNames as registry ids
  // (policy names otherName SANs by id), and a custom one is not among the built-ins.
  const policyParts = { ...profile, san: { ...profile.san, otherNames: [] } };
  const concrete = resolveProfile(policyParts, createRegistrySnapshot(), "internal").profile;
  return {
    certificatePolicies: concrete.certificatePolicies.filter((p): p is InlineCertificatePolicy => !("policy" in p)),
    customExtensions: concrete.customExtensions.filter((e): e is InlineCustomExtension => !("objectIdentifier" in e)),
  };
}
