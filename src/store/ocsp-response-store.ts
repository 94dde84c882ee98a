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

/**
 * Writes responses, replacing a stored one only when the new one says
 * revoked over good (revocation is final here), or says the same status
 * and is no older. So a "good" signed from a status read just before a
 * revocation never overwrites the revoked row written after it.
 */
export async function upsertStoredOcspResponses(
  db: CommonQueryMethods,
  rows: readonly NewStoredOcspResponse[],
): Promise<void> {
  for (let i = 0; i < rows.length; i += insertChunk) {
    const values = rows.slice(i, i + insertChunk).map(
      (row) => sql.fragment`(${row.caId}, ${row.serialHex}, ${row.hashAlgorithm}, ${row.status},
        ${row.revokedAt ? sql.timestamp(row.revokedAt) : null}, ${row.revocationReason},
        ${sql.binary(Buffer.from(row.der.buffer, row.der.byteOffset, row.der.byteLength))}, ${row.sha256},
        ${sql.timestamp(row.thisUpdate)}, ${sql.timestamp(row.nextUpdate)}, ${sql.timestamp(row.refreshAt)},
        ${row.responderSerialHex}, ${sql.timestamp(row.signedAt)})`,
    );
    await db.query(sql.unsafe`
      INSERT INTO ocsp_responses (ca_id, serial_hex, hash_algorithm, status, revoked_at, revocation_reason, der,
        sha256, this_update, next_update, refresh_at, responder_serial_hex, signed_at)
      VALUES ${sql.join(values, sql.fragment`, `)}
      ON CONFLICT (ca_id, serial_hex, hash_algorithm) DO UPDATE SET
        status = excluded.status, revoked_at = excluded.revoked_at, revocation_reason = excluded.revocation_reason,
        der = excluded.der, sha256 = excluded.sha256, this_update = excluded.this_update,
        next_update = excluded.next_update, refresh_at = excluded.refresh_at,
        responder_serial_hex = excluded.responder_serial_hex, signed_at = excluded.signed_at
      WHERE (excluded.status = 'revoked' AND ocsp_responses.status = 'good')
        OR (excluded.status = ocsp_responses.status AND excluded.this_update >= ocsp_responses.this_update)`);
  }
}

const dueRow = z.object({
  serial_hex: z.string(),
  status: z.enum(["valid", "revoked"]),
  revoked_at: z.number().nullable(),
  revocation_reason: z.number().nullable(),
});

export type OcspPresignCandidateRow = z.infer<typeof dueRow>;

/**
 * Up to `limit` certificates of the CA, not expired at `now` (revoked ones
 * too), lacking a stored response for one of `hashAlgorithms` that says
 * their current status and is not yet due for refresh. Each check is a
 * primary-key probe of ocsp_responses per certificate.
 */
export async function findCertificatesDueForPresign(
  db: CommonQueryMethods,
  caId: string,
  now: Date,
  hashAlgorithms: readonly string[],
  limit: number,
): Promise<readonly OcspPresignCandidateRow[]> {
  return db.any(sql.type(dueRow)`
    SELECT c.serial_hex, c.status, c.revoked_at, c.revocation_reason
    FROM certificates c
    WHERE c.ca_id = ${caId} AND c.not_after > ${sql.timestamp(now)}
      AND (SELECT count(*) FROM ocsp_responses r
           WHERE r.ca_id = c.ca_id AND r.serial_hex = c.serial_hex
             AND r.hash_algorithm = ANY(${sql.array(hashAlgorithms, "text")})
             AND r.refresh_at > ${sql.timestamp(now)}
             AND r.status = CASE c.status WHEN 'valid' THEN 'good' ELSE 'revoked' END) < ${hashAlgorithms.length}
    LIMIT ${limit}`);
}

/** Deletes the CA's responses past their nextUpdate: nobody may rely on them, a request would re-sign. */
export async function pruneStoredOcspResponses(db: CommonQueryMethods, caId: string, now: Date): Promise<number> {
  const result = await db.query(sql.unsafe`
    DELETE FROM ocsp_responses WHERE ca_id = ${caId} AND next_update <= ${sql.timestamp(now)}`);
  return result.rowCount;
}
