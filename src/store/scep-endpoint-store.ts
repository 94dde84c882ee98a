import { type CommonQueryMethods, sql } from "slonik";
import { z } from "zod";

const endpointRow = z.object({
  id: z.string(),
  name: z.string(),
  ca_id: z.string(),
  profile_name: z.string(),
  challenge_mode: z.string(),
  static_challenge_hash: z.instanceof(Buffer).nullable(),
  validation_settings: z.record(z.unknown()),
  sealed_validation_secret: z.instanceof(Buffer).nullable(),
  challenge_lifetime_seconds: z.number(),
  ca_certificate_mode: z.string(),
  next_ca_id: z.string().nullable(),
  legacy_crypto: z.boolean(),
  renewal_allowed: z.boolean(),
  enabled: z.boolean(),
  created_at: z.number(),
  updated_at: z.number(),
});
/** A row of scep_endpoints (migration 0018), the hash and the sealed secret included. */
export type ScepEndpointRow = z.infer<typeof endpointRow>;

const columns = sql.fragment`id, name, ca_id, profile_name, challenge_mode, static_challenge_hash, validation_settings,
  sealed_validation_secret, challenge_lifetime_seconds, ca_certificate_mode, next_ca_id, legacy_crypto, renewal_allowed,
  enabled, created_at, updated_at`;

/** Every column an endpoint write sets (all but id, name and the times). */
export interface ScepEndpointFields {
  caId: string;
  profileName: string;
  challengeMode: string;
  staticChallengeHash: Buffer | null;
  validationSettings: Record<string, string>;
  sealedValidationSecret: Buffer | null;
  challengeLifetimeSeconds: number;
  caCertificateMode: string;
  nextCaId: string | null;
  legacyCrypto: boolean;
  renewalAllowed: boolean;
  enabled: boolean;
}

export async function findScepEndpointById(db: CommonQueryMethods, id: string): Promise<ScepEndpointRow | null> {
  return db.maybeOne(sql.type(endpointRow)`SELECT ${columns} FROM scep_endpoints WHERE id = ${id}`);
}

export async function findScepEndpointByName(db: CommonQueryMethods, name: string): Promise<ScepEndpointRow | null> {
  return db.maybeOne(sql.type(endpointRow)`SELECT ${columns} FROM scep_endpoints WHERE name = ${name}`);
}

/** The row locked FOR UPDATE, so two partial updates of one endpoint run one after the other. */
export async function lockScepEndpoint(tx: CommonQueryMethods, id: string): Promise<ScepEndpointRow | null> {
  return tx.maybeOne(sql.type(endpointRow)`SELECT ${columns} FROM scep_endpoints WHERE id = ${id} FOR UPDATE`);
}

/** Up to `limit` endpoints after `afterName` (exclusive; null for the first page), by name. */
export async function listScepEndpointsAfter(
  db: CommonQueryMethods,
  afterName: string | null,
  limit: number,
): Promise<readonly ScepEndpointRow[]> {
  const after = afterName === null ? sql.fragment`TRUE` : sql.fragment`name > ${afterName}`;
  return db.any(sql.type(endpointRow)`
    SELECT ${columns} FROM scep_endpoints WHERE ${after} ORDER BY name LIMIT ${limit}`);
}

/**
 * Inserts the endpoint; false (nothing written) when the name is taken.
 * ON CONFLICT rather than a caught unique violation, so the caller's
 * transaction survives losing a race for the name.
 */
export async function insertScepEndpoint(
  tx: CommonQueryMethods,
  row: ScepEndpointFields & { id: string; name: string; now: Date },
): Promise<boolean> {
  const now = sql.timestamp(row.now);
  const inserted = await tx.maybeOneFirst(sql.type(z.object({ id: z.string() }))`
    INSERT INTO scep_endpoints (id, name, ca_id, profile_name, challenge_mode, static_challenge_hash,
      validation_settings, sealed_validation_secret, challenge_lifetime_seconds, ca_certificate_mode, next_ca_id,
      legacy_crypto, renewal_allowed, enabled, created_at, updated_at)
    VALUES (${row.id}, ${row.name}, ${row.caId}, ${row.profileName}, ${row.challengeMode},
      ${binaryOrNull(row.staticChallengeHash)}, ${sql.jsonb(row.validationSettings)},
      ${binaryOrNull(row.sealedValidationSecret)}, ${row.challengeLifetimeSeconds}, ${row.caCertificateMode},
      ${row.nextCaId}, ${row.legacyCrypto}, ${row.renewalAllowed}, ${row.enabled}, ${now}, ${now})
    ON CONFLICT (name) DO NOTHING
    RETURNING id`);
  return inserted !== null;
}

/** Rewrites every field but the name (the endpoint's URL path, which never changes). */
export async function updateScepEndpoint(
  tx: CommonQueryMethods,
  id: string,
  fields: ScepEndpointFields,
  now: Date,
): Promise<void> {
  await tx.query(sql.unsafe`
    UPDATE scep_endpoints SET ca_id = ${fields.caId}, profile_name = ${fields.profileName},
      challenge_mode = ${fields.challengeMode}, static_challenge_hash = ${binaryOrNull(fields.staticChallengeHash)},
      validation_settings = ${sql.jsonb(fields.validationSettings)},
      sealed_validation_secret = ${binaryOrNull(fields.sealedValidationSecret)},
      challenge_lifetime_seconds = ${fields.challengeLifetimeSeconds},
      ca_certificate_mode = ${fields.caCertificateMode}, next_ca_id = ${fields.nextCaId},
      legacy_crypto = ${fields.legacyCrypto}, renewal_allowed = ${fields.renewalAllowed}, enabled = ${fields.enabled},
      updated_at = ${sql.timestamp(now)}
    WHERE id = ${id}`);
}

/** Deletes the endpoint; its RA certificates, one-time challenges (enrollment_secrets) and transactions go with it (ON DELETE CASCADE). */
export async function deleteScepEndpoint(tx: CommonQueryMethods, id: string): Promise<void> {
  await tx.query(sql.unsafe`DELETE FROM scep_endpoints WHERE id = ${id}`);
}

/** How many RA certificates, challenges and transactions a delete takes with it, for the audit event. */
export async function countScepEndpointDependents(
  db: CommonQueryMethods,
  id: string,
): Promise<{ raCertificates: number; challenges: number; transactions: number }> {
  const row = await db.one(sql.type(
    z.object({ ra_certificates: z.number(), challenges: z.number(), transactions: z.number() }),
  )`
    SELECT (SELECT count(*)::int FROM scep_ra_certificates WHERE endpoint_id = ${id}) AS ra_certificates,
      (SELECT count(*)::int FROM enrollment_secrets WHERE scep_endpoint_id = ${id}) AS challenges,
      (SELECT count(*)::int FROM scep_transactions WHERE endpoint_id = ${id}) AS transactions`);
  return { raCertificates: row.ra_certificates, challenges: row.challenges, transactions: row.transactions };
}

function binaryOrNull(value: Buffer | null) {
  return value === null ? null : sql.binary(value);
}
