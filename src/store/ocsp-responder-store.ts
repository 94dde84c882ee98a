import { type CommonQueryMethods, sql } from "slonik";
import { z } from "zod";

/**
 * Advisory lock class for OCSP responder creation ("ocsp" in ASCII). With
 * the two-int4 form the object id is hashtext(ca id): two CAs whose ids
 * collide only serialise their (rare) responder rotations.
 */
const responderLockClass = 0x6f637370;

/** Takes the per-CA responder lock for the rest of the transaction, so replicas make one responder. */
export async function lockOcspResponderIssuer(tx: CommonQueryMethods, caId: string): Promise<void> {
  await tx.query(sql.unsafe`SELECT pg_advisory_xact_lock(${responderLockClass}::int, hashtext(${caId}::text))`);
}

const responderRow = z.object({
  id: z.string(),
  ca_id: z.string(),
  serial_hex: z.string(),
  certificate_der: z.instanceof(Buffer),
  sealed_private_key: z.instanceof(Buffer),
  not_before: z.number(),
  not_after: z.number(),
});

export type OcspResponderRow = z.infer<typeof responderRow>;

/**
 * The CA's responder with the latest notAfter among those already valid at
 * `now` (one made by a replica whose clock runs ahead is skipped until it
 * is), or null when there is none.
 */
export async function findNewestOcspResponder(
  db: CommonQueryMethods,
  caId: string,
  now: Date,
): Promise<OcspResponderRow | null> {
  return db.maybeOne(sql.type(responderRow)`
    SELECT id, ca_id, serial_hex, certificate_der, sealed_private_key, not_before, not_after FROM ocsp_responders
    WHERE ca_id = ${caId} AND not_before <= ${sql.timestamp(now)}
    ORDER BY not_after DESC, created_at DESC LIMIT 1`);
}

export interface NewOcspResponderRow {
  id: string;
  caId: string;
  serialHex: string;
  certificateDer: Buffer;
  sealedPrivateKey: Buffer;
  notBefore: Date;
  notAfter: Date;
  createdAt: Date;
}

export async function insertOcspResponder(tx: CommonQueryMethods, row: NewOcspResponderRow): Promise<void> {
  await tx.query(sql.unsafe`
    INSERT INTO ocsp_responders (id, ca_id, serial_hex, certificate_der, sealed_private_key, not_before, not_after,
      created_at)
    VALUES (${row.id}, ${row.caId}, ${row.serialHex}, ${sql.binary(row.certificateDer)},
      ${sql.binary(row.sealedPrivateKey)}, ${sql.timestamp(row.notBefore)}, ${sql.timestamp(row.notAfter)},
      ${sql.timestamp(row.createdAt)})`);
}

/**
 * Deletes the CA's responders that expired before `before`: nothing they
 * signed is valid any more (a response's nextUpdate never passes its
 * responder's notAfter).
 */
export async function pruneExpiredOcspResponders(tx: CommonQueryMethods, caId: string, before: Date): Promise<void> {
  await tx.query(sql.unsafe`
    DELETE FROM ocsp_responders WHERE ca_id = ${caId} AND not_after < ${sql.timestamp(before)}`);
}
