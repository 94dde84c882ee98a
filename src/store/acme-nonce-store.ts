import { type CommonQueryMethods, sql } from "slonik";
import { z } from "zod";

/**
 * Records that `nonce` has been used. The primary key is the lock: of two
 * redemptions, on one replica or several, Postgres lets exactly one insert
 * (RFC 8555 §6.5: a nonce is single use, also across replicas). True when
 * this call was the first.
 */
export async function recordRedeemedNonce(db: CommonQueryMethods, nonce: string, expiresAt: Date): Promise<boolean> {
  const inserted = await db.maybeOneFirst(sql.type(z.object({ redeemed: z.boolean() }))`
    INSERT INTO acme_redeemed_nonces (nonce, expires_at)
    VALUES (${nonce}, ${sql.timestamp(expiresAt)})
    ON CONFLICT (nonce) DO NOTHING
    RETURNING true AS redeemed`);
  return inserted === true;
}

/** Deletes redemption records whose nonce expired before `before`; returns how many went. */
export async function deleteRedeemedNoncesExpiredBefore(db: CommonQueryMethods, before: Date): Promise<number> {
  const result = await db.query(sql.unsafe`
    DELETE FROM acme_redeemed_nonces WHERE expires_at < ${sql.timestamp(before)}`);
  return result.rowCount;
}
