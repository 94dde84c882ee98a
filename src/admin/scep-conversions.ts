import { create } from "@bufbuild/protobuf";
import { DurationSchema } from "@bufbuild/protobuf/wkt";
import { ChanceryError, isChanceryError } from "../core/errors.ts";
import type {
  CaCertificateMode,
  ChallengeMode,
  ScepEndpoint as CoreScepEndpoint,
  NewScepEndpoint,
  ScepEndpointChange,
  ScepRaCredential,
} from "../core/scep/scep-types.ts";
import {
  type ScepEndpoint,
  ScepEndpoint_CaCertificateMode,
  ScepEndpoint_ChallengeMode,
  ScepEndpointSchema,
  type ScepIntuneSettings,
  ScepIntuneSettingsSchema,
  type ScepRaCertificate,
  ScepRaCertificateSchema,
  ScepWebhookSettingsSchema,
} from "../gen/chancery/admin/v1/scep_pb.js";
import { idFromName, timestamp } from "./conversions.ts";
import { wholeSeconds } from "./whole-seconds.ts";

export const endpointCollection = "scepEndpoints";

/** The input-only secrets of ScepEndpoint (never set on a message the server sends), by proto and local name. */
const secretFields = [
  ["static_challenge", "staticChallenge"],
  ["intune_client_secret", "intuneClientSecret"],
  ["webhook_secret", "webhookSecret"],
] as const;

/** Fields UpdateScepEndpoint cannot touch: identity and output-only fields. */
export const immutableEndpointFields = ["name", "endpoint_name", "url", "ra_certificate", "create_time", "update_time"];

/** The create defaults of NewScepEndpoint (scep-types.ts), which a field cleared by an update mask goes back to. */
const defaultChallengeLifetimeSeconds = 3600;
const defaultCaCertificateMode: CaCertificateMode = "chain";

const challengeModes: ReadonlyArray<[ScepEndpoint_ChallengeMode, ChallengeMode]> = [
  [ScepEndpoint_ChallengeMode.NONE, "none"],
  [ScepEndpoint_ChallengeMode.STATIC, "static"],
  [ScepEndpoint_ChallengeMode.DYNAMIC, "dynamic"],
  [ScepEndpoint_ChallengeMode.INTUNE, "intune"],
  [ScepEndpoint_ChallengeMode.WEBHOOK, "webhook"],
];

const caCertificateModes: ReadonlyArray<[ScepEndpoint_CaCertificateMode, CaCertificateMode]> = [
  [ScepEndpoint_CaCertificateMode.CHAIN, "chain"],
  [ScepEndpoint_CaCertificateMode.CA, "ca"],
];

/** `<SCEP base URL>/scep/<name>`, what SCEP clients are configured with. */
export function scepUrl(scepBaseUrl: string, name: string): string {
  return `${scepBaseUrl.replace(/\/+$/, "")}/scep/${name}`;
}

export function raCertificateToProto(ra: ScepRaCredential): ScepRaCertificate {
  return create(ScepRaCertificateSchema, {
    certificateDer: new Uint8Array(ra.certificateDer),
    serial: ra.serialHex,
    notBefore: timestamp(ra.notBefore),
    notAfter: timestamp(ra.notAfter),
  });
}

/** The endpoint as the API shows it, without its secrets; `ra` is its current RA certificate, if any. */
export function endpointToProto(
  endpoint: CoreScepEndpoint,
  scepBaseUrl: string,
  ra: ScepRaCredential | null,
): ScepEndpoint {
  return create(ScepEndpointSchema, {
    name: `${endpointCollection}/${endpoint.id}`,
    endpointName: endpoint.name,
    url: scepUrl(scepBaseUrl, endpoint.name),
    certificateAuthority: `certificateAuthorities/${endpoint.caId}`,
    profile: `profiles/${endpoint.profileName}`,
    challengeMode: challengeModes.find(([, core]) => core === endpoint.challengeMode)?.[0],
    intune: endpoint.intune ? create(ScepIntuneSettingsSchema, { ...endpoint.intune }) : undefined,
    webhook: endpoint.webhook ? create(ScepWebhookSettingsSchema, { url: endpoint.webhook.url }) : undefined,
    challengeLifetime: create(DurationSchema, { seconds: BigInt(endpoint.challengeLifetimeSeconds) }),
    caCertificateMode: caCertificateModes.find(([, core]) => core === endpoint.caCertificateMode)?.[0],
    nextCertificateAuthority: endpoint.nextCaId ? `certificateAuthorities/${endpoint.nextCaId}` : "",
    legacyCrypto: endpoint.legacyCrypto,
    renewalAllowed: endpoint.renewalAllowed,
    enabled: endpoint.enabled,
    raCertificate: ra ? raCertificateToProto(ra) : undefined,
    createTime: timestamp(endpoint.createdAt),
    updateTime: timestamp(endpoint.updatedAt),
  });
}

function challengeModeFromProto(value: ScepEndpoint_ChallengeMode): ChallengeMode {
  const found = challengeModes.find(([proto]) => proto === value);
  if (!found) throw new ChanceryError("invalid_argument", "scep_endpoint.challenge_mode must be set to a known mode");
  return found[1];
}

function caCertificateModeFromProto(value: ScepEndpoint_CaCertificateMode): CaCertificateMode | undefined {
  if (value === ScepEndpoint_CaCertificateMode.UNSPECIFIED) return undefined;
  const found = caCertificateModes.find(([proto]) => proto === value);
  if (!found) throw new ChanceryError("invalid_argument", "scep_endpoint.ca_certificate_mode is not a known mode");
  return found[1];
}

function caFromProto(name: string): string {
  if (!name) throw new ChanceryError("invalid_argument", "scep_endpoint.certificate_authority is required");
  return idFromName(name, "certificateAuthorities", "scep_endpoint.certificate_authority");
}

function nextCaFromProto(name: string): string | null {
  return name ? idFromName(name, "certificateAuthorities", "scep_endpoint.next_certificate_authority") : null;
}

function profileFromProto(name: string): string {
  if (!name) throw new ChanceryError("invalid_argument", "scep_endpoint.profile is required");
  return idFromName(name, "profiles", "scep_endpoint.profile");
}

/** Intune settings as the core takes them: empty URLs and provider name left out, so they take their defaults. */
function intuneFromProto(settings: ScepIntuneSettings | undefined): NewScepEndpoint["intune"] {
  if (!settings) return undefined;
  return {
    tenant: settings.tenant,
    clientId: settings.clientId,
    ...(settings.providerNameAndVersion ? { providerNameAndVersion: settings.providerNameAndVersion } : {}),
    ...(settings.authorityUrl ? { authorityUrl: settings.authorityUrl } : {}),
    ...(settings.graphUrl ? { graphUrl: settings.graphUrl } : {}),
    ...(settings.intuneResourceUrl ? { intuneResourceUrl: settings.intuneResourceUrl } : {}),
  };
}

export function newEndpointFromProto(message: ScepEndpoint): NewScepEndpoint {
  if (!message.endpointName) throw new ChanceryError("invalid_argument", "scep_endpoint.endpoint_name is required");
  return {
    name: message.endpointName,
    caId: caFromProto(message.certificateAuthority),
    profileName: profileFromProto(message.profile),
    challengeMode: challengeModeFromProto(message.challengeMode),
    staticChallenge: message.staticChallenge || undefined,
    intune: intuneFromProto(message.intune),
    intuneClientSecret: message.intuneClientSecret || undefined,
    webhook: message.webhook ? { url: message.webhook.url } : undefined,
    webhookSecret: message.webhookSecret || undefined,
    challengeLifetimeSeconds: wholeSeconds(message.challengeLifetime, "scep_endpoint.challenge_lifetime"),
    caCertificateMode: caCertificateModeFromProto(message.caCertificateMode),
    nextCaId: nextCaFromProto(message.nextCertificateAuthority),
    legacyCrypto: message.legacyCrypto,
    renewalAllowed: message.renewalAllowed,
    enabled: message.enabled,
  };
}

/**
 * The core change for the fields an (already validated and applied) update
 * mask names, read from `merged`. A field cleared by the mask takes its
 * create default. A secret named in the mask must be given (it replaces the
 * stored one, which cannot be read back to keep); under "*" only the
 * secrets given are replaced, since a write-only field left empty cannot
 * mean "as it is now" otherwise.
 */
export function endpointChangeFromProto(merged: ScepEndpoint, updateMask: readonly string[]): ScepEndpointChange {
  const wildcard = updateMask.includes("*");
  const touched = new Set(
    (wildcard
      ? ScepEndpointSchema.fields.map((f) => f.name).filter((name) => !immutableEndpointFields.includes(name))
      : updateMask
    ).map((path) => path.split(".")[0]!),
  );
  const secrets: { -readonly [K in (typeof secretFields)[number][1]]?: string } = {};
  for (const [field, local] of secretFields) {
    if (!touched.has(field)) continue;
    const value = merged[local];
    if (value) secrets[local] = value;
    else if (!wildcard || updateMask.includes(field))
      throw new ChanceryError("invalid_argument", `scep_endpoint.${field}: give the new value to replace it`);
  }
  const intune = touched.has("intune") ? intuneFromProto(merged.intune) : undefined;
  const webhook = touched.has("webhook") && merged.webhook ? { url: merged.webhook.url } : undefined;
  return {
    ...(touched.has("certificate_authority") ? { caId: caFromProto(merged.certificateAuthority) } : {}),
    ...(touched.has("profile") ? { profileName: profileFromProto(merged.profile) } : {}),
    ...(touched.has("challenge_mode") ? { challengeMode: challengeModeFromProto(merged.challengeMode) } : {}),
    ...secrets,
    ...(intune ? { intune } : {}),
    ...(webhook ? { webhook } : {}),
    ...(touched.has("challenge_lifetime")
      ? {
          challengeLifetimeSeconds:
            wholeSeconds(merged.challengeLifetime, "scep_endpoint.challenge_lifetime") ??
            defaultChallengeLifetimeSeconds,
        }
      : {}),
    ...(touched.has("ca_certificate_mode")
      ? { caCertificateMode: caCertificateModeFromProto(merged.caCertificateMode) ?? defaultCaCertificateMode }
      : {}),
    ...(touched.has("next_certificate_authority")
      ? { nextCaId: nextCaFromProto(merged.nextCertificateAuthority) }
      : {}),
    ...(touched.has("legacy_crypto") ? { legacyCrypto: merged.legacyCrypto } : {}),
    ...(touched.has("renewal_allowed") ? { renewalAllowed: merged.renewalAllowed ?? true } : {}),
    ...(touched.has("enabled") ? { enabled: merged.enabled ?? true } : {}),
  };
}

/**
 * The core's SCEP validation messages start with the core's field name
 * ("ca_id: no CA with id ..."); the API caller sent a differently named
 * field (scep_endpoint.certificate_authority). These tables say which, so
 * the message names the field the caller can fix.
 */
export const endpointErrorFields: Readonly<Record<string, string>> = {
  name: "scep_endpoint.endpoint_name",
  ca_id: "scep_endpoint.certificate_authority",
  profile_name: "scep_endpoint.profile",
  challenge_mode: "scep_endpoint.challenge_mode",
  static_challenge: "scep_endpoint.static_challenge",
  intune: "scep_endpoint.intune",
  intune_client_secret: "scep_endpoint.intune_client_secret",
  webhook: "scep_endpoint.webhook",
  webhook_secret: "scep_endpoint.webhook_secret",
  challenge_lifetime_seconds: "scep_endpoint.challenge_lifetime",
  ca_certificate_mode: "scep_endpoint.ca_certificate_mode",
  next_ca_id: "scep_endpoint.next_certificate_authority",
};

/**
 * `err` with its leading "<core field>[.sub]: " renamed by `fields`, when it
 * is a validation error that starts that way; anything else unchanged.
 */
export function withApiFieldName(err: unknown, fields: Readonly<Record<string, string>>): unknown {
  if (!isChanceryError(err) || (err.code !== "invalid_argument" && err.code !== "failed_precondition")) return err;
  const match = /^([a-z_]+)((?:\.[a-z_]+)*): /.exec(err.message);
  const renamed = match ? fields[match[1]!] : undefined;
  if (!match || !renamed) return err;
  return new ChanceryError(err.code, `${renamed}${match[2]}: ${err.message.slice(match[0].length)}`, {
    cause: err,
    detail: err.detail,
  });
}
