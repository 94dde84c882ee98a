import { type CommonQueryMethods, sql } from "slonik";
import { z } from "zod";

const enrollmentRow = z.object({
  id: z.string(),
  label_id: z.string(),
  operation: z.string(),
  requester: z.string(),
  public_key_sha256: z.instanceof(Buffer),
  state: z.enum(["pending", "issued", "rejected", "failed"]),
  request_id: z.string().nullable(),
  certificate_serial_hex: z.string().nullable(),
  replaces_serial_hex: z.string().nullable(),
  sealed_private_key: z.instanceof(Buffer).nullable(),
  failure_reason: z.string().nullable(),
  source_ip: z.string().nullable(),
  created_at: z.number(),
  updated_at: z.number(),
});
/** A row of est_enrollments (migration 0019). */
export type EstEnrollmentRow = z.infer<typeof enrollmentRow>;

const columns = sql.fragment`id, label_id, operation, requester, public_key_sha256, state, request_id,
  certificate_serial_hex, replaces_serial_hex, sealed_private_key, failure_reason, source_ip, created_at, updated_at`;

export interface NewEstEnrollmentRow {
  id: string;
  labelId: string;
  operation: string;
  requester: string;
  publicKeySha256: Buffer;
  state: "pending" | "issued";
  requestId: string | null;
  certificateSerialHex: string | null;
  replacesSerialHex: string | null;
  sealedPrivateKey: Buffer | null;
  sourceIp: string | null;
  now: Date;
}

/**
 * Inserts the enrollment; false (nothing written) when a pending one for
 * the same label, requester and key exists (a racing duplicate).
 */
export async function insertEstEnrollment(tx: CommonQueryMethods, row: NewEstEnrollmentRow): Promise<boolean> {
  const now = sql.timestamp(row.now);
  const inserted = await tx.maybeOneFirst(sql.type(z.object({ id: z.string() }))`
    INSERT INTO est_enrollments (id, label_id, operation, requester, public_key_sha256, state, request_id,
      certificate_serial_hex, replaces_serial_hex, sealed_private_key, source_ip, created_at, updated_at)
    VALUES (${row.id}, ${row.labelId}, ${row.operation}, ${row.requester}, ${sql.binary(row.publicKeySha256)},
      ${row.state}, ${row.requestId}, ${row.certificateSerialHex}, ${row.replacesSerialHex},
      ${row.sealedPrivateKey === null ? null : sql.binary(row.sealedPrivateKey)}, ${row.sourceIp}, ${now}, ${now})
    ON CONFLICT (label_id, requester, public_key_sha256) WHERE state = 'pending' DO NOTHING
    RETURNING id`);
  return inserted !== null;
}

/** The pending enrollment of this label, requester and key, if any. */
export async function findPendingEstEnrollment(
  db: CommonQueryMethods,
  labelId: string,
  requester: string,
  publicKeySha256: Buffer,
): Promise<EstEnrollmentRow | null> {
  return db.maybeOne(sql.type(enrollmentRow)`
    SELECT ${columns} FROM est_enrollments
    WHERE label_id = ${labelId} AND requester = ${requester}
      AND public_key_sha256 = ${sql.binary(publicKeySha256)} AND state = 'pending'`);
}

export async function findEstEnrollment(db: CommonQueryMethods, id: string): Promise<EstEnrollmentRow | null> {
  return db.maybeOne(sql.type(enrollmentRow)`SELECT ${columns} FROM est_enrollments WHERE id = ${id}`);
}

/**
 * Ends a pending enrollment: issued (with its certificate) or rejected/failed
 * (with a reason). False when it was no longer pending (another replica
 * answered the same retry first). The sealed key is kept until delivery: a
 * serverkeygen client collects it with the certificate.
 */
export async function settleEstEnrollment(
  db: CommonQueryMethods,
  id: string,
  outcome: { state: "issued"; certificateSerialHex: string } | { state: "rejected" | "failed"; reason: string },
  now: Date,
): Promise<boolean> {
  const set =
    outcome.state === "issued"
      ? sql.fragment`state = 'issued', certificate_serial_hex = ${outcome.certificateSerialHex}`
      : sql.fragment`state = ${outcome.state}, failure_reason = ${outcome.reason}, sealed_private_key = NULL`;
  const changed = await db.maybeOneFirst(sql.type(z.object({ id: z.string() }))`
    UPDATE est_enrollments SET ${set}, updated_at = ${sql.timestamp(now)}
    WHERE id = ${id} AND state = 'pending'
    RETURNING id`);
  return changed !== null;
}

/** Drops a delivered server-generated key: the client has it, nobody else needs it. */
export async function clearEstEnrollmentKey(db: CommonQueryMethods, id: string, now: Date): Promise<void> {
  await db.query(sql.unsafe`
    UPDATE est_enrollments SET sealed_private_key = NULL, updated_at = ${sql.timestamp(now)}
    WHERE id = ${id} AND sealed_private_key IS NOT NULL`);
}

/** The re-enrollment that replaced this certificate, if any (RFC 7030 §4.2.2). */
export async function findEstReplacement(db: CommonQueryMethods, serialHex: string): Promise<EstEnrollmentRow | null> {
  return db.maybeOne(sql.type(enrollmentRow)`
    SELECT ${columns} FROM est_enrollments
    WHERE replaces_serial_hex = ${serialHex} AND state = 'issued'
    ORDER BY created_at DESC LIMIT 1`);
}
