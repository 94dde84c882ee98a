import { randomUUID } from "node:crypto";
import type { CommonQueryMethods, DatabasePool } from "slonik";
import {
  type AcmeDirectoryFields,
  type AcmeDirectoryRow,
  acmeDirectoryHasAccounts,
  anyAcmeDirectoryExists,
  deleteAcmeDirectory,
  findAcmeDirectoryById,
  findAcmeDirectoryByName,
  insertAcmeDirectory,
  listAcmeDirectoryRows,
  lockAcmeDirectory,
  lockAdvisory,
  updateAcmeDirectory,
} from "../../store/acme-directory-store.ts";
import { deleteAcmeEabKeysOfDirectory } from "../../store/acme-eab-key-store.ts";
import { findCaById } from "../../store/ca-store.ts";
import { findProfileByName } from "../../store/profile-store.ts";
import type { Actor } from "../actor.ts";
import type { AuditDetail } from "../audit/audit-event.ts";
import type { AuditLog } from "../audit/audit-log.ts";
import type { Clock } from "../clock.ts";
import { ChanceryError } from "../errors.ts";
import { dnsNameProblem } from "../issuance/subject-alt-name-syntax.ts";
import { parseProfile } from "../profiles/profile-schema.ts";
import { formatCidr, formatIpAddress, parseCidr, parseIpAddress } from "../x509/ip-address.ts";
import {
  type AcmeDirectory,
  type AcmeRateLimits,
  type AuthorizationMode,
  authorizationModes,
  type ChallengeType,
  challengeTypes,
  defaultAcmeRateLimits,
} from "./acme-types.ts";

/** What a new directory is made of; omitted fields take the defaults noted. */
export interface NewAcmeDirectory {
  /** 1-63 of [a-z0-9-], starting with a letter or digit: the URL segment, <acme base>/acme/<name>/directory. */
  readonly name: string;
  readonly caId: string;
  /** Profile names, at least one. */
  readonly allowedProfiles: readonly string[];
  /** Default: the first allowed profile. */
  readonly defaultProfile?: string | undefined;
  /** Default: challenge. */
  readonly authorizationMode?: AuthorizationMode | undefined;
  readonly trustedIdentifiers?: readonly string[] | undefined;
  /** Default: all three. Empty is only allowed in eab_trusted mode. */
  readonly challengeTypes?: readonly string[] | undefined;
  /** Default: false. */
  readonly externalAccountRequired?: boolean | undefined;
  /** Default: true. */
  readonly caaCheck?: boolean | undefined;
  readonly caaIdentities?: readonly string[] | undefined;
  readonly termsOfServiceUrl?: string | null | undefined;
  readonly websiteUrl?: string | null | undefined;
  /** Limits to set on this directory; the others take defaultAcmeRateLimits. */
  readonly rateLimits?: Partial<AcmeRateLimits> | undefined;
  /** Default: true. */
  readonly enabled?: boolean | undefined;
}

/**
 * A partial update: each field given replaces the stored one (the name
 * never changes). In rateLimits, a number sets that limit and null goes
 * back to the default; limits not named stay as they are.
 */
export interface AcmeDirectoryChange {
  readonly caId?: string | undefined;
  readonly allowedProfiles?: readonly string[] | undefined;
  /** Empty: the first allowed profile. */
  readonly defaultProfile?: string | undefined;
  readonly authorizationMode?: AuthorizationMode | undefined;
  readonly trustedIdentifiers?: readonly string[] | undefined;
  readonly challengeTypes?: readonly string[] | undefined;
  readonly externalAccountRequired?: boolean | undefined;
  readonly caaCheck?: boolean | undefined;
  readonly caaIdentities?: readonly string[] | undefined;
  readonly termsOfServiceUrl?: string | null | undefined;
  readonly websiteUrl?: string | null | undefined;
  readonly rateLimits?: { readonly [K in keyof AcmeRateLimits]?: number | null } | undefined;
  readonly enabled?: boolean | undefined;
}

export interface AcmeDirectoryService {
  create(input: NewAcmeDirectory, by: Actor): Promise<AcmeDirectory>;
  /** not_found for an unknown id. */
  get(id: string): Promise<AcmeDirectory>;
  /** not_found for an unknown name (the ACME front end answers 404). */
  getByName(name: string): Promise<AcmeDirectory>;
  /** Every directory, by name. */
  list(): Promise<AcmeDirectory[]>;
  update(id: string, change: AcmeDirectoryChange, by: Actor): Promise<AcmeDirectory>;
  /**
   * Refused (failed_precondition) while the directory has accounts: they,
   * their orders and their certificates' history point at it. Disabling is
   * the normal way to retire one. Its unused EAB keys go with it.
   */
  delete(id: string, by: Actor): Promise<void>;
  /**
   * At gateway start: when there is no directory at all, creates "default"
   * on the given CA (tls-server, challenge mode, every challenge type, CAA
   * checked). Replicas starting together create it once. Returns the
   * directory it created, or null when directories already existed.
   */
  ensureDefaultDirectory(options: { caId: string }): Promise<AcmeDirectory | null>;
}

export const defaultDirectoryName = "default";
export const defaultDirectoryProfile = "tls-server";

const namePattern = /^[a-z0-9][a-z0-9-]{0,62}$/;
/** Transaction advisory lock key ("chacmedf") serialising default-directory creation across replicas. */
const defaultDirectoryLockKey = 0x636861636d656466n;
const maxUrlLength = 2000;
const maxListLength = 100;
/** A limit must fit the admin API's int32. */
const maxRateLimit = 2_147_483_647;
const bootstrapActor: Actor = { actor: "bootstrap" };

/**
 * ACME directories (migration 0016): the control plane behind the ACME
 * server's configuration. Each write validates the whole directory against
 * the CA and profiles it names, and is audited in its transaction.
 */
export function createAcmeDirectoryService(deps: {
  pool: DatabasePool;
  audit: AuditLog;
  clock: Clock;
}): AcmeDirectoryService {
  const { pool, audit, clock } = deps;

  /**
   * Everything but the name checked and normalised, reading the CA and
   * profiles through `db` (the caller's transaction: slonik refuses pool
   * queries inside one). invalid_argument / failed_precondition name the field.
   */
  async function validate(db: CommonQueryMethods, fields: AcmeDirectoryFields): Promise<AcmeDirectoryFields> {
    const ca = isUuid(fields.caId) ? await findCaById(db, fields.caId) : null;
    if (!ca) throw new ChanceryError("invalid_argument", `ca: no CA with id "${fields.caId}"`);
    if (ca.status !== "active" || !ca.certificate_der)
      throw new ChanceryError("failed_precondition", `ca: CA ${ca.name} is ${ca.status} and cannot issue`);
    const caAllowed = ca.allowed_profiles;

    const allowedProfiles = unique(fields.allowedProfiles);
    if (allowedProfiles.length === 0)
      throw new ChanceryError("invalid_argument", "allowed_profiles: at least one profile is required");
    if (allowedProfiles.length > maxListLength)
      throw new ChanceryError("invalid_argument", `allowed_profiles: at most ${maxListLength} profiles`);
    for (const name of allowedProfiles) {
      const row = await findProfileByName(db, name);
      if (!row) throw new ChanceryError("invalid_argument", `allowed_profiles: no profile named "${name}"`);
      // The same rule issuance applies (issuance-service.ts): an empty list on the CA allows every profile
      // except those that make CA certificates, which must be listed on the CA explicitly.
      const listed = caAllowed.includes(name);
      if ((caAllowed.length > 0 && !listed) || (parseProfile(row.definition).basicConstraints.ca && !listed))
        throw new ChanceryError(
          "invalid_argument",
          `allowed_profiles: profile "${name}" is not allowed on CA ${ca.name}` +
            (caAllowed.length > 0 ? ` (allowed: ${caAllowed.join(", ")})` : ""),
        );
    }
    const defaultProfile = fields.defaultProfile || allowedProfiles[0]!;
    if (!allowedProfiles.includes(defaultProfile))
      throw new ChanceryError(
        "invalid_argument",
        `default_profile: "${defaultProfile}" is not one of allowed_profiles (${allowedProfiles.join(", ")})`,
      );

    if (!(authorizationModes as readonly string[]).includes(fields.authorizationMode))
      throw new ChanceryError(
        "invalid_argument",
        `authorization_mode: must be one of ${authorizationModes.join(", ")}, got "${fields.authorizationMode}"`,
      );
    const mode = fields.authorizationMode as AuthorizationMode;

    const challenges = unique(fields.challengeTypes);
    for (const type of challenges)
      if (!(challengeTypes as readonly string[]).includes(type))
        throw new ChanceryError(
          "invalid_argument",
          `challenge_types: "${type}" is not one of ${challengeTypes.join(", ")}`,
        );
    // Without a challenge type nothing could ever be authorized; only eab_trusted mode authorizes without one.
    if (challenges.length === 0 && mode !== "eab_trusted")
      throw new ChanceryError("invalid_argument", "challenge_types: at least one is required in challenge mode");

    const trusted = unique(fields.trustedIdentifiers.map(normalizeTrustedIdentifier));
    if (trusted.length > maxListLength)
      throw new ChanceryError("invalid_argument", `trusted_identifiers: at most ${maxListLength} patterns`);
    // Refused rather than ignored, so nobody believes identifiers are trusted in a mode that trusts none.
    if (mode === "challenge" && trusted.length > 0)
      throw new ChanceryError(
        "invalid_argument",
        "trusted_identifiers: only used in eab_trusted mode; clear them or set authorization_mode to eab_trusted",
      );
    if (mode === "eab_trusted" && trusted.length === 0)
      throw new ChanceryError("invalid_argument", "trusted_identifiers: eab_trusted mode needs at least one pattern");

    const caaIdentities = unique(
      fields.caaIdentities.map((name) => {
        const lower = name.toLowerCase();
        const problem = dnsNameProblem(lower, false);
        if (problem) throw new ChanceryError("invalid_argument", `caa_identities: "${name}" ${problem}`);
        return lower;
      }),
    );
    if (caaIdentities.length > maxListLength)
      throw new ChanceryError("invalid_argument", `caa_identities: at most ${maxListLength} names`);

    return {
      ...fields,
      allowedProfiles,
      defaultProfile,
      challengeTypes: challengeTypes.filter((t) => challenges.includes(t)),
      trustedIdentifiers: trusted,
      caaIdentities,
      termsOfServiceUrl: checkUrl(fields.termsOfServiceUrl, "terms_of_service_url"),
      websiteUrl: checkUrl(fields.websiteUrl, "website_url"),
      rateLimits: checkRateLimits(fields.rateLimits),
    };
  }

  function fieldsOf(input: NewAcmeDirectory): AcmeDirectoryFields {
    return {
      name: input.name,
      caId: input.caId,
      allowedProfiles: input.allowedProfiles,
      defaultProfile: input.defaultProfile ?? "",
      authorizationMode: input.authorizationMode ?? "challenge",
      trustedIdentifiers: input.trustedIdentifiers ?? [],
      challengeTypes: input.challengeTypes ?? challengeTypes,
      externalAccountRequired: input.externalAccountRequired ?? false,
      caaCheck: input.caaCheck ?? true,
      caaIdentities: input.caaIdentities ?? [],
      termsOfServiceUrl: input.termsOfServiceUrl ?? null,
      websiteUrl: input.websiteUrl ?? null,
      rateLimits: { ...input.rateLimits },
      enabled: input.enabled ?? true,
    };
  }

  function checkName(name: string): void {
    if (!namePattern.test(name))
      throw new ChanceryError(
        "invalid_argument",
        `name: "${name}" must be 1-63 lower-case letters, digits or dashes, starting with a letter or digit`,
      );
  }

  async function load(id: string): Promise<AcmeDirectoryRow> {
    const row = isUuid(id) ? await findAcmeDirectoryById(pool, id) : null;
    if (!row) throw new ChanceryError("not_found", `no ACME directory with id ${id}`);
    return row;
  }

  const service: AcmeDirectoryService = {
    async create(input, by) {
      checkName(input.name);
      const id = randomUUID();
      await pool.transaction(async (tx) => {
        const fields = await validate(tx, fieldsOf(input));
        if (!(await insertAcmeDirectory(tx, { ...fields, id, now: clock.now() })))
          throw new ChanceryError("already_exists", `an ACME directory named "${fields.name}" already exists`);
        await audit.appendInTransaction(tx, [
          { ...by, action: "acme.directory.create", target: `acme-directory:${id}`, details: auditDetails(fields) },
        ]);
      });
      return service.get(id);
    },

    async get(id) {
      return toDirectory(await load(id));
    },

    async getByName(name) {
      const row = namePattern.test(name) ? await findAcmeDirectoryByName(pool, name) : null;
      if (!row) throw new ChanceryError("not_found", `no ACME directory named "${name}"`);
      return toDirectory(row);
    },

    async list() {
      return (await listAcmeDirectoryRows(pool)).map(toDirectory);
    },

    async update(id, change, by) {
      await load(id);
      await pool.transaction(async (tx) => {
        // Locked, so two concurrent partial updates cannot undo each other.
        const row = await lockAcmeDirectory(tx, id);
        if (!row) throw new ChanceryError("not_found", `no ACME directory with id ${id}`);
        const current = fieldsOfRow(row);
        const fields = await validate(tx, {
          ...current,
          ...definedOnly({
            caId: change.caId,
            allowedProfiles: change.allowedProfiles,
            defaultProfile: change.defaultProfile,
            authorizationMode: change.authorizationMode,
            trustedIdentifiers: change.trustedIdentifiers,
            challengeTypes: change.challengeTypes,
            externalAccountRequired: change.externalAccountRequired,
            caaCheck: change.caaCheck,
            caaIdentities: change.caaIdentities,
            termsOfServiceUrl: change.termsOfServiceUrl,
            websiteUrl: change.websiteUrl,
            enabled: change.enabled,
          }),
          rateLimits: mergeRateLimits(current.rateLimits, change.rateLimits),
        });
        await updateAcmeDirectory(tx, id, fields, clock.now());
        await audit.appendInTransaction(tx, [
          {
            ...by,
            action: "acme.directory.update",
            target: `acme-directory:${id}`,
            details: { ...auditDetails(fields), changed: Object.keys(definedOnly({ ...change })).sort() },
          },
        ]);
      });
      return service.get(id);
    },

    async delete(id, by) {
      await load(id);
      await pool.transaction(async (tx) => {
        // FOR UPDATE conflicts with the key-share lock an account insert takes through its foreign key,
        // so no account can appear between this check and the delete.
        const row = await lockAcmeDirectory(tx, id);
        if (!row) throw new ChanceryError("not_found", `no ACME directory with id ${id}`);
        if (await acmeDirectoryHasAccounts(tx, id))
          throw new ChanceryError(
            "failed_precondition",
            `ACME directory "${row.name}" has accounts and cannot be deleted; disable it instead`,
          );
        const keys = await deleteAcmeEabKeysOfDirectory(tx, id);
        await deleteAcmeDirectory(tx, id);
        await audit.appendInTransaction(tx, [
          {
            ...by,
            action: "acme.directory.delete",
            target: `acme-directory:${id}`,
            details: { ...auditDetails(fieldsOfRow(row)), deletedEabKeys: keys },
          },
        ]);
      });
    },

    async ensureDefaultDirectory({ caId }) {
      if (await anyAcmeDirectoryExists(pool)) return null;
      const id = randomUUID();
      const created = await pool.transaction(async (tx) => {
        await lockAdvisory(tx, defaultDirectoryLockKey);
        if (await anyAcmeDirectoryExists(tx)) return false;
        const fields = await validate(
          tx,
          fieldsOf({
            name: defaultDirectoryName,
            caId,
            allowedProfiles: [defaultDirectoryProfile],
            defaultProfile: defaultDirectoryProfile,
            authorizationMode: "challenge",
            challengeTypes,
            externalAccountRequired: false,
            caaCheck: true,
            caaIdentities: [],
          }),
        );
        if (!(await insertAcmeDirectory(tx, { ...fields, id, now: clock.now() }))) return false;
        await audit.appendInTransaction(tx, [
          {
            ...bootstrapActor,
            action: "acme.directory.create",
            target: `acme-directory:${id}`,
            details: auditDetails(fields),
          },
        ]);
        return true;
      });
      return created ? service.get(id) : null;
    },
  };
  return service;
}

/**
 * A trusted identifier pattern in canonical form: a DNS name ("host.corp"),
 * "*.suffix" (any name below suffix, at any depth), an IP address, or a CIDR
 * block with its host bits zero. Matching is acme-identifiers.ts's
 * trustedPatternCovers.
 */
export function normalizeTrustedIdentifier(pattern: string): string {
  const text = pattern.trim();
  if (text.includes("/")) {
    const cidr = parseCidr(text);
    if (!cidr)
      throw new ChanceryError(
        "invalid_argument",
        `trusted_identifiers: "${pattern}" is not a CIDR block (address/prefix, host bits zero)`,
      );
    return formatCidr(cidr);
  }
  const address = parseIpAddress(text);
  if (address) return formatIpAddress(address);
  const lower = text.toLowerCase();
  const name = lower.startsWith("*.") ? lower.slice(2) : lower;
  // A suffix may be a single internal label ("*.corp"), which a certificate wildcard could not be.
  const problem = dnsNameProblem(name, false);
  if (problem) throw new ChanceryError("invalid_argument", `trusted_identifiers: "${pattern}" ${problem}`);
  return lower;
}

function checkUrl(value: string | null, field: string): string | null {
  if (value === null || value === "") return null;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ChanceryError("invalid_argument", `${field}: "${value.slice(0, 100)}" is not an absolute URL`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:")
    throw new ChanceryError("invalid_argument", `${field}: must be an http or https URL`);
  if (value.length > maxUrlLength)
    throw new ChanceryError("invalid_argument", `${field}: longer than ${maxUrlLength} characters`);
  return value;
}

const rateLimitKeys = Object.keys(defaultAcmeRateLimits) as Array<keyof AcmeRateLimits>;

function checkRateLimits(limits: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, value] of Object.entries(limits)) {
    if (!(rateLimitKeys as string[]).includes(key))
      throw new ChanceryError("invalid_argument", `rate_limits: unknown limit "${key}"`);
    if (!Number.isInteger(value) || value < 1 || value > maxRateLimit)
      throw new ChanceryError(
        "invalid_argument",
        `rate_limits: ${key} must be a whole number from 1 to ${maxRateLimit}`,
      );
    out[key] = value;
  }
  return out;
}

function mergeRateLimits(
  current: Record<string, number>,
  change: AcmeDirectoryChange["rateLimits"],
): Record<string, number> {
  const merged = { ...current };
  for (const [key, value] of Object.entries(change ?? {})) {
    if (value === undefined) continue;
    if (value === null) delete merged[key];
    else merged[key] = value;
  }
  return merged;
}

/** The limits a directory row sets (anything unreadable is left to the default). */
function storedRateLimits(value: Record<string, unknown>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const key of rateLimitKeys) {
    const limit = value[key];
    if (typeof limit === "number" && Number.isInteger(limit) && limit > 0) out[key] = limit;
  }
  return out;
}

function fieldsOfRow(row: AcmeDirectoryRow): AcmeDirectoryFields {
  return {
    name: row.name,
    caId: row.ca_id,
    allowedProfiles: row.allowed_profiles,
    defaultProfile: row.default_profile,
    authorizationMode: row.authorization_mode,
    trustedIdentifiers: row.trusted_identifiers,
    challengeTypes: row.challenge_types,
    externalAccountRequired: row.external_account_required,
    caaCheck: row.caa_check,
    caaIdentities: row.caa_identities,
    termsOfServiceUrl: row.terms_of_service_url,
    websiteUrl: row.website_url,
    rateLimits: storedRateLimits(row.rate_limits),
    enabled: row.enabled,
  };
}

function toDirectory(row: AcmeDirectoryRow): AcmeDirectory {
  if (!(authorizationModes as readonly string[]).includes(row.authorization_mode))
    throw new ChanceryError("internal", `ACME directory ${row.id} has unknown authorization mode`);
  return {
    id: row.id,
    name: row.name,
    caId: row.ca_id,
    allowedProfiles: row.allowed_profiles,
    defaultProfile: row.default_profile,
    authorizationMode: row.authorization_mode as AuthorizationMode,
    trustedIdentifiers: row.trusted_identifiers,
    // The table's CHECK keeps these to the three known types.
    challengeTypes: row.challenge_types as ChallengeType[],
    externalAccountRequired: row.external_account_required,
    caaCheck: row.caa_check,
    caaIdentities: row.caa_identities,
    termsOfServiceUrl: row.terms_of_service_url,
    websiteUrl: row.website_url,
    rateLimits: { ...defaultAcmeRateLimits, ...storedRateLimits(row.rate_limits) },
    enabled: row.enabled,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

function auditDetails(fields: AcmeDirectoryFields): Record<string, AuditDetail> {
  return {
    name: fields.name,
    caId: fields.caId,
    allowedProfiles: [...fields.allowedProfiles],
    defaultProfile: fields.defaultProfile,
    authorizationMode: fields.authorizationMode,
    trustedIdentifiers: [...fields.trustedIdentifiers],
    challengeTypes: [...fields.challengeTypes],
    externalAccountRequired: fields.externalAccountRequired,
    caaCheck: fields.caaCheck,
    caaIdentities: [...fields.caaIdentities],
    termsOfServiceUrl: fields.termsOfServiceUrl,
    websiteUrl: fields.websiteUrl,
    rateLimits: { ...fields.rateLimits },
    enabled: fields.enabled,
  };
}

function unique(values: readonly string[]): string[] {
  return [...new Set(values)];
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function isUuid(value: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value);
}
