import { create } from "@bufbuild/protobuf";
import { DurationSchema } from "@bufbuild/protobuf/wkt";
import { ChanceryError } from "../core/errors.ts";
import type { AuthMode, EstLabel as CoreEstLabel, EstLabelChange, NewEstLabel } from "../core/est/est-types.ts";
import { type EstLabel, EstLabel_AuthMode, EstLabelSchema } from "../gen/chancery/admin/v1/est_pb.js";
import { idFromName, timestamp } from "./conversions.ts";
import { wholeSeconds } from "./whole-seconds.ts";

export const labelCollection = "estLabels";

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
