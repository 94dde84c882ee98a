import { createHash, randomUUID, timingSafeEqual } from "node:crypto";
import type { Logger } from "pino";
import type { CommonQueryMethods, DatabasePool } from "slonik";
import { z } from "zod";
import { findCaById } from "../../store/ca-store.ts";
import { revokeOutstandingEnrollmentSecrets } from "../../store/enrollment-secret-store.ts";
import { findProfileByName } from "../../store/profile-store.ts";
import {
  countScepEndpointDependents,
  deleteScepEndpoint,
  findScepEndpointById,
  findScepEndpointByName,
  insertScepEndpoint,
  listScepEndpointsAfter,
  lockScepEndpoint,
  type ScepEndpointFields,
  type ScepEndpointRow,
  updateScepEndpoint,
} from "../../store/scep-endpoint-store.ts";
import type { AuditDetail } from "../audit/audit-event.ts";
import type { AuditLog } from "../audit/audit-log.ts";
import type { KeyEncryption } from "../ca/key-encryption.ts";
import type { Clock } from "../clock.ts";
import { secretLifetimeWithin } from "../enrollment-secrets/secret-lifetime.ts";
import { ChanceryError } from "../errors.ts";
import { decodePageCursor, encodePageCursor, keysetPage, pageSizeWithin } from "../page-cursor.ts";
import { parseProfile } from "../profiles/profile-schema.ts";
import { uuidPattern } from "../uuid-pattern.ts";
import {
  type CaCertificateMode,
  type ChallengeMode,
  caCertificateModes,
  challengeModes,
  type IntuneSettings,
  type ScepEndpoint,
  type ScepEndpointChange,
  type ScepEndpointService,
  type WebhookSettings,
} from "./scep-types.ts";

const namePattern = /^[a-z0-9][a-z0-9-]{0,62}$/;
export const defaultScepPageSize = 100;
export const maxScepPageSize = 1000;
const defaultChallengeLifetimeSeconds = 3600;
const minStaticChallengeLength = 8;
const maxStaticChallengeLength = 255;
const minWebhookSecretLength = 16;
const maxSecretLength = 1024;
const maxUrlLength = 2000;
const maxSettingLength = 256;

/** Defaults of the Intune settings (scep-types.ts IntuneSettings): Microsoft's public cloud. */
export const intuneDefaults = {
  providerNameAndVersion: "Chancery/0.1",
  authorityUrl: "https://login.microsoftonline.com",
  graphUrl: "https://graph.microsoft.com",
  intuneResourceUrl: "https://api.manage.microsoft.com/",
} as const;

/**
 * The associated data the Intune client secret or webhook key is sealed
 * under: bound to the endpoint, so a sealed secret copied into another
 * endpoint's row does not open there.
 */
export function validationSecretBinding(endpointId: string): string {
  return `chancery/scep-validation-secret/${endpointId}`;
}

/** RFC 8894 §2.2 challenge passwords of static endpoints are kept as this hash only. */
function challengeHash(challenge: string): Buffer {
  return createHash("sha256").update(challenge, "utf8").digest();
}

/**
 * SCEP endpoints (migrations/0018 scep_endpoints): the control plane behind
 * /scep/<name>. Each write validates the whole endpoint against its CA and
 * profile and is audited in its transaction; secrets are hashed (static
 * challenge) or sealed under the KEK (Intune client secret, webhook key)
 * and never audited or logged.
 */
export function createScepEndpointService(deps: {
  pool: DatabasePool;
  audit: AuditLog;
  clock: Clock;
  keyEncryption: KeyEncryption;
  logger: Logger;
}): ScepEndpointService {
  const { pool, audit, clock, keyEncryption, logger } = deps;

  /**
   * Static challenge hashes by endpoint id, from the newest row this process
   * has read: matchesStaticChallenge is synchronous and the public model
   * carries no hash, so every read of a row refreshes this.
   */
  const staticHashes = new Map<string, { hash: Buffer | null; updatedAt: number }>();

  function toEndpoint(row: ScepEndpointRow): ScepEndpoint {
    const known = staticHashes.get(row.id);
    if (!known || known.updatedAt <= row.updated_at)
      staticHashes.set(row.id, { hash: row.static_challenge_hash, updatedAt: row.updated_at });
    return endpointOf(row);
  }

  async function load(id: string): Promise<ScepEndpointRow> {
    const row = uuidPattern.test(id) ? await findScepEndpointById(pool, id) : null;
    if (!row) throw notFound(id);
    return row;
  }

  /**
   * The CA, profile and next CA checked through `db` (the caller's
   * transaction). invalid_argument / failed_precondition name the field.
   * On an update only what changed is checked again: an endpoint whose CA
   * was disabled meanwhile can still be disabled or moved to another CA.
   */
  async function checkReferences(
    db: CommonQueryMethods,
    fields: ScepEndpointFields,
    previous: ScepEndpointRow | null,
  ): Promise<void> {
    const caChanged = previous === null || previous.ca_id !== fields.caId;
    if (caChanged || previous.profile_name !== fields.profileName) {
      const ca = uuidPattern.test(fields.caId) ? await findCaById(db, fields.caId) : null;
      if (!ca) throw new ChanceryError("invalid_argument", `ca_id: no CA with id "${fields.caId}"`);
      if (caChanged && (ca.status !== "active" || !ca.certificate_der))
        throw new ChanceryError("failed_precondition", `ca_id: CA ${ca.name} is ${ca.status} and cannot issue`);

      const profile = await findProfileByName(db, fields.profileName);
      if (!profile)
        throw new ChanceryError("invalid_argument", `profile_name: no profile named "${fields.profileName}"`);
      // A SCEP device is an end entity: a profile that makes CA certificates is never served here, even when
      // the CA lists it. Otherwise issuance's rule: an empty list on the CA allows every ordinary profile.
      if (parseProfile(profile.definition).basicConstraints.ca)
        throw new ChanceryError(
          "invalid_argument",
          `profile_name: "${fields.profileName}" makes CA certificates and cannot be used for SCEP`,
        );
      const allowed = ca.allowed_profiles;
      if (allowed.length > 0 && !allowed.includes(fields.profileName))
        throw new ChanceryError(
          "invalid_argument",
          `profile_name: profile "${fields.profileName}" is not allowed on CA ${ca.name} (allowed: ${allowed.join(", ")})`,
        );
    }

    // "ca" mode (RFC 8894 §2.1, no RA): devices encrypt to the CA certificate, so the CA's own key opens
    // the envelopes and signs the replies, and only RSA can do both.
    if (fields.caCertificateMode === "ca" && (caChanged || previous.ca_certificate_mode !== "ca")) {
      const ca = uuidPattern.test(fields.caId) ? await findCaById(db, fields.caId) : null;
      if (ca && !ca.key_algorithm.startsWith("rsa"))
        throw new ChanceryError(
          "failed_precondition",
          `ca_certificate_mode: "ca" needs an RSA CA (devices encrypt to it); CA ${ca.name} has a ${ca.key_algorithm} key`,
        );
    }

    if (fields.nextCaId !== null && (caChanged || previous.next_ca_id !== fields.nextCaId)) {
      if (fields.nextCaId === fields.caId)
        throw new ChanceryError("invalid_argument", "next_ca_id: must differ from ca_id");
      const next = uuidPattern.test(fields.nextCaId) ? await findCaById(db, fields.nextCaId) : null;
      if (!next) throw new ChanceryError("invalid_argument", `next_ca_id: no CA with id "${fields.nextCaId}"`);
      // GetNextCACert (RFC 8894 §4.7) answers with its certificate: it must have one.
      if (!next.certificate_der)
        throw new ChanceryError(
          "failed_precondition",
          `next_ca_id: CA ${next.name} is ${next.status} and has no certificate yet`,
        );
    }
  }

  /**
   * The endpoint's fields after `input` is applied over `current` (null for
   * a new endpoint), checked and normalised, secrets hashed or sealed, and
   * the names of the secrets that changed (for the audit event).
   */
  function merge(
    id: string,
    current: ScepEndpointRow | null,
    change: ScepEndpointChange,
  ): { fields: ScepEndpointFields; secretsChanged: string[] } {
    // An empty secret is never valid: read it as "not given" (proto3 strings cannot be absent).
    const input: ScepEndpointChange = {
      ...change,
      staticChallenge: change.staticChallenge || undefined,
      intuneClientSecret: change.intuneClientSecret || undefined,
      webhookSecret: change.webhookSecret || undefined,
      // A message field left out over the admin API may arrive as null.
      intune: change.intune ?? undefined,
      webhook: change.webhook ?? undefined,
    };
    const mode = input.challengeMode ?? (current?.challenge_mode as ChallengeMode | undefined);
    if (mode === undefined || !(challengeModes as readonly string[]).includes(mode))
      throw new ChanceryError(
        "invalid_argument",
        `challenge_mode: must be one of ${challengeModes.join(", ")}, got "${String(mode)}"`,
      );
    const modeChanged = current === null || current.challenge_mode !== mode;

    // Secrets and settings of another mode are refused rather than ignored, so nobody believes they are in use.
    const given = {
      static_challenge: input.staticChallenge !== undefined,
      intune: input.intune !== undefined,
      intune_client_secret: input.intuneClientSecret !== undefined,
      webhook: input.webhook !== undefined,
      webhook_secret: input.webhookSecret !== undefined,
    };
    const belongsTo: Record<keyof typeof given, ChallengeMode> = {
      static_challenge: "static",
      intune: "intune",
      intune_client_secret: "intune",
      webhook: "webhook",
      webhook_secret: "webhook",
    };
    for (const [field, isGiven] of Object.entries(given) as Array<[keyof typeof given, boolean]>)
      if (isGiven && belongsTo[field] !== mode)
        throw new ChanceryError("invalid_argument", `${field}: only used in ${belongsTo[field]} mode, not ${mode}`);

    const secretsChanged: string[] = [];
    let staticChallengeHash: Buffer | null = null;
    let validationSettings: Record<string, string> = {};
    let sealedValidationSecret: Buffer | null = null;
    switch (mode) {
      case "none":
      case "dynamic":
        break;
      case "static": {
        if (input.staticChallenge !== undefined) {
          staticChallengeHash = challengeHash(checkStaticChallenge(input.staticChallenge));
          secretsChanged.push("static_challenge");
        } else if (!modeChanged && current?.static_challenge_hash) {
          staticChallengeHash = current.static_challenge_hash;
        } else {
          throw new ChanceryError("invalid_argument", "static_challenge: required in static mode");
        }
        break;
      }
      case "intune": {
        if (input.intune !== undefined) validationSettings = { ...checkIntune(input.intune) };
        else if (!modeChanged) validationSettings = storedSettings(current!.validation_settings);
        else throw new ChanceryError("invalid_argument", "intune: tenant and client_id are required in intune mode");
        sealedValidationSecret = sealedSecret(
          id,
          current,
          modeChanged,
          input.intuneClientSecret,
          "intune_client_secret",
          1,
          secretsChanged,
        );
        break;
      }
      case "webhook": {
        if (input.webhook !== undefined) validationSettings = { url: checkUrl(input.webhook.url, "webhook.url") };
        else if (!modeChanged) validationSettings = storedSettings(current!.validation_settings);
        else throw new ChanceryError("invalid_argument", "webhook: a URL is required in webhook mode");
        sealedValidationSecret = sealedSecret(
          id,
          current,
          modeChanged,
          input.webhookSecret,
          "webhook_secret",
          minWebhookSecretLength,
          secretsChanged,
        );
        break;
      }
    }

    const challengeLifetimeSeconds = secretLifetimeWithin(
      "challenge_lifetime_seconds",
      input.challengeLifetimeSeconds ?? current?.challenge_lifetime_seconds ?? defaultChallengeLifetimeSeconds,
    );
    const caCertificateMode = input.caCertificateMode ?? current?.ca_certificate_mode ?? "chain";
    if (!(caCertificateModes as readonly string[]).includes(caCertificateMode))
      throw new ChanceryError(
        "invalid_argument",
        `ca_certificate_mode: must be one of ${caCertificateModes.join(", ")}, got "${caCertificateMode}"`,
      );
    const caId = input.caId ?? current?.ca_id;
    const profileName = input.profileName ?? current?.profile_name;
    if (!caId) throw new ChanceryError("invalid_argument", "ca_id: required");
    if (!profileName) throw new ChanceryError("invalid_argument", "profile_name: required");
    // nextCaId: undefined keeps, null or "" clears.
    const nextCaId = input.nextCaId === undefined ? (current?.next_ca_id ?? null) : input.nextCaId || null;

    return {
      fields: {
        caId,
        profileName,
        challengeMode: mode,
        staticChallengeHash,
        validationSettings,
        sealedValidationSecret,
        challengeLifetimeSeconds,
        caCertificateMode,
        nextCaId,
        legacyCrypto: input.legacyCrypto ?? current?.legacy_crypto ?? false,
        renewalAllowed: input.renewalAllowed ?? current?.renewal_allowed ?? true,
        enabled: input.enabled ?? current?.enabled ?? true,
      },
      secretsChanged,
    };
  }

  /** The sealed Intune secret or webhook key: the new one sealed, or the stored one kept within the same mode. */
  function sealedSecret(
    id: string,
    current: ScepEndpointRow | null,
    modeChanged: boolean,
    secret: string | undefined,
    field: string,
    minLength: number,
    secretsChanged: string[],
  ): Buffer {
    if (secret === undefined) {
      if (!modeChanged && current?.sealed_validation_secret) return current.sealed_validation_secret;
      throw new ChanceryError("invalid_argument", `${field}: required when switching to this mode`);
    }
    if (secret.length < minLength || secret.length > maxSecretLength || /[\p{Cc}]/u.test(secret))
      throw new ChanceryError(
        "invalid_argument",
        `${field}: must be ${minLength} to ${maxSecretLength} characters, without control characters`,
      );
    secretsChanged.push(field);
    return keyEncryption.seal(Buffer.from(secret, "utf8"), validationSecretBinding(id));
  }

  const service: ScepEndpointService = {
    async create(input, by) {
      if (!namePattern.test(input.name))
        throw new ChanceryError(
          "invalid_argument",
          `name: "${input.name}" must be 1-63 lower-case letters, digits or dashes, starting with a letter or digit`,
        );
      const id = randomUUID();
      const { fields } = merge(id, null, input);
      await pool.transaction(async (tx) => {
        await checkReferences(tx, fields, null);
        if (!(await insertScepEndpoint(tx, { ...fields, id, name: input.name, now: clock.now() })))
          throw new ChanceryError("already_exists", `a SCEP endpoint named "${input.name}" already exists`);
        await audit.appendInTransaction(tx, [
          {
            ...by,
            action: "scep.endpoint.create",
            target: `scep-endpoint:${id}`,
            details: auditDetails(input.name, fields),
          },
        ]);
      });
      logger.info(
        { endpointId: id, endpoint: input.name, challengeMode: fields.challengeMode },
        "SCEP endpoint created",
      );
      return service.get(id);
    },

    async get(id) {
      return toEndpoint(await load(id));
    },

    async getByName(name) {
      const row = namePattern.test(name) ? await findScepEndpointByName(pool, name) : null;
      if (!row) throw new ChanceryError("not_found", `no SCEP endpoint named "${name}"`);
      return toEndpoint(row);
    },

    async list(page) {
      const size = pageSize(page.pageSize);
      const after = page.pageToken ? decodePageToken(page.pageToken) : null;
      // One row more than asked tells whether another page follows.
      const rows = await listScepEndpointsAfter(pool, after, size + 1);
      const { shown, nextPageToken } = keysetPage(rows, size, (last) => encodePageToken(last.name));
      return { endpoints: shown.map(toEndpoint), nextPageToken };
    },

    async update(id, change, by) {
      await load(id);
      await pool.transaction(async (tx) => {
        // Locked, so two concurrent partial updates cannot undo each other.
        const row = await lockScepEndpoint(tx, id);
        if (!row) throw notFound(id);
        const { fields, secretsChanged } = merge(id, row, change);
        await checkReferences(tx, fields, row);
        const now = clock.now();
        await updateScepEndpoint(tx, id, fields, now);
        // Leaving dynamic mode retires its challenges: switching back must not revive them.
        const revokedChallenges =
          row.challenge_mode === "dynamic" && fields.challengeMode !== "dynamic"
            ? await revokeOutstandingEnrollmentSecrets(tx, { column: "scep_endpoint_id", id }, now)
            : 0;
        await audit.appendInTransaction(tx, [
          {
            ...by,
            action: "scep.endpoint.update",
            target: `scep-endpoint:${id}`,
            details: {
              ...auditDetails(row.name, fields),
              // Field names only: which secrets were replaced, never what they are.
              changed: Object.keys(definedOnly({ ...change })).sort(),
              secretsChanged,
              ...(revokedChallenges > 0 ? { revokedChallenges } : {}),
            },
          },
        ]);
      });
      logger.info({ endpointId: id }, "SCEP endpoint updated");
      return service.get(id);
    },

    async delete(id, by) {
      await load(id);
      await pool.transaction(async (tx) => {
        const row = await lockScepEndpoint(tx, id);
        if (!row) throw notFound(id);
        const dependents = await countScepEndpointDependents(tx, id);
        await deleteScepEndpoint(tx, id);
        await audit.appendInTransaction(tx, [
          {
            ...by,
            action: "scep.endpoint.delete",
            target: `scep-endpoint:${id}`,
            details: {
              ...auditDetails(row.name, fieldsOfRow(row)),
              deletedRaCertificates: dependents.raCertificates,
              deletedChallenges: dependents.challenges,
              deletedTransactions: dependents.transactions,
            },
          },
        ]);
      });
      staticHashes.delete(id);
      logger.info({ endpointId: id }, "SCEP endpoint deleted");
    },

    async validationSecret(endpoint) {
      if (endpoint.challengeMode !== "intune" && endpoint.challengeMode !== "webhook") return null;
      const row = await load(endpoint.id);
      toEndpoint(row);
      // The mode may have changed since the caller read the endpoint: only its own mode's secret is answered.
      if (row.challenge_mode !== endpoint.challengeMode || !row.sealed_validation_secret) return null;
      // A blob that does not open is tampering or a KEK mix-up: an error, never "no secret".
      const secret = keyEncryption.open(row.sealed_validation_secret, validationSecretBinding(row.id));
      try {
        return secret.toString("utf8");
      } finally {
        secret.fill(0);
      }
    },

    matchesStaticChallenge(endpoint, challenge) {
      if (endpoint.challengeMode !== "static") return false;
      const stored = staticHashes.get(endpoint.id)?.hash;
      if (!stored) return false;
      // Both sides are SHA-256 digests, so the comparison is constant time whatever the challenge's length.
      return timingSafeEqual(stored, challengeHash(challenge));
    },
  };
  return service;
}

function notFound(id: string): ChanceryError {
  return new ChanceryError("not_found", `no SCEP endpoint with id ${id}`);
}

function checkStaticChallenge(challenge: string): string {
  const length = [...challenge].length;
  if (length < minStaticChallengeLength || length > maxStaticChallengeLength || /[\p{Cc}]/u.test(challenge))
    throw new ChanceryError(
      "invalid_argument",
      `static_challenge: must be ${minStaticChallengeLength} to ${maxStaticChallengeLength} characters, without control characters`,
    );
  return challenge;
}

function checkSetting(value: string | undefined, field: string, pattern: RegExp): string {
  if (value === undefined || value === "") throw new ChanceryError("invalid_argument", `${field}: required`);
  if (value.length > maxSettingLength || !pattern.test(value))
    throw new ChanceryError("invalid_argument", `${field}: "${value.slice(0, 100)}" is not valid`);
  return value;
}

function checkIntune(input: Partial<IntuneSettings>): IntuneSettings {
  return {
    // A domain ("contoso.onmicrosoft.com") or the tenant GUID: it goes into the token endpoint's path.
    tenant: checkSetting(input.tenant, "intune.tenant", /^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$/),
    clientId: checkSetting(input.clientId, "intune.client_id", /^[\x21-\x7e]+$/),
    providerNameAndVersion: checkSetting(
      input.providerNameAndVersion || intuneDefaults.providerNameAndVersion,
      "intune.provider_name_and_version",
      /^[\x20-\x7e]+$/,
    ),
    authorityUrl: checkUrl(input.authorityUrl || intuneDefaults.authorityUrl, "intune.authority_url"),
    graphUrl: checkUrl(input.graphUrl || intuneDefaults.graphUrl, "intune.graph_url"),
    intuneResourceUrl: checkUrl(
      input.intuneResourceUrl || intuneDefaults.intuneResourceUrl,
      "intune.intune_resource_url",
    ),
  };
}

const loopbackHosts = new Set(["127.0.0.1", "[::1]", "localhost"]);

/**
 * An https URL; http only to the loopback host (a local mock in tests, or a
 * validator on the same machine): the client secret, the bearer token and
 * the webhook's signed CSR facts must not cross a network in the clear.
 */
function checkUrl(value: string, field: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ChanceryError("invalid_argument", `${field}: "${value.slice(0, 100)}" is not an absolute URL`);
  }
  if (value.length > maxUrlLength)
    throw new ChanceryError("invalid_argument", `${field}: longer than ${maxUrlLength} characters`);
  if (url.protocol !== "https:" && !(url.protocol === "http:" && loopbackHosts.has(url.hostname)))
    throw new ChanceryError("invalid_argument", `${field}: must be https (http only to 127.0.0.1, ::1 or localhost)`);
  if (url.username !== "" || url.password !== "")
    throw new ChanceryError("invalid_argument", `${field}: must not carry credentials`);
  if (url.hash !== "") throw new ChanceryError("invalid_argument", `${field}: must not have a fragment`);
  return value;
}

function storedSettings(value: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, setting] of Object.entries(value)) if (typeof setting === "string") out[key] = setting;
  return out;
}

function fieldsOfRow(row: ScepEndpointRow): ScepEndpointFields {
  return {
    caId: row.ca_id,
    profileName: row.profile_name,
    challengeMode: row.challenge_mode,
    staticChallengeHash: row.static_challenge_hash,
    validationSettings: storedSettings(row.validation_settings),
    sealedValidationSecret: row.sealed_validation_secret,
    challengeLifetimeSeconds: row.challenge_lifetime_seconds,
    caCertificateMode: row.ca_certificate_mode,
    nextCaId: row.next_ca_id,
    legacyCrypto: row.legacy_crypto,
    renewalAllowed: row.renewal_allowed,
    enabled: row.enabled,
  };
}

function intuneOf(settings: Record<string, string>): IntuneSettings {
  return {
    tenant: settings["tenant"] ?? "",
    clientId: settings["clientId"] ?? "",
    providerNameAndVersion: settings["providerNameAndVersion"] ?? intuneDefaults.providerNameAndVersion,
    authorityUrl: settings["authorityUrl"] ?? intuneDefaults.authorityUrl,
    graphUrl: settings["graphUrl"] ?? intuneDefaults.graphUrl,
    intuneResourceUrl: settings["intuneResourceUrl"] ?? intuneDefaults.intuneResourceUrl,
  };
}

function endpointOf(row: ScepEndpointRow): ScepEndpoint {
  // The table's CHECKs keep these to the known values.
  const mode = row.challenge_mode as ChallengeMode;
  const settings = storedSettings(row.validation_settings);
  const webhook: WebhookSettings | null = mode === "webhook" ? { url: settings["url"] ?? "" } : null;
  return {
    id: row.id,
    name: row.name,
    caId: row.ca_id,
    profileName: row.profile_name,
    challengeMode: mode,
    intune: mode === "intune" ? intuneOf(settings) : null,
    webhook,
    challengeLifetimeSeconds: row.challenge_lifetime_seconds,
    caCertificateMode: row.ca_certificate_mode as CaCertificateMode,
    nextCaId: row.next_ca_id,
    legacyCrypto: row.legacy_crypto,
    renewalAllowed: row.renewal_allowed,
    enabled: row.enabled,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

/** What an audit event says of an endpoint: every setting, no secret (not even a hash). */
function auditDetails(name: string, fields: ScepEndpointFields): Record<string, AuditDetail> {
  return {
    name,
    caId: fields.caId,
    profileName: fields.profileName,
    challengeMode: fields.challengeMode,
    ...(fields.challengeMode === "intune" || fields.challengeMode === "webhook"
      ? { validationSettings: { ...fields.validationSettings } }
      : {}),
    challengeLifetimeSeconds: fields.challengeLifetimeSeconds,
    caCertificateMode: fields.caCertificateMode,
    nextCaId: fields.nextCaId,
    legacyCrypto: fields.legacyCrypto,
    renewalAllowed: fields.renewalAllowed,
    enabled: fields.enabled,
  };
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function pageSize(value: number | undefined): number {
  return pageSizeWithin(value, { default: defaultScepPageSize, max: maxScepPageSize });
}

// The page token is the last endpoint's name, base64url JSON: opaque to
// clients but not secret (forging one only moves where the listing starts).
const pageCursor = z.object({ n: z.string().regex(namePattern) }).strict();

function encodePageToken(lastName: string): string {
  return encodePageCursor({ n: lastName });
}

function decodePageToken(token: string): string {
  return decodePageCursor(token, pageCursor).n;
}
