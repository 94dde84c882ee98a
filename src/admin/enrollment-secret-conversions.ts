import { create } from "@bufbuild/protobuf";
import type { Duration } from "@bufbuild/protobuf/wkt";
import type {
  EnrollmentSecret as CoreEnrollmentSecret,
  EnrollmentSecretScope,
  MintEnrollmentSecretInput,
  ScopeKind,
} from "../core/enrollment-secrets/enrollment-secret-types.ts";
import { ChanceryError } from "../core/errors.ts";
import { type EnrollmentSecret, EnrollmentSecretSchema } from "../gen/chancery/admin/v1/enrollment_secret_pb.js";
import { idFromName, timestamp } from "./conversions.ts";
import { wholeSeconds } from "./whole-seconds.ts";

export const secretCollection = "enrollmentSecrets";

/** The API's `scope` oneof, as the generated code holds it. */
export type ScopeOneof = EnrollmentSecret["scope"];

/** Each scope kind: its oneof case, its field name and the collection of the resource it names. */
const scopeFields: ReadonlyArray<{
  kind: ScopeKind;
  case: "scepEndpoint" | "estLabel";
  field: string;
  collection: string;
}> = [
  { kind: "scep_endpoint", case: "scepEndpoint", field: "scep_endpoint", collection: "scepEndpoints" },
  { kind: "est_label", case: "estLabel", field: "est_label", collection: "estLabels" },
];

/**
 * The core scope a `scope` oneof names; null when it is unset. `prefix` is
 * the path of the message holding it, for the error ("enrollment_secret.").
 */
export function scopeFromProto(scope: ScopeOneof, prefix = ""): EnrollmentSecretScope | null {
  if (scope.case === undefined) return null;
  const entry = scopeFields.find((f) => f.case === scope.case)!;
  return { kind: entry.kind, id: idFromName(scope.value, entry.collection, `${prefix}${entry.field}`) };
}

/** The `scope` oneof naming a core scope, e.g. { case: "scepEndpoint", value: "scepEndpoints/{id}" }. */
export function scopeToProto(scope: EnrollmentSecretScope): ScopeOneof {
  const entry = scopeFields.find((f) => f.kind === scope.kind)!;
  return { case: entry.case, value: `${entry.collection}/${scope.id}` };
}

/** "user:<id>" as "users/<id>"; other audit actors as they are. */
function creatorName(actor: string): string {
  return actor.startsWith("user:") ? `users/${actor.slice("user:".length)}` : actor;
}

/** The secret as the API shows it: its record, never the secret itself (which is not kept). */
export function secretToProto(secret: CoreEnrollmentSecret): EnrollmentSecret {
  return create(EnrollmentSecretSchema, {
    name: `${secretCollection}/${secret.id}`,
    scope: scopeToProto(secret.scope),
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

/** What to mint: the scope is required; an unset binding or lifetime is left to the core (none, the scope's). */
export function secretInputFromProto(
  message: EnrollmentSecret | undefined,
  ttl: Duration | undefined,
): MintEnrollmentSecretInput {
  const scope = message ? scopeFromProto(message.scope, "enrollment_secret.") : null;
  if (!scope)
    throw new ChanceryError(
      "invalid_argument",
      "enrollment_secret.scep_endpoint or enrollment_secret.est_label is required: where the secret can be spent",
    );
  const lifetimeSeconds = wholeSeconds(ttl, "ttl");
  return {
    scope,
    ...(lifetimeSeconds === undefined ? {} : { lifetimeSeconds }),
    ...(message?.boundSubject ? { boundSubject: message.boundSubject } : {}),
    ...(message && message.boundSubjectAltNames.length > 0 ? { boundSans: message.boundSubjectAltNames } : {}),
  };
}

/** The core's mint messages start with its field names; these are the API's (see withApiFieldName). */
export const secretErrorFields: Readonly<Record<string, string>> = {
  lifetime_seconds: "ttl",
  bound_subject: "enrollment_secret.bound_subject",
  bound_sans: "enrollment_secret.bound_subject_alt_names",
};
