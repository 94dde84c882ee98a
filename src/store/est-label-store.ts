import { type CommonQueryMethods, sql } from "slonik";
import { z } from "zod";

const labelRow = z.object({
  id: z.string(),
  name: z.string(),
  is_default: z.boolean(),
  ca_id: z.string(),
  profile_name: z.string(),
  auth_mode: z.string(),
  client_ca_ids: z.array(z.string()),
  external_anchors_der: z.array(z.instanceof(Buffer)),
  channel_binding_required: z.boolean(),
  server_keygen_allowed: z.boolean(),
  reenroll_subject_change_allowed: z.boolean(),
  secret_lifetime_seconds: z.number(),
  enabled: z.boolean(),
  created_at: z.number(),
  updated_at: z.number(),
});
/** A row of est_labels (migration 0019). */
export type EstLabelRow = z.infer<typeof labelRow>;

const columns = sql.fragment`id, name, is_default, ca_id, profile_name, auth_mode, client_ca_ids, external_anchors_der,
  channel_binding_required, server_keygen_allowed, reenroll_subject_change_allowed, secret_lifetime_seconds, enabled,
  created_at, updated_at`;

/** Every column a label write sets (all but id, name and the times). */
export interface EstLabelFields {
  isDefault: boolean;
  caId: string;
  profileName: string;
  authMode: string;
  clientCaIds: readonly string[];
  externalAnchorsDer: readonly Buffer[];
  channelBindingRequired: boolean;
  serverKeygenAllowed: boolean;
  reenrollSubjectChangeAllowed: boolean;
  secretLifetimeSeconds: number;
  enabled: boolean;
}

export async function findEstLabelById(db: CommonQueryMethods, id: string): Promise<EstLabelRow | null> {
  return db.maybeOne(sql.type(labelRow)`SELECT ${columns} FROM est_labels WHERE id = ${id}`);
}

export async function findEstLabelByName(db: CommonQueryMethods, name: string): Promise<EstLabelRow | null> {
  return db.maybeOne(sql.type(labelRow)`SELECT ${columns} FROM est_labels WHERE name = ${name}`);
}

export async function findDefaultEstLabel(db: CommonQueryMethods): Promise<EstLabelRow | null> {
  return db.maybeOne(sql.type(labelRow)`SELECT ${columns} FROM est_labels WHERE is_default`);
}

/** The row locked FOR UPDATE, so two partial updates of one label run one after the other. */
export async function lockEstLabel(tx: CommonQueryMethods, id: string): Promise<EstLabelRow | null> {
  return tx.maybeOne(sql.type(labelRow)`SELECT ${columns} FROM est_labels WHERE id = ${id} FOR UPDATE`);
}

/** Up to `limit` labels after `afterName` (exclusive; null for the first page), by name. */
export async function listEstLabelsAfter(
  db: CommonQueryMethods,
  afterName: string | null,
  limit: number,
): Promise<readonly EstLabelRow[]> {
  const after = afterName === null ? sql.fragment`TRUE` : sql.fragment`name > ${afterName}`;
  return db.any(sql.type(labelRow)`SELECT ${columns} FROM est_labels WHERE ${after} ORDER BY name LIMIT ${limit}`);
}

/**
 * Inserts the label; false (nothing written) when the name is taken.
 * ON CONFLICT rather than a caught unique violation, so the caller's
 * transaction survives losing a race for the name.
 */
export async function insertEstLabel(
  tx: CommonQueryMethods,
  row: EstLabelFields & { id: string; name: string; now: Date },
): Promise<boolean> {
  const now = sql.timestamp(row.now);
  const inserted = await tx.maybeOneFirst(sql.type(z.object({ id: z.string() }))`
    INSERT INTO est_labels (id, name, is_default, ca_id, profile_name, auth_mode, client_ca_ids, external_anchors_der,
      channel_binding_required, server_keygen_allowed, reenroll_subject_change_allowed, secret_lifetime_seconds,
      enabled, created_at, updated_at)
    VALUES (${row.id}, ${row.name}, ${row.isDefault}, ${row.caId}, ${row.profileName}, ${row.authMode},
      ${sql.array([...row.clientCaIds], "uuid")}, ${sql.array([...row.externalAnchorsDer], "bytea")},
      ${row.channelBindingRequired}, ${row.serverKeygenAllowed}, ${row.reenrollSubjectChangeAllowed},
      ${row.secretLifetimeSeconds}, ${row.enabled}, ${now}, ${now})
    ON CONFLICT (name) DO NOTHING
    RETURNING id`);
  return inserted !== null;
}

/** Rewrites every field but the name (the label's URL path, which never changes). */
export async function updateEstLabel(
  tx: CommonQueryMethods,
  id: string,
  fields: EstLabelFields,
  now: Date,
): Promise<void> {
  await tx.query(sql.unsafe`
    UPDATE est_labels SET is_default = ${fields.isDefault}, ca_id = ${fields.caId},
      profile_name = ${fields.profileName}, auth_mode = ${fields.authMode},
      client_ca_ids = ${sql.array([...fields.clientCaIds], "uuid")},
      external_anchors_der = ${sql.array([...fields.externalAnchorsDer], "bytea")},
      channel_binding_required = ${fields.channelBindingRequired}, server_keygen_allowed = ${fields.serverKeygenAllowed},
      reenroll_subject_change_allowed = ${fields.reenrollSubjectChangeAllowed},
      secret_lifetime_seconds = ${fields.secretLifetimeSeconds}, enabled = ${fields.enabled},
      updated_at = ${sql.timestamp(now)}
    WHERE id = ${id}`);
}

/** Takes the default mark off every label but `exceptId` (a label made default replaces the old one). */
export async function clearDefaultEstLabel(
  tx: CommonQueryMethods,
  exceptId: string,
  now: Date,
): Promise<string | null> {
  return tx.maybeOneFirst(sql.type(z.object({ name: z.string() }))`
    UPDATE est_labels SET is_default = false, updated_at = ${sql.timestamp(now)}
    WHERE is_default AND id <> ${exceptId}
    RETURNING name`);
}

/** Deletes the label; its secrets and enrollments go with it (ON DELETE CASCADE). */
export async function deleteEstLabel(tx: CommonQueryMethods, id: string): Promise<void> {
  await tx.query(sql.unsafe`DELETE FROM est_labels WHERE id = ${id}`);
}

/** How many secrets and enrollments a delete takes with it, for the audit event. */
export async function countEstLabelDependents(
  db: CommonQueryMethods,
  id: string,
): Promise<{ secrets: number; enrollments: number }> {
  const row = await db.one(sql.type(z.object({ secrets: z.number(), enrollments: z.number() }))`
    SELECT (SELECT count(*)::int FROM enrollment_secrets WHERE est_label_id = ${id}) AS secrets,
      (SELECT count(*)::int FROM est_enrollments WHERE label_id = ${id}) AS enrollments`);
  return { secrets: row.secrets, enrollments: row.enrollments };
}

export async function anyEstLabelExists(db: CommonQueryMethods): Promise<boolean> {
  return db.oneFirst(sql.type(z.object({ exists: z.boolean() }))`SELECT EXISTS (SELECT 1 FROM est_labels) AS exists`);
}

/** A transaction-scoped advisory lock (released at commit or rollback). */
export async function lockEstAdvisory(tx: CommonQueryMethods, key: bigint): Promise<void> {
  await tx.query(sql.unsafe`SELECT pg_advisory_xact_lock(${key.toString()}::bigint)`);
}
