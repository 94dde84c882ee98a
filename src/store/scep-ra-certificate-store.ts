import { type CommonQueryMethods, sql } from "slonik";
import { z } from "zod";

/**
 * Advisory lock class for SCEP RA certificate creation ("scep" in ASCII).
 * With the two-int4 form the object id is hashtext(endpoint id): two
 * endpoints whose ids collide only serialise their (rare) rotations.
 */
const raLockClass = 0x73636570;

/** Takes the per-endpoint RA lock for the rest of the transaction, so replicas make one RA certificate. */
export async function lockScepRaEndpoint(tx: CommonQueryMethods, endpointId: string): Promise<void> {
  await tx.query(sql.unsafe`SELECT pg_advisory_xact_lock(${raLockClass}::int, hashtext(${endpointId}::text))`);
}

const raRow = z.object({
  id: z.string(),
  endpoint_id: z.string(),
  ca_id: z.string(),
  serial_hex: z.string(),
  certificate_der: z.instanceof(Buffer),
  sealed_private_key: z.instanceof(Buffer),
  not_before: z.number(),
  not_after: z.number(),
});
export type ScepRaCertificateRow = z.infer<typeof raRow>;

const columns = sql.fragment`id, endpoint_id, ca_id, serial_hex, certificate_der, sealed_private_key, not_before,
  not_after`;

/**
 * The endpoint's RA certificate from `caId` with the latest notAfter among
 * those already valid at `now` (one made by a replica whose clock runs
 * ahead is skipped until it is), or null.
 */
export async function findNewestScepRaCertificate(
  db: CommonQueryMethods,
  endpointId: string,
  caId: string,
  now: Date,
): Promise<ScepRaCertificateRow | null> {
  return db.maybeOne(sql.type(raRow)`
    SELECT ${columns} FROM scep_ra_certificates
    WHERE endpoint_id = ${endpointId} AND ca_id = ${caId} AND not_before <= ${sql.timestamp(now)}
    ORDER BY not_after DESC, created_at DESC LIMIT 1`);
}

/**
 * Every RA certificate of the endpoint not expired at `now`, whatever CA
 * issued it, newest first: a device may encrypt to one it fetched before a
 * rotation or a CA change.
 */
export async function findUnexpiredScepRaCertificates(
  db: CommonQueryMethods,
  endpointId: string,
  now: Date,
): Promise<readonly ScepRaCertificateRow[]> {
  return db.any(sql.type(raRow)`
    SELECT ${columns} FROM scep_ra_certificates
    WHERE endpoint_id = ${endpointId} AND not_after > ${sql.timestamp(now)}
    ORDER BY created_at DESC, not_after DESC`);
}

export interface NewScepRaCertificateRow {
  id: string;
  endpointId: string;
  caId: string;
  serialHex: string;
  certificateDer: Buffer;
  sealedPrivateKey: Buffer;
  notBefore: Date;
  notAfter: Date;
  createdAt: Date;
}

export async function insertScepRaCertificate(tx: CommonQueryMethods, row: NewScepRaCertificateRow): Promise<void> {
  await tx.query(sql.unsafe`
    INSERT INTO scep_ra_certificates (id, endpoint_id, ca_id, serial_hex, certificate_der, sealed_private_key,
      not_before, not_after, created_at)
    VALUES (${row.id}, ${row.endpointId}, ${row.caId}, ${row.serialHex}, ${sql.binary(row.certificateDer)},
      ${sql.binary(row.sealedPrivateKey)}, ${sql.timestamp(row.notBefore)}, ${sql.timestamp(row.notAfter)},
      ${sql.timestamp(row.createdAt)})`);
}

/**
 * Deletes the endpoint's RA certificates that expired before `before`: no
 * device can still encrypt to them, and nothing they signed is checked any
 * more. Returns how many.
 */
export async function pruneExpiredScepRaCertificates(
  tx: CommonQueryMethods,
  endpointId: string,
  before: Date,
): Promise<number> {
  const result = await tx.query(sql.unsafe`
    DELETE FROM scep_ra_certificates WHERE endpoint_id = ${endpointId} AND not_after < ${sql.timestamp(before)}`);
  return result.rowCount;
}
