import { create } from "@bufbuild/protobuf";
import { type Duration, DurationSchema } from "@bufbuild/protobuf/wkt";
import { ChanceryError } from "../core/errors.ts";
import type { Profile as CoreProfile, ProfileInput } from "../core/profiles/profile-schema.ts";
import type { StoredProfile } from "../core/profiles/profile-service.ts";
import type { SubjectAltNameType as CoreSanType } from "../core/x509/general-name.ts";
import type { KeyUsageName } from "../core/x509/key-usage.ts";
import type { NameConstraints } from "../gen/chancery/admin/v1/certificate_authority_pb.js";
import {
  EcdsaCurve,
  KeyUsage,
  type Profile,
  ProfileSchema,
  SubjectAltNameType,
} from "../gen/chancery/admin/v1/profile_pb.js";
import { timestamp } from "./conversions.ts";

/**
 * chancery.admin.v1.Profile ↔ the core profile model. Only the mapping lives
 * here: the proto becomes the plain input `parseProfile` validates, so the
 * core schema stays the one place with profile rules (and defaults) and its
 * field-named errors reach the client unchanged. The only checks made here
 * are for what the core input cannot express: unset or unknown enum values
 * and fractional or negative durations. Their errors name the field the same
 * way, by the proto field's JSON name.
 */

export const profileCollection = "profiles";

type CoreCurve = NonNullable<NonNullable<ProfileInput["keyAlgorithms"]>["ecdsaCurves"]>[number];
type CoreSubtrees = { dns?: string[]; ip?: string[]; email?: string[]; uri?: string[] };

const curves: ReadonlyArray<[EcdsaCurve, CoreCurve]> = [
  [EcdsaCurve.P256, "P-256"],
  [EcdsaCurve.P384, "P-384"],
  [EcdsaCurve.P521, "P-521"],
];

const keyUsages: ReadonlyArray<[KeyUsage, KeyUsageName]> = [
  [KeyUsage.DIGITAL_SIGNATURE, "digitalSignature"],
  [KeyUsage.NON_REPUDIATION, "nonRepudiation"],
  [KeyUsage.KEY_ENCIPHERMENT, "keyEncipherment"],
  [KeyUsage.DATA_ENCIPHERMENT, "dataEncipherment"],
  [KeyUsage.KEY_AGREEMENT, "keyAgreement"],
  [KeyUsage.KEY_CERT_SIGN, "keyCertSign"],
  [KeyUsage.CRL_SIGN, "cRLSign"],
  [KeyUsage.ENCIPHER_ONLY, "encipherOnly"],
  [KeyUsage.DECIPHER_ONLY, "decipherOnly"],
];

const sanTypes: ReadonlyArray<[SubjectAltNameType, CoreSanType]> = [
  [SubjectAltNameType.DNS, "dns"],
  [SubjectAltNameType.IP, "ip"],
  [SubjectAltNameType.EMAIL, "email"],
  [SubjectAltNameType.URI, "uri"],
];

/** The core's name for a proto enum value, or invalid_argument naming `path` (unset or unknown values). */
function fromProtoEnum<P, C>(table: ReadonlyArray<[P, C]>, value: P, fail: () => never): C {
  const found = table.find(([proto]) => proto === value);
  return found ? found[1] : fail();
}

function toProtoEnum<P, C>(table: ReadonlyArray<[P, C]>, value: C): P {
  const found = table.find(([, core]) => core === value);
  // Unreachable for a parsed profile: the tables cover every core value.
  if (!found) throw new ChanceryError("internal", `no proto value for "${String(value)}"`);
  return found[0];
}

/**
 * The core input for `proto`, named `profileName` (the {profile_name} of
 * its resource name). Unset messages and optional fields become undefined,
 * which the schema fills with its defaults.
 */
export function profileInputFromProto(proto: Profile, profileName: string): ProfileInput {
  const fail = (path: string, message: string): never => {
    throw new ChanceryError("invalid_argument", `profile "${profileName}": ${path}: ${message}`);
  };
  const list = <P, C>(table: ReadonlyArray<[P, C]>, values: P[], path: string, what: string): C[] =>
    values.map((value, i) => fromProtoEnum(table, value, () => fail(`${path}.${i}`, `must be set to ${what}`)));
  const seconds = (value: Duration | undefined, path: string): number | undefined => {
    if (!value) return undefined;
    if (value.nanos !== 0 || value.seconds < 0n || value.seconds > BigInt(Number.MAX_SAFE_INTEGER))
      fail(path, "must be a whole, non-negative number of seconds");
    return Number(value.seconds);
  };

  const { keyAlgorithms, basicConstraints, san, subject, revocationInfo, shortLived, requiresApproval, renewalWindow } =
    proto;
  return {
    name: profileName,
    description: proto.description,
    // Required, so typed as always there; left undefined when unset for the schema to report by name.
    validity: (proto.validity && {
      default: seconds(proto.validity.default, "validity.default"),
      max: seconds(proto.validity.max, "validity.max"),
    }) as ProfileInput["validity"],
    keyAlgorithms: keyAlgorithms && {
      ecdsaCurves: list(curves, keyAlgorithms.ecdsaCurves, "keyAlgorithms.ecdsaCurves", "an ECDSA curve"),
      rsa: keyAlgorithms.rsa && {
        allowed: keyAlgorithms.rsa.allowed,
        minBits: keyAlgorithms.rsa.minBits,
        maxBits: keyAlgorithms.rsa.maxBits,
      },
      ed25519: keyAlgorithms.ed25519,
      ed448: keyAlgorithms.ed448,
    },
    // The one list that cannot be empty: empty stands for unset, so the core default applies.
    keyUsage: proto.keyUsage.length > 0 ? list(keyUsages, proto.keyUsage, "keyUsage", "a key usage") : undefined,
    rsaKeyUsage: list(keyUsages, proto.rsaKeyUsage, "rsaKeyUsage", "a key usage"),
    extendedKeyUsage: [...proto.extendedKeyUsage],
    basicConstraints: basicConstraints && { ca: basicConstraints.ca, pathLen: basicConstraints.pathLen },
    nameConstraints: nameConstraintsFromProto(proto.nameConstraints),
    san: san && {
      allowedTypes: list(sanTypes, san.allowedTypes, "san.allowedTypes", "a subjectAltName type"),
      // A type given with no patterns means "no restriction", the same as a type left out.
      patterns:
        san.patterns &&
        nonEmpty({ dns: san.patterns.dns, ip: san.patterns.ip, email: san.patterns.email, uri: san.patterns.uri }),
      required: san.required,
      maxCount: san.maxCount,
      allowWildcard: san.allowWildcard,
      otherNames: [...san.otherNames],
    },
    subject: subject && {
      keep: [...subject.keep],
      required: [...subject.required],
      commonNameMustBeSan: subject.commonNameMustBeSan,
    },
    certificatePolicies: proto.certificatePolicies.map((policy, i) => {
      if (!policy.policy)
        return {
          oid: policy.oid,
          ...(policy.cpsUri ? { cpsUri: policy.cpsUri } : {}),
          ...(policy.userNotice ? { userNotice: policy.userNotice } : {}),
        };
      if (policy.oid || policy.cpsUri || policy.userNotice)
        fail(`certificatePolicies.${i}`, "give either policy (a registry entry) or oid/cpsUri/userNotice, not both");
      return { policy: policy.policy };
    }),
    customExtensions: proto.customExtensions.map((extension, i) => {
      if (!extension.objectIdentifier)
        return {
          oid: extension.oid,
          critical: extension.critical,
          valueBase64: Buffer.from(extension.value).toString("base64"),
        };
      if (extension.oid || extension.value.length > 0)
        fail(
          `customExtensions.${i}`,
          "give either objectIdentifier and textValue (a registry extension) or oid and value, not both",
        );
      return { objectIdentifier: extension.objectIdentifier, critical: extension.critical, value: extension.textValue };
    }),
    ocspMustStaple: proto.ocspMustStaple,
    revocationInfo: revocationInfo && {
      crlDistributionPoint: revocationInfo.crlDistributionPoint,
      ocsp: revocationInfo.ocsp,
      caIssuers: revocationInfo.caIssuers,
    },
    shortLived: shortLived && {
      thresholdSeconds: seconds(shortLived.threshold, "shortLived.threshold"),
      noRevAvail: shortLived.noRevAvail,
    },
    requiresApproval: requiresApproval && {
      required: requiresApproval.required,
      approvers: requiresApproval.approvers,
    },
    backdateSeconds: seconds(proto.backdate, "backdate"),
    renewalWindow: renewalWindow && { start: renewalWindow.start, end: renewalWindow.end },
  };
}

/** Lists without entries are left out; no entries at all is no name constraints (RFC 5280 §4.2.1.10: SIZE (1..MAX)). */
function nameConstraintsFromProto(value: NameConstraints | undefined): ProfileInput["nameConstraints"] {
  if (!value) return undefined;
  const permitted = nonEmpty({
    dns: value.permittedDns,
    ip: value.permittedIp,
    email: value.permittedEmail,
    uri: value.permittedUri,
  });
  const excluded = nonEmpty({
    dns: value.excludedDns,
    ip: value.excludedIp,
    email: value.excludedEmail,
    uri: value.excludedUri,
  });
  if (!permitted && !excluded) return undefined;
  return { ...(permitted ? { permitted } : {}), ...(excluded ? { excluded } : {}) };
}

/** The lists that have entries (copied), or undefined when none has. */
function nonEmpty(lists: { dns: string[]; ip: string[]; email: string[]; uri: string[] }): CoreSubtrees | undefined {
  const kept = Object.entries(lists).filter(([, values]) => values.length > 0);
  return kept.length > 0 ? Object.fromEntries(kept.map(([type, values]) => [type, [...values]])) : undefined;
}

function duration(seconds: number): Duration {
  return create(DurationSchema, { seconds: BigInt(seconds) });
}

/** A stored profile as the API shows it: every field set. */
export function profileToProto(stored: StoredProfile): Profile {
  const proto = profileDefinitionToProto(stored.profile);
  proto.createTime = timestamp(stored.createdAt);
  proto.updateTime = timestamp(stored.updatedAt);
  return proto;
}

/** The definition alone, without the stored times. */
export function profileDefinitionToProto(p: CoreProfile): Profile {
  const constraints = p.nameConstraints;
  return create(ProfileSchema, {
    name: `${profileCollection}/${p.name}`,
    description: p.description,
    validity: { default: duration(p.validity.default), max: duration(p.validity.max) },
    keyAlgorithms: {
      ecdsaCurves: p.keyAlgorithms.ecdsaCurves.map((curve) => toProtoEnum(curves, curve)),
      rsa: { ...p.keyAlgorithms.rsa },
      ed25519: p.keyAlgorithms.ed25519,
      ed448: p.keyAlgorithms.ed448,
    },
    keyUsage: p.keyUsage.map((usage) => toProtoEnum(keyUsages, usage)),
    rsaKeyUsage: p.rsaKeyUsage.map((usage) => toProtoEnum(keyUsages, usage)),
    extendedKeyUsage: [...p.extendedKeyUsage],
    basicConstraints: { ca: p.basicConstraints.ca, pathLen: p.basicConstraints.pathLen },
    nameConstraints: constraints && {
      permittedDns: [...(constraints.permitted?.dns ?? [])],
      excludedDns: [...(constraints.excluded?.dns ?? [])],
      permittedIp: [...(constraints.permitted?.ip ?? [])],
      excludedIp: [...(constraints.excluded?.ip ?? [])],
      permittedEmail: [...(constraints.permitted?.email ?? [])],
      excludedEmail: [...(constraints.excluded?.email ?? [])],
      permittedUri: [...(constraints.permitted?.uri ?? [])],
      excludedUri: [...(constraints.excluded?.uri ?? [])],
    },
    san: {
      allowedTypes: p.san.allowedTypes.map((type) => toProtoEnum(sanTypes, type)),
      patterns: {
        dns: [...(p.san.patterns.dns ?? [])],
        ip: [...(p.san.patterns.ip ?? [])],
        email: [...(p.san.patterns.email ?? [])],
        uri: [...(p.san.patterns.uri ?? [])],
      },
      required: p.san.required,
      maxCount: p.san.maxCount,
      allowWildcard: p.san.allowWildcard,
      otherNames: [...p.san.otherNames],
    },
    subject: {
      keep: [...p.subject.keep],
      required: [...p.subject.required],
      commonNameMustBeSan: p.subject.commonNameMustBeSan,
    },
    certificatePolicies: p.certificatePolicies.map((policy) =>
      "policy" in policy
        ? { policy: policy.policy }
        : { oid: policy.oid, cpsUri: policy.cpsUri ?? "", userNotice: policy.userNotice ?? "" },
    ),
    customExtensions: p.customExtensions.map((extension) =>
      "objectIdentifier" in extension
        ? { objectIdentifier: extension.objectIdentifier, critical: extension.critical, textValue: extension.value }
        : {
            oid: extension.oid,
            critical: extension.critical,
            value: new Uint8Array(Buffer.from(extension.valueBase64, "base64")),
          },
    ),
    ocspMustStaple: p.ocspMustStaple,
    revocationInfo: { ...p.revocationInfo },
    shortLived: { threshold: duration(p.shortLived.thresholdSeconds), noRevAvail: p.shortLived.noRevAvail },
    requiresApproval: { ...p.requiresApproval },
    backdate: duration(p.backdateSeconds),
    renewalWindow: { ...p.renewalWindow },
  });
}
