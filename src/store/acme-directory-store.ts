import { type CommonQueryMethods, sql } from "slonik";
import { z } from "zod";

const directoryRow = z.object({
  id: z.string(),
  name: z.string(),
  ca_id: z.string(),
  allowed_profiles: z.array(z.string()),
  default_profile: z.string(),
  authorization_mode: z.string(),
  trusted_identifiers: z.array(z.string()),
  challenge_types: z.array(z.string()),
  external_account_required: z.boolean(),
  caa_check: z.boolean(),
  caa_identities: z.array(z.string()),
  terms_of_service_url: z.string().nullable(),
  website_url: z.string().nullable(),
  rate_limits: z.record(z.unknown()),
  enabled: z.boolean(),
  created_at: z.number(),
  updated_at: z.number(),
});
export type AcmeDirectoryRow = z.infer<typeof directoryRow>;

const columns = sql.fragment`id, name, ca_id, allowed_profiles, default_profile, authorization_mode,
  trusted_identifiers, challenge_types, external_account_required, caa_check, caa_identities, terms_of_service_url,
  website_url, rate_limits, enabled, created_at, updated_at`;

/** Every column a directory write sets (all but id and the times). */
export interface AcmeDirectoryFields {
  name: string;
  caId: string;
  allowedProfiles: readonly string[];
  defaultProfile: string;
  authorizationMode: string;
  trustedIdentifiers: readonly string[];
  challengeTypes: readonly string[];
  externalAccountRequired: boolean;
  caaCheck: boolean;
  caaIdentities: readonly string[];
  termsOfServiceUrl: string | null;
  websiteUrl: string | null;
  /** Only the limits set on this directory; absent ones take the defaults. */
  rateLimits: Record<string, number>;
  enabled: boolean;
}

export async function findAcmeDirectoryById(db: CommonQueryMethods, id: string): Promise<AcmeDirectoryRow | null> {
  return db.maybeOne(sql.type(directoryRow)`SELECT ${columns} FROM acme_directories WHERE id = ${id}`);
}

export async function findAcmeDirectoryByName(db: CommonQueryMethods, name: string): Promise<AcmeDirectoryRow | null> {
  return db.maybeOne(sql.type(directoryRow)`SELECT ${columns} FROM acme_directories WHERE name = ${name}`);
}

/** The row locked FOR UPDATE: account and key inserts (foreign keys) wait until the caller commits. */
export async function lockAcmeDirectory(tx: CommonQueryMethods, id: string): Promise<AcmeDirectoryRow | null> {
  return tx.maybeOne(sql.type(directoryRow)`SELECT ${columns} FROM acme_directories WHERE id = ${id} FOR UPDATE`);
}

export async function listAcmeDirectoryRows(db: CommonQueryMethods): Promise<readonly AcmeDirectoryRow[]> {
  return db.any(sql.type(directoryRow)`SELECT ${columns} FROM acme_directories ORDER BY name`);
}

export async function anyAcmeDirectoryExists(db: CommonQueryMethods): Promise<boolean> {
  return db.oneFirst(sql.type(z.object({ found: z.boolean() }))`
    SELECT EXISTS (SELECT 1 FROM acme_directories) AS found`);
}

export async function acmeDirectoryHasAccounts(db: CommonQueryMethods, id: string): Promise<boolean> {
  return db.oneFirst(sql.type(z.object({ found: z.boolean() }))`
    SELECT EXISTS (SELECT 1 FROM acme_accounts WHERE directory_id = ${id}) AS found`);
}

function values(fields: AcmeDirectoryFields) {
  return {
    allowedProfiles: sql.array([...fields.allowedProfiles], "text"),
    trustedIdentifiers: sql.array([...fields.trustedIdentifiers], "text"),
    challengeTypes: sql.array([...fields.challengeTypes], "text"),
    caaIdentities: sql.array([...fields.caaIdentities], "text"),
    rateLimits: sql.jsonb(fields.rateLimits),
  };
}

/**
 * Inserts the directory; false (nothing written) when the name is taken.
 * ON CONFLICT rather than a caught unique violation, so a caller's
 * transaction survives losing a race for the name.
 */
export async function insertAcmeDirectory(
  tx: CommonQueryMethods,
  row: AcmeDirectoryFields & { id: string; now: Date },
): Promise<boolean> {
  const v = values(row);
  const now = sql.timestamp(row.now);
  const inserted = await tx.maybeOneFirst(sql.type(z.object({ id: z.string() }))`
    INSERT INTO acme_directories (id, name, ca_id, allowed_profiles, default_profile, authorization_mode,
      trusted_identifiers, challenge_types, external_account_required, caa_check, caa_identities,
      terms_of_service_url, website_url, rate_limits, enabled, created_at, updated_at)
    VALUES (${row.id}, ${row.name}, ${row.caId}, ${v.allowedProfiles}, ${row.defaultProfile}, ${row.authorizationMode},
      ${v.trustedIdentifiers}, ${v.challengeTypes}, ${row.externalAccountRequired}, ${row.caaCheck}, ${v.caaIdentities},
      ${row.termsOfServiceUrl}, ${row.websiteUrl}, ${v.rateLimits}, ${row.enabled}, ${now}, ${now})
    ON CONFLICT (name) DO NOTHING
    RETURNING id`);
  return inserted !== null;
}

/** Rewrites every field but the name (which is the directory's URL and never changes). */
export async function updateAcmeDirectory(
  tx: CommonQueryMethods,
  id: string,
  fields: Omit<AcmeDirectoryFields, "name">,
  now: Date,
): Promise<void> {
  const v = values({ ...fields, name: "" });
  await tx.query(sql.unsafe`
    UPDATE acme_directories SET ca_id = ${fields.caId}, allowed_profiles = ${v.allowedProfiles},
      default_profile = ${fields.defaultProfile}, authorization_mode = ${fields.authorizationMode},
      trusted_identifiers = ${v.trustedIdentifiers}, challenge_types = ${v.challengeTypes},
      external_account_required = ${fields.externalAccountRequired}, caa_check = ${fields.caaCheck},
      caa_identities = ${v.caaIdentities}, terms_of_service_url = ${fields.termsOfServiceUrl},
      website_url = ${fields.websiteUrl}, rate_limits = ${v.rateLimits}, enabled = ${fields.enabled},
      updated_at = ${sql.timestamp(now)}
    WHERE id = ${id}`);
}

export async function deleteAcmeDirectory(tx: CommonQueryMethods, id: string): Promise<void> {
  await tx.query(sql.unsafe`DELETE FROM acme_directories WHERE id = ${id}`);
}

/**
 * A transaction-scoped advisory lock on one key: concurrent callers of the
 * same key (replicas creating the default directory) run one after another.
 */
export async function lockAdvisory(tx: CommonQueryMethods, key: bigint): Promise<void> {
  await tx.query(sql.unsafe`SELECT pg_advisory_xact_lock(${key.toString()}::bigint)`);
}
