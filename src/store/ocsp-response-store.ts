import { type CommonQueryMethods, sql } from "slonik";
import { z } from "zod";

/**
 * Advisory lock class for the OCSP pre-signer ("ocpr" in ASCII), with
 * hashtext(ca id) as the object id: one replica pre-signs a CA at a time.
 */
const presignLockClass = 0x6f637072;

/**
 * Tries the per-CA pre-signing lock for the rest of the transaction; false
 * when another replica holds it (that replica is signing the CA's batch).
 */
export async function tryLockOcspPresign(tx: CommonQueryMethods, caId: string): Promise<boolean> {
  return tx.oneFirst(
    sql.type(z.object({ locked: z.boolean() }))`
      SELECT pg_try_advisory_xact_lock(${presignLockClass}::int, hashtext(${caId}::text)) AS locked`,
  );
}

const storedRow = z.object({
  status: z.enum(["good", "revoked"]),
  revoked_at: z.number().nullable(),
  revocation_reason: z.number().nullable(),
  der: z.instanceof(Buffer),
  sha256: z.string(),
  this_update: z.number(),
  next_update: z.number(),
  refresh_at: z.number(),
  responder_serial_hex: z.string(),
});

export type StoredOcspResponseRow = z.infer<typeof storedRow>;

/** The stored response of one certificate for one CertID hash algorithm, or null. */
export async function findStoredOcspResponse(
  db: CommonQueryMethods,
  caId: string,
  serialHex: string,
  hashAlgorithm: string,
): Promise<StoredOcspResponseRow | null> {
  return db.maybeOne(sql.type(storedRow)`
    SELECT status, revoked_at, revocation_reason, der, sha256, this_update, next_update, refresh_at,
      responder_serial_hex
    FROM ocsp_responses
    WHERE ca_id = ${caId} AND serial_hex = ${serialHex} AND hash_algorithm = ${hashAlgorithm}`);
}

export interface NewStoredOcspResponse {
  caId: string;
  serialHex: string;
  hashAlgorithm: string;
  status: "good" | "revoked";
  revokedAt: Date | null;
  revocationReason: number | null;
  der: Uint8Array;
  sha256: string;
  thisUpdate: Date;
  nextUpdate: Date;
  refreshAt: Date;
  responderSerialHex: string;
  signedAt: Date;
}

/** Rows per INSERT: 13 parameters each, well under Postgres's 65 535. */
const insertChunk = 500;

const writtenRow = z.object({ serial_hex: z.string(), hash_algorithm: z.string() });

/** A stored response the upsert wrote (inserted or replaced). */
export type WrittenOcspResponse = z.infer<typeof writtenRow>;

/**
 * Writes responses, replacing a stored one only when the new one says
 * revoked over good (revocation is final here), or says the same status
 * and is no older. So a "good" signed from a status read just before a
 * revocation never overwrites the revoked row written after it. Returns
 * the rows written; a refused one (the stored row stands) is left out.
 */
export async function upsertStoredOcspResponses(
  db: CommonQueryMethods,
  rows: readonly NewStoredOcspResponse[],
): Promise<WrittenOcspResponse[]> {
  const written: WrittenOcspResponse[] = [];
  for (let i = 0; i < rows.length; i += insertChunk) {
    const values = rows.slice(i, i + insertChunk).map(
      (row) => sql.fragment`(${row.caId}, ${row.serialHex}, ${row.hashAlgorithm}, ${row.status},
        ${row.revokedAt ? sql.timestamp(row.revokedAt) : null}, ${row.revocationReason},
        ${sql.binary(Buffer.from(row.der.buffer, row.der.byteOffset, row.der.byteLength))}, ${row.sha256},
        ${sql.timestamp(row.thisUpdate)}, ${sql.timestamp(row.nextUpdate)}, ${sql.timestamp(row.refreshAt)},
        ${row.responderSerialHex}, ${sql.timestamp(row.signedAt)})`,
    );
    written.push(
      ...(await db.any(sql.type(writtenRow)`
      INSERT INTO ocsp_responses (ca_id, serial_hex, hash_algorithm, status, revoked_at, revocation_reason, der,
        sha256, this_update, next_update, refresh_at, responder_serial_hex, signed_at)
      VALUES ${sql.join(values, sql.fragment`, `)}
      ON CONFLICT (ca_id, serial_hex, hash_algorithm) DO UPDATE SET
        status = excluded.status, revoked_at = excluded.revoked_at, revocation_reason = excluded.revocation_reason,
        der = excluded.der, sha256 = excluded.sha256, this_update = excluded.this_update,
        next_update = excluded.next_update, refresh_at = excluded.refresh_at,
        responder_serial_hex = excluded.responder_serial_hex, signed_at = excluded.signed_at
      WHERE (excluded.status = 'revoked' AND ocsp_responses.status = 'good')
        OR (excluded.status = ocsp_responses.status AND excluded.this_update >= ocsp_responses.this_update)
      RETURNING serial_hex, hash_algorithm`)),
    );
  }
  return written;
}

const candidateRow = z.object({
  serial_hex: z.string(),
  status: z.enum(["valid", "revoked"]),
  revoked_at: z.number().nullable(),
  revocation_reason: z.number().nullable(),
  /** ocsp_presign_due.revision as read with the status; null when the certificate has no due row (expired). */
  revision: z.number().nullable(),
});

export type OcspPresignCandidateRow = z.infer<typeof candidateRow>;

/**
 * The pre-signer's read (migration 0020): up to `limit` certificates of the
 * CA whose due time has come at `now` and which are not expired at `now`
 * (revoked ones too), longest due first ('-infinity' first: new and just
 * revoked). One range of the (ca_id, due_at) index: a CA with nothing due
 * reads no row, however many certificates it has.
 *
 * The status comes from a LATERAL subquery with LIMIT 1 (the serial is
 * unique) so that it cannot be flattened into a join: the planner's row
 * estimate for the due range counts other CAs' due rows too, and with a
 * plain join it chose a hash join reading every certificate of the store.
 * This way each due row is one probe of the serial index, and none is none.
 */
export function dueForPresignQuery(caId: string, now: Date, limit: number) {
  return sql.type(candidateRow)`
    SELECT d.serial_hex, c.status, c.revoked_at, c.revocation_reason, d.revision
    FROM ocsp_presign_due d
    CROSS JOIN LATERAL (
      SELECT status, revoked_at, revocation_reason FROM certificates WHERE serial_hex = d.serial_hex LIMIT 1
    ) c
    WHERE d.ca_id = ${caId} AND d.due_at <= ${sql.timestamp(now)} AND d.not_after > ${sql.timestamp(now)}
    ORDER BY d.due_at
    LIMIT ${limit}`;
}

export async function findCertificatesDueForPresign(
  db: CommonQueryMethods,
  caId: string,
  now: Date,
  limit: number,
): Promise<readonly OcspPresignCandidateRow[]> {
  return db.any(dueForPresignQuery(caId, now, limit));
}

/** One certificate of the CA as the pre-signer would read it (a revocation's immediate re-sign), or null. */
export async function findPresignCandidate(
  db: CommonQueryMethods,
  caId: string,
  serialHex: string,
): Promise<OcspPresignCandidateRow | null> {
  return db.maybeOne(sql.type(candidateRow)`
    SELECT c.serial_hex, c.status, c.revoked_at, c.revocation_reason, d.revision
    FROM certificates c LEFT JOIN ocsp_presign_due d ON d.serial_hex = c.serial_hex
    WHERE c.ca_id = ${caId} AND c.serial_hex = ${serialHex}`);
}

/**
 * Moves the due time of certificates whose responses were just signed and
 * stored (every CertID form) to their refresh time, capped at notAfter (then
 * the pass deletes the row). Only where the revision is still the one read
 * with the status that was signed: a revocation committed since then made the
 * certificate due, and it stays due. Row locks make this hold whichever
 * transaction commits first (an UPDATE re-checks the newest row version).
 */
export async function markOcspPresigned(
  db: CommonQueryMethods,
  signed: ReadonlyArray<{ serialHex: string; revision: number; refreshAt: Date }>,
): Promise<void> {
  if (signed.length === 0) return;
  await db.query(sql.unsafe`
    UPDATE ocsp_presign_due d SET due_at = least(u.refresh_at, d.not_after)
    FROM ${sql.unnest(
      signed.map((s) => [s.serialHex, s.revision, s.refreshAt.toISOString()]),
      ["text", "int4", "timestamptz"],
    )} AS u(serial_hex, revision, refresh_at)
    WHERE d.serial_hex = u.serial_hex AND d.revision = u.revision`);
}

/**
 * Deletes the CA's due rows of certificates expired at `now`: nothing is
 * signed for them any more. Only rows already due are looked at (due_at never
 * passes notAfter), so this reads no more of the index than the due query.
 */
export async function deleteExpiredPresignDue(db: CommonQueryMethods, caId: string, now: Date): Promise<number> {
  const result = await db.query(sql.unsafe`
    DELETE FROM ocsp_presign_due
    WHERE ca_id = ${caId} AND due_at <= ${sql.timestamp(now)} AND not_after <= ${sql.timestamp(now)}`);
  return result.rowCount;
}

/** Deletes the CA's responses past their nextUpdate: nobody may rely on them, a request would re-sign. */
export async function pruneStoredOcspResponses(db: CommonQueryMethods, caId: string, now: Date): Promise<number> {
  const result = await db.query(sql.unsafe`
    DELETE FROM ocsp_responses WHERE ca_id = ${caId} AND next_update <= ${sql.timestamp(now)}`);
  return result.rowCount;
}
