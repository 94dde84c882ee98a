import { create } from "@bufbuild/protobuf";
import { type Duration, DurationSchema } from "@bufbuild/protobuf/wkt";
import { ChanceryError } from "../core/errors.ts";
import type {
  AuthMode,
  EstEnrollmentSecret as CoreEstEnrollmentSecret,
  EstLabel as CoreEstLabel,
  EstLabelChange,
  MintEstSecretInput,
  NewEstLabel,
} from "../core/est/est-types.ts";
import {
  type EstEnrollmentSecret,
  EstEnrollmentSecretSchema,
  type EstLabel,
  EstLabel_AuthMode,
  EstLabelSchema,
} from "../gen/chancery/admin/v1/est_pb.js";
import { idFromName, timestamp } from "./conversions.ts";

export const labelCollection = "estLabels";
export const secretCollection = "enrollmentSecrets";

/** Fields UpdateEstLabel cannot touch: identity and output-only fields. */
export const immutableLabelFields = ["name", "label", "url", "create_time", "update_time"];

/** The create default of NewEstLabel (est-types.ts), which a field cleared by an update mask goes back to. */
const defaultSecretLifetimeSeconds = 86_400;

const authModes: ReadonlyArray<[EstLabel_AuthMode, AuthMode]> = [
  [EstLabel_AuthMode.CERTIFICATE, "certificate"],
  [EstLabel_AuthMode.BASIC, "basic"],
  [EstLabel_AuthMode.EITHER, "either"],
  [EstLabel_AuthMode.BOTH, "both"],
];

/** `<EST base URL>/.well-known/est/<label>`, what EST clients are configured with. */
export function estUrl(estBaseUrl: string, label: string): string {
  return `${estBaseUrl.replace(/\/+$/, "")}/.well-known/est/${label}`;
}

export function labelToProto(label: CoreEstLabel, estBaseUrl: string): EstLabel {
  return create(EstLabelSchema, {
    name: `${labelCollection}/${label.id}`,
    label: label.name,
    url: estUrl(estBaseUrl, label.name),
    defaultLabel: label.isDefault,
    certificateAuthority: `certificateAuthorities/${label.caId}`,
    profile: `profiles/${label.profileName}`,
    authMode: authModes.find(([, core]) => core === label.authMode)?.[0],
    clientCertificateAuthorities: label.clientCaIds.map((id) => `certificateAuthorities/${id}`),
    externalTrustAnchors: label.externalAnchorsDer.map((der) => new Uint8Array(der)),
    channelBindingRequired: label.channelBindingRequired,
    serverKeygenAllowed: label.serverKeygenAllowed,
    reenrollSubjectChangeAllowed: label.reenrollSubjectChangeAllowed,
    secretLifetime: create(DurationSchema, { seconds: BigInt(label.secretLifetimeSeconds) }),
    enabled: label.enabled,
    createTime: timestamp(label.createdAt),
    updateTime: timestamp(label.updatedAt),
  });
}

function authModeFromProto(value: EstLabel_AuthMode): AuthMode {
  const found = authModes.find(([proto]) => proto === value);
  if (!found) throw new ChanceryError("invalid_argument", "est_label.auth_mode must be set to a known mode");
  return found[1];
}

function caFromProto(name: string, field: string): string {
  if (!name) throw new ChanceryError("invalid_argument", `${field} is required`);
  return idFromName(name, "certificateAuthorities", field);
}

function profileFromProto(name: string): string {
  if (!name) throw new ChanceryError("invalid_argument", "est_label.profile is required");
  return idFromName(name, "profiles", "est_label.profile");
}

/** Whole seconds of a Duration, or undefined when unset (the core checks the range). */
function wholeSeconds(value: Duration | undefined, field: string): number | undefined {
  if (!value) return undefined;
  if (value.nanos !== 0 || value.seconds <= 0n || value.seconds > 2_147_483_647n)
    throw new ChanceryError("invalid_argument", `${field} must be a positive whole number of seconds`);
  return Number(value.seconds);
}

function anchorCasFromProto(names: readonly string[]): string[] {
  return names.map((name, i) => caFromProto(name, `est_label.client_certificate_authorities[${i}]`));
}

export function newLabelFromProto(message: EstLabel): NewEstLabel {
  if (!message.label) throw new ChanceryError("invalid_argument", "est_label.label is required");
  return {
    name: message.label,
    isDefault: message.defaultLabel,
    caId: caFromProto(message.certificateAuthority, "est_label.certificate_authority"),
    profileName: profileFromProto(message.profile),
    authMode: authModeFromProto(message.authMode),
    clientCaIds: anchorCasFromProto(message.clientCertificateAuthorities),
    externalAnchorsDer: message.externalTrustAnchors,
    channelBindingRequired: message.channelBindingRequired,
    serverKeygenAllowed: message.serverKeygenAllowed,
    reenrollSubjectChangeAllowed: message.reenrollSubjectChangeAllowed,
    secretLifetimeSeconds: wholeSeconds(message.secretLifetime, "est_label.secret_lifetime"),
    enabled: message.enabled,
  };
}

/**
 * The core change for the fields an (already validated and applied) update
 * mask names, read from `merged`. A field cleared by the mask takes its
 * create default.
 */
export function labelChangeFromProto(merged: EstLabel, updateMask: readonly string[]): EstLabelChange {
  const touched = new Set(
    (updateMask.includes("*")
      ? EstLabelSchema.fields.map((f) => f.name).filter((name) => !immutableLabelFields.includes(name))
      : updateMask
    ).map((path) => path.split(".")[0]!),
  );
  return {
    ...(touched.has("default_label") ? { isDefault: merged.defaultLabel } : {}),
    ...(touched.has("certificate_authority")
      ? { caId: caFromProto(merged.certificateAuthority, "est_label.certificate_authority") }
      : {}),
    ...(touched.has("profile") ? { profileName: profileFromProto(merged.profile) } : {}),
    ...(touched.has("auth_mode") ? { authMode: authModeFromProto(merged.authMode) } : {}),
    ...(touched.has("client_certificate_authorities")
      ? { clientCaIds: anchorCasFromProto(merged.clientCertificateAuthorities) }
      : {}),
    ...(touched.has("external_trust_anchors") ? { externalAnchorsDer: merged.externalTrustAnchors } : {}),
    ...(touched.has("channel_binding_required") ? { channelBindingRequired: merged.channelBindingRequired } : {}),
    ...(touched.has("server_keygen_allowed") ? { serverKeygenAllowed: merged.serverKeygenAllowed } : {}),
    ...(touched.has("reenroll_subject_change_allowed")
      ? { reenrollSubjectChangeAllowed: merged.reenrollSubjectChangeAllowed }
      : {}),
    ...(touched.has("secret_lifetime")
      ? {
          secretLifetimeSeconds:
            wholeSeconds(merged.secretLifetime, "est_label.secret_lifetime") ?? defaultSecretLifetimeSeconds,
        }
      : {}),
    ...(touched.has("enabled") ? { enabled: merged.enabled ?? true } : {}),
  };
}

/** "user:<id>" as "users/<id>"; other audit actors as they are. */
function creatorName(actor: string): string {
  return actor.startsWith("user:") ? `users/${actor.slice("user:".length)}` : actor;
}

export function secretToProto(secret: CoreEstEnrollmentSecret): EstEnrollmentSecret {
  return create(EstEnrollmentSecretSchema, {
    name: `${labelCollection}/${secret.labelId}/${secretCollection}/${secret.id}`,
    boundSubject: secret.boundSubject ?? "",
    boundSubjectAltNames: [...(secret.boundSans ?? [])],
    creator: creatorName(secret.createdBy),
    createTime: timestamp(secret.createdAt),
    expireTime: timestamp(secret.expiresAt),
    useTime: timestamp(secret.usedAt),
    usedBy: secret.usedBy ?? "",
    revokeTime: timestamp(secret.revokedAt),
  });
}

/** What to mint for `labelId`: an unset binding or lifetime is left to the core (no binding, the label's lifetime). */
export function secretInputFromProto(
  labelId: string,
  message: EstEnrollmentSecret | undefined,
  ttl: Duration | undefined,
): MintEstSecretInput {
  const lifetimeSeconds = wholeSeconds(ttl, "ttl");
  return {
    labelId,
    ...(lifetimeSeconds === undefined ? {} : { lifetimeSeconds }),
    ...(message?.boundSubject ? { boundSubject: message.boundSubject } : {}),
    ...(message && message.boundSubjectAltNames.length > 0 ? { boundSans: message.boundSubjectAltNames } : {}),
  };
}

/** "estLabels/{id}/enrollmentSecrets/{secret_id}" -> its two ids. */
export function secretFromName(name: string, field = "name"): { labelId: string; secretId: string } {
  const match = /^estLabels\/([^/]+)\/enrollmentSecrets\/([^/]+)$/.exec(name);
  if (!match)
    throw new ChanceryError(
      "invalid_argument",
      `${field} must look like "estLabels/{id}/enrollmentSecrets/{secret_id}", got "${name}"`,
    );
  return { labelId: match[1]!, secretId: match[2]! };
}
