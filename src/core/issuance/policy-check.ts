import { ChanceryError } from "../errors.ts";
import type { PublicKeyInfo } from "../keys/public-key-info.ts";
import type { Profile } from "../profiles/profile-schema.ts";
import {
  createRegistrySnapshot,
  patternProblem,
  type ResolvedProfile,
  resolveProfile,
} from "../registry/resolve-profile.ts";
import {
  type GeneralSubjectAltName,
  type OtherNameSubjectAltName,
  type SubjectAltName,
  type SubjectAltNameType,
  subjectAltNameKey,
} from "../x509/general-name.ts";
import { formatIpAddress, parseIpAddress } from "../x509/ip-address.ts";
import { keyUsagesForKey } from "../x509/key-usage.ts";
import { type NameAttribute, nameAttributeName, nameAttributeOid, nameAttributeProblem } from "../x509/name.ts";
import type { ParsedCsr } from "../x509/parse-csr.ts";
import { stringValueProblem } from "../x509/string-value-type.ts";
import type { CertificateContent } from "./certificate-content.ts";
import type { IssuanceRequest } from "./issuance-request.ts";
import { normalizeSubjectAltName } from "./subject-alt-name-syntax.ts";

/** What policy needs to know about the issuing CA certificate. */
export interface IssuerFacts {
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly publicKeySpki: Uint8Array;
}

export interface PolicyCheckInput {
  readonly csr: ParsedCsr;
  readonly request: Pick<IssuanceRequest, "approved" | "validity">;
  readonly issuer: IssuerFacts;
  /** The clock reading for this issuance (injected; DESIGN rule 4). */
  readonly now: Date;
}

export interface PolicyChecker {
  readonly profile: Profile;
  /** The final certificate content, or a ChanceryError "policy_violation" naming the broken rule. */
  check(input: PolicyCheckInput): CertificateContent;
}

function violation(rule: string, message: string): ChanceryError {
  return new ChanceryError("policy_violation", `${rule}: ${message}`, { detail: { rule } });
}

const second = 1000;

function floorToSecond(ms: number): number {
  return Math.floor(ms / second) * second;
}

/**
 * Compiles a profile's policy once (regexes, attribute sets) so the check
 * itself stays cheap on the issuance hot path. Whatever the CSR asks for
 * beyond subject and key (extensions, CA:TRUE, keyCertSign, its own SANs)
 * is ignored: extensions come from the profile, SANs from the approved
 * request (DESIGN rule 10).
 */
export function createPolicyChecker(source: Profile | ResolvedProfile): PolicyChecker {
  // A bare profile may name built-in registry entries only (tests, benchmarks, bootstrap).
  const resolved = "subjectAttributes" in source ? source : resolveProfile(source, createRegistrySnapshot());
  const profile = resolved.profile;
  const patterns = new Map<SubjectAltNameType, RegExp[]>();
  for (const [type, list] of Object.entries(profile.san.patterns) as [SubjectAltNameType, string[] | undefined][])
    if (list && list.length > 0)
      patterns.set(
        type,
        list.map((p) => new RegExp(`^(?:${p})$`)),
      );
  const allowedSanTypes = new Set<SubjectAltNameType>(profile.san.allowedTypes);
  const keptOids = new Set(profile.subject.keep.map((t) => nameAttributeOid(t)!));
  const requiredOids = profile.subject.required.map((t) => [t, nameAttributeOid(t)!] as const);
  const commonNameOid = nameAttributeOid("CN")!;
  const registeredIds = new Map([...resolved.subjectAttributes.values()].map((r) => [r.id, r.oid]));

  function checkKey(key: PublicKeyInfo, spki: Uint8Array, issuer: IssuerFacts): void {
    const allowed = profile.keyAlgorithms;
    switch (key.type) {
      case "ec":
        if (!allowed.ecdsaCurves.includes(key.curve))
          throw violation(
            "keyAlgorithms.ecdsaCurves",
            `ECDSA ${key.curve} keys are not allowed by profile ${profile.name}` +
              (allowed.ecdsaCurves.length > 0 ? ` (allowed: ${allowed.ecdsaCurves.join(", ")})` : ""),
          );
        break;
      case "rsa":
        if (!allowed.rsa.allowed)
          throw violation("keyAlgorithms.rsa", `RSA keys are not allowed by profile ${profile.name}`);
        if (key.bits < allowed.rsa.minBits)
          throw violation(
            "keyAlgorithms.rsa.minBits",
            `RSA key of ${key.bits} bits is below the minimum of ${allowed.rsa.minBits}`,
          );
        if (key.bits > allowed.rsa.maxBits)
          throw violation(
            "keyAlgorithms.rsa.maxBits",
            `RSA key of ${key.bits} bits is above the maximum of ${allowed.rsa.maxBits}`,
          );
        // CA/B BRs §6.1.6: the public exponent is odd and at least 3.
        if (key.publicExponent < 3n || key.publicExponent % 2n === 0n)
          throw violation("keyAlgorithms.rsa", "RSA public exponent must be odd and at least 3");
        break;
      case "ed25519":
        if (!allowed.ed25519)
          throw violation("keyAlgorithms.ed25519", `Ed25519 keys are not allowed by profile ${profile.name}`);
        break;
      case "ed448":
        if (!allowed.ed448)
          throw violation("keyAlgorithms.ed448", `Ed448 keys are not allowed by profile ${profile.name}`);
        break;
    }
    const usages = keyUsagesForKey(
      key.type === "rsa" ? [...profile.keyUsage, ...profile.rsaKeyUsage] : profile.keyUsage,
      key,
    );
    if (usages.length === 0)
      throw violation("keyUsage", `none of the profile's key usages can be asserted for a ${key.type} key`);
    if (Buffer.from(spki).equals(issuer.publicKeySpki))
      throw violation("key", "the request reuses the issuing CA's own public key");
  }

  function checkOtherName(i: number, candidate: OtherNameSubjectAltName): OtherNameSubjectAltName {
    const rule = resolved.otherNames.get(candidate.name);
    if (!rule)
      throw violation("san.otherNames", `otherName ${candidate.name} SANs are not allowed by profile ${profile.name}`);
    const problem = stringValueProblem(rule.valueType, candidate.value) ?? patternProblem(rule, candidate.value);
    if (problem) throw violation(`san[${i}]`, `${rule.displayName} "${candidate.value}" ${problem}`);
    return { type: "otherName", name: rule.id, value: candidate.value, oid: rule.oid, valueType: rule.valueType };
  }

  function checkGeneralName(i: number, candidate: GeneralSubjectAltName): GeneralSubjectAltName {
    if (!allowedSanTypes.has(candidate.type))
      throw violation("san.allowedTypes", `${candidate.type} SANs are not allowed by profile ${profile.name}`);
    const result = normalizeSubjectAltName(candidate, profile.san.allowWildcard);
    if (!result.ok) throw violation(`san[${i}]`, `${candidate.type} "${candidate.value}" ${result.reason}`);
    const san = result.san;
    const typePatterns = patterns.get(san.type);
    if (typePatterns && !typePatterns.some((re) => re.test(san.value)))
      throw violation(`san.patterns.${san.type}`, `"${san.value}" matches none of the profile's ${san.type} patterns`);
    return san;
  }

  function checkSans(requested: readonly SubjectAltName[]): SubjectAltName[] {
    const out: SubjectAltName[] = [];
    const seen = new Set<string>();
    for (const [i, candidate] of requested.entries()) {
      const san = candidate.type === "otherName" ? checkOtherName(i, candidate) : checkGeneralName(i, candidate);
      const key = subjectAltNameKey(san);
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(san);
    }
    if (profile.san.required && out.length === 0)
      throw violation("san.required", `profile ${profile.name} requires at least one subject alternative name`);
    if (out.length > profile.san.maxCount)
      throw violation("san.maxCount", `${out.length} SANs exceed the profile maximum of ${profile.san.maxCount}`);
    return out;
  }

  function checkSubject(source: readonly NameAttribute[], sans: readonly SubjectAltName[]): NameAttribute[] {
    const kept: NameAttribute[] = [];
    for (const attribute of source) {
      // An approved subject may name a registry attribute by its id, as the profile does.
      const oid = nameAttributeOid(attribute.type) ?? registeredIds.get(attribute.type);
      if (oid === undefined || !keptOids.has(oid)) continue;
      const registered = resolved.subjectAttributes.get(oid);
      const normalised: NameAttribute = registered
        ? { type: oid, value: attribute.value, valueType: registered.valueType }
        : { type: nameAttributeName(oid), value: attribute.value };
      const mismatch = registered && patternProblem(registered, attribute.value);
      const problem =
        nameAttributeProblem(normalised) ?? (mismatch ? `${registered.displayName} ${mismatch}` : undefined);
      if (problem) throw violation(`subject.${registered?.id ?? normalised.type}`, problem);
      kept.push(normalised);
    }
    for (const [name, oid] of requiredOids)
      if (!kept.some((a) => nameAttributeOid(a.type) === oid))
        throw violation(
          "subject.required",
          `the subject must contain ${resolved.subjectAttributes.get(oid)?.displayName ?? name}`,
        );
    if (profile.subject.commonNameMustBeSan) {
      for (const [i, attribute] of kept.entries()) {
        if (nameAttributeOid(attribute.type) !== commonNameOid) continue;
        const match = sanMatchingCommonName(attribute.value, sans);
        if (!match)
          throw violation(
            "subject.commonNameMustBeSan",
            `CN "${attribute.value}" is not one of the certificate's SANs`,
          );
        // The CN repeats the SAN exactly (lower-case name, canonical IP), as the CA/B BRs expect.
        kept[i] = { type: attribute.type, value: match.value };
      }
    }
    // RFC 5280 §4.1.2.6: with an empty subject the identity must be in the subjectAltName.
    if (kept.length === 0 && sans.length === 0)
      throw violation("subject", "the certificate would have neither a subject nor a subjectAltName");
    return kept;
  }

  function checkValidity(input: PolicyCheckInput): { notBefore: Date; notAfter: Date } {
    const now = floorToSecond(input.now.getTime());
    const issuerNotAfter = floorToSecond(input.issuer.notAfter.getTime());
    if (issuerNotAfter <= now) throw violation("validity", "the issuing CA certificate has expired");
    const requested = input.request.validity;
    const earliest = Math.max(now - profile.backdateSeconds * second, input.issuer.notBefore.getTime());
    // notBefore: requested times earlier than the profile's backdate are moved up; later ones are kept.
    let notBefore = earliest;
    if (requested?.notBefore) {
      const asked = requested.notBefore.getTime();
      if (!Number.isFinite(asked)) throw violation("validity.notBefore", "is not a valid time");
      notBefore = Math.max(floorToSecond(asked), earliest);
    }
    // RFC 5280 §4.1.2.5 validity is inclusive at both ends, so a period of N seconds ends at notBefore + N - 1.
    let notAfter = notBefore + profile.validity.default * second - second;
    if (requested?.notAfter) {
      const asked = requested.notAfter.getTime();
      if (!Number.isFinite(asked)) throw violation("validity.notAfter", "is not a valid time");
      notAfter = floorToSecond(asked);
    }
    if (notAfter <= now) throw violation("validity.notAfter", "is in the past");
    if (notAfter < notBefore) throw violation("validity.notAfter", "is before notBefore");
    // Capped, not refused: the profile maximum, and the issuer's own notAfter (else path validation, RFC 5280 §6.1.3 (a)(2), fails).
    notAfter = Math.min(notAfter, notBefore + profile.validity.max * second - second, issuerNotAfter);
    if (notAfter < notBefore) throw violation("validity", "the issuing CA certificate expires before notBefore");
    return { notBefore: new Date(notBefore), notAfter: new Date(notAfter) };
  }

  return {
    profile,
    check(input: PolicyCheckInput): CertificateContent {
      const { csr, request } = input;
      checkKey(csr.publicKey, csr.publicKeySpki, input.issuer);
      const sans = checkSans(request.approved.sans);
      const subject = checkSubject(request.approved.subject ?? csr.subject, sans);
      const { notBefore, notAfter } = checkValidity(input);
      return { subject, subjectPublicKeySpki: csr.publicKeySpki, publicKey: csr.publicKey, sans, notBefore, notAfter };
    },
  };
}

/** One-off form of createPolicyChecker(profile).check(input). */
export function checkIssuancePolicy(profile: Profile, input: PolicyCheckInput): CertificateContent {
  return createPolicyChecker(profile).check(input);
}

function sanMatchingCommonName(commonName: string, sans: readonly SubjectAltName[]): SubjectAltName | undefined {
  const lower = commonName.toLowerCase();
  const ip = parseIpAddress(commonName);
  const ipText = ip ? formatIpAddress(ip) : undefined;
  return sans.find((san) => (san.type === "dns" && san.value === lower) || (san.type === "ip" && san.value === ipText));
}
