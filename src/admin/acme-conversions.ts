import { create } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type {
  AcmeRateLimits,
  AuthorizationMode,
  ChallengeType,
  AcmeDirectory as CoreAcmeDirectory,
} from "../core/acme/acme-types.ts";
import type { AcmeDirectoryChange, NewAcmeDirectory } from "../core/acme/directory-service.ts";
import type { AcmeEabKey } from "../core/acme/eab-key-service.ts";
import { ChanceryError } from "../core/errors.ts";
import {
  type AcmeDirectory,
  AcmeDirectory_AuthorizationMode,
  AcmeDirectory_ChallengeType,
  AcmeDirectorySchema,
  AcmeRateLimitsSchema,
  type ExternalAccountKey,
  ExternalAccountKeySchema,
} from "../gen/chancery/admin/v1/acme_pb.js";
import { idFromName, timestamp } from "./conversions.ts";

export const directoryCollection = "acmeDirectories";
export const keyCollection = "externalAccountKeys";

const modes: ReadonlyArray<[AcmeDirectory_AuthorizationMode, AuthorizationMode]> = [
  [AcmeDirectory_AuthorizationMode.CHALLENGE, "challenge"],
  [AcmeDirectory_AuthorizationMode.EAB_TRUSTED, "eab_trusted"],
];

const challenges: ReadonlyArray<[AcmeDirectory_ChallengeType, ChallengeType]> = [
  [AcmeDirectory_ChallengeType.HTTP_01, "http-01"],
  [AcmeDirectory_ChallengeType.DNS_01, "dns-01"],
  [AcmeDirectory_ChallengeType.TLS_ALPN_01, "tls-alpn-01"],
];

/** Proto field of each rate limit, and its core name. */
const rateLimitFields: ReadonlyArray<[string, keyof AcmeRateLimits]> = [
  ["orders_per_account_per_hour", "ordersPerAccountPerHour"],
  ["new_accounts_per_ip_per_hour", "newAccountsPerIpPerHour"],
  ["orders_per_identifier_set_per_week", "ordersPerIdentifierSetPerWeek"],
];

/** Fields UpdateAcmeDirectory cannot touch: identity and output-only fields. */
export const immutableDirectoryFields = ["name", "display_name", "directory_url", "create_time", "update_time"];

/** `<ACME base URL>/acme/<name>/directory`, the URL clients are configured with. */
export function directoryUrl(acmeBaseUrl: string, name: string): string {
  return `${acmeBaseUrl.replace(/\/+$/, "")}/acme/${name}/directory`;
}

export function directoryToProto(directory: CoreAcmeDirectory, acmeBaseUrl: string): AcmeDirectory {
  return create(AcmeDirectorySchema, {
    name: `${directoryCollection}/${directory.id}`,
    displayName: directory.name,
    directoryUrl: directoryUrl(acmeBaseUrl, directory.name),
    certificateAuthority: `certificateAuthorities/${directory.caId}`,
    allowedProfiles: directory.allowedProfiles.map((name) => `profiles/${name}`),
    defaultProfile: `profiles/${directory.defaultProfile}`,
    authorizationMode: modes.find(([, core]) => core === directory.authorizationMode)?.[0],
    trustedIdentifiers: [...directory.trustedIdentifiers],
    challengeTypes: directory.challengeTypes.map((t) => challenges.find(([, core]) => core === t)![0]),
    externalAccountRequired: directory.externalAccountRequired,
    caaCheck: directory.caaCheck,
    caaIdentities: [...directory.caaIdentities],
    termsOfServiceUrl: directory.termsOfServiceUrl ?? "",
    websiteUrl: directory.websiteUrl ?? "",
    rateLimits: create(AcmeRateLimitsSchema, { ...directory.rateLimits }),
    enabled: directory.enabled,
    createTime: timestamp(directory.createdAt),
    updateTime: timestamp(directory.updatedAt),
  });
}

function modeFromProto(value: AcmeDirectory_AuthorizationMode): AuthorizationMode | undefined {
  if (value === AcmeDirectory_AuthorizationMode.UNSPECIFIED) return undefined;
  const found = modes.find(([proto]) => proto === value);
  if (!found) throw new ChanceryError("invalid_argument", "acme_directory.authorization_mode is not a known mode");
  return found[1];
}

function challengesFromProto(values: readonly AcmeDirectory_ChallengeType[]): ChallengeType[] {
  return values.map((value) => {
    const found = challenges.find(([proto]) => proto === value);
    if (!found)
      throw new ChanceryError(
        "invalid_argument",
        "acme_directory.challenge_types: each must be a known challenge type",
      );
    return found[1];
  });
}

function profilesFromProto(names: readonly string[]): string[] {
  return names.map((name) => idFromName(name, "profiles", "acme_directory.allowed_profiles"));
}

function defaultProfileFromProto(name: string): string {
  return name ? idFromName(name, "profiles", "acme_directory.default_profile") : "";
}

function caFromProto(name: string): string {
  if (!name) throw new ChanceryError("invalid_argument", "acme_directory.certificate_authority is required");
  return idFromName(name, "certificateAuthorities", "acme_directory.certificate_authority");
}

/** The limits a message sets (0 = the default, left out). */
function rateLimitsFromProto(message: AcmeDirectory): Partial<AcmeRateLimits> {
  const out: { -readonly [K in keyof AcmeRateLimits]?: number } = {};
  for (const [, core] of rateLimitFields) {
    const value = message.rateLimits?.[core] ?? 0;
    if (value < 0)
      throw new ChanceryError("invalid_argument", `acme_directory.rate_limits: limits must not be negative`);
    if (value > 0) out[core] = value;
  }
  return out;
}

export function newDirectoryFromProto(message: AcmeDirectory): NewAcmeDirectory {
  if (!message.displayName) throw new ChanceryError("invalid_argument", "acme_directory.display_name is required");
  return {
    name: message.displayName,
    caId: caFromProto(message.certificateAuthority),
    allowedProfiles: profilesFromProto(message.allowedProfiles),
    defaultProfile: defaultProfileFromProto(message.defaultProfile),
    authorizationMode: modeFromProto(message.authorizationMode),
    trustedIdentifiers: message.trustedIdentifiers,
    challengeTypes: challengesFromProto(message.challengeTypes),
    externalAccountRequired: message.externalAccountRequired,
    caaCheck: message.caaCheck,
    caaIdentities: message.caaIdentities,
    termsOfServiceUrl: message.termsOfServiceUrl || null,
    websiteUrl: message.websiteUrl || null,
    rateLimits: rateLimitsFromProto(message),
    enabled: message.enabled,
  };
}

/**
 * The core change for the fields an (already validated and applied) update
 * mask names, read from `merged`. Optional booleans cleared by the mask
 * take their create default (true); a rate limit set to 0 goes back to the
 * default.
 */
export function directoryChangeFromProto(merged: AcmeDirectory, updateMask: readonly string[]): AcmeDirectoryChange {
  const paths = updateMask.includes("*")
    ? AcmeDirectorySchema.fields.map((f) => f.name).filter((name) => !immutableDirectoryFields.includes(name))
    : updateMask;
  const touched = new Set(paths.map((path) => path.split(".")[0]!));
  const limits: Record<string, number | null> = {};
  for (const [proto, core] of rateLimitFields)
    if (paths.includes("rate_limits") || paths.includes(`rate_limits.${proto}`)) {
      const value = merged.rateLimits?.[core] ?? 0;
      if (value < 0)
        throw new ChanceryError("invalid_argument", "acme_directory.rate_limits: limits must not be negative");
      limits[core] = value === 0 ? null : value;
    }
  const mode = touched.has("authorization_mode") ? modeFromProto(merged.authorizationMode) : undefined;
  if (touched.has("authorization_mode") && !mode)
    throw new ChanceryError("invalid_argument", "acme_directory.authorization_mode must be set");
  return {
    ...(touched.has("certificate_authority") ? { caId: caFromProto(merged.certificateAuthority) } : {}),
    ...(touched.has("allowed_profiles") ? { allowedProfiles: profilesFromProto(merged.allowedProfiles) } : {}),
    ...(touched.has("default_profile") ? { defaultProfile: defaultProfileFromProto(merged.defaultProfile) } : {}),
    ...(mode ? { authorizationMode: mode } : {}),
    ...(touched.has("trusted_identifiers") ? { trustedIdentifiers: merged.trustedIdentifiers } : {}),
    ...(touched.has("challenge_types") ? { challengeTypes: challengesFromProto(merged.challengeTypes) } : {}),
    ...(touched.has("external_account_required") ? { externalAccountRequired: merged.externalAccountRequired } : {}),
    ...(touched.has("caa_check") ? { caaCheck: merged.caaCheck ?? true } : {}),
    ...(touched.has("caa_identities") ? { caaIdentities: merged.caaIdentities } : {}),
    ...(touched.has("terms_of_service_url") ? { termsOfServiceUrl: merged.termsOfServiceUrl || null } : {}),
    ...(touched.has("website_url") ? { websiteUrl: merged.websiteUrl || null } : {}),
    ...(Object.keys(limits).length > 0 ? { rateLimits: limits } : {}),
    ...(touched.has("enabled") ? { enabled: merged.enabled ?? true } : {}),
  };
}

export function keyToProto(key: AcmeEabKey): ExternalAccountKey {
  return create(ExternalAccountKeySchema, {
    name: `${directoryCollection}/${key.directoryId}/${keyCollection}/${key.keyId}`,
    keyId: key.keyId,
    label: key.label,
    creator: key.createdBy.startsWith("user:") ? `users/${key.createdBy.slice("user:".length)}` : key.createdBy,
    createTime: timestamp(key.createdAt),
    expireTime: timestamp(key.expiresAt),
    bindTime: timestamp(key.boundAt),
    account: key.accountId ?? "",
    revokeTime: timestamp(key.revokedAt),
  });
}

export function keyInputFromProto(message: ExternalAccountKey | undefined): { label: string; expiresAt: Date | null } {
  return {
    label: message?.label ?? "",
    expiresAt: message?.expireTime ? timestampDate(message.expireTime) : null,
  };
}

/** "acmeDirectories/{id}/externalAccountKeys/{key_id}" -> its two ids. */
export function keyFromName(name: string, field = "name"): { directoryId: string; keyId: string } {
  const match = /^acmeDirectories\/([^/]+)\/externalAccountKeys\/([^/]+)$/.exec(name);
  if (!match)
    throw new ChanceryError(
      "invalid_argument",
      `${field} must look like "acmeDirectories/{id}/externalAccountKeys/{key_id}", got "${name}"`,
    );
  return { directoryId: match[1]!, keyId: match[2]! };
}
