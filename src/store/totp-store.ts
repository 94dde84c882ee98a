import { type CommonQueryMethods, sql } from "slonik";
import { z } from "zod";

const totpRow = z.object({
  totp_secret_sealed: z.instanceof(Buffer).nullable(),
  totp_confirmed: z.boolean(),
  totp_last_step: z.coerce.bigint(),
});

export type TotpRow = z.infer<typeof totpRow>;

export async function findTotp(db: CommonQueryMethods, userId: string): Promise<TotpRow | null> {
  return db.maybeOne(sql.type(totpRow)`
    SELECT totp_secret_sealed, totp_confirmed, totp_last_step::text AS totp_last_step FROM users WHERE id = ${userId}`);
}

/** A new, unconfirmed secret; any previous one (confirmed or not) is replaced. */
export async function storeTotpSecret(tx: CommonQueryMethods, userId: string, sealed: Buffer): Promise<void> {
  await tx.query(sql.unsafe`
    UPDATE users SET totp_secret_sealed = ${sql.binary(sealed)}, totp_confirmed = false, totp_last_step = 0,
      updated_at = now()
    WHERE id = ${userId}`);
}

export async function clearTotp(tx: CommonQueryMethods, userId: string): Promise<void> {
  await tx.query(sql.unsafe`
    UPDATE users SET totp_secret_sealed = NULL, totp_confirmed = false, totp_last_step = 0, updated_at = now()
    WHERE id = ${userId}`);
}

/**
 * Records `step` as used if it is later than the last accepted one, and
 * marks the secret confirmed. False when the step was already used: the
 * conditional UPDATE is what makes a code single use across replicas.
 */
export async function consumeTotpStep(tx: CommonQueryMethods, userId: string, step: bigint): Promise<boolean> {
  const result = await tx.query(sql.unsafe`
    UPDATE users SET totp_last_step = ${step.toString()}::bigint, totp_confirmed = true
    WHERE id = ${userId} AND totp_secret_sealed IS NOT NULL AND totp_last_step < ${step.toString()}::bigint`);
  return result.rowCount === 1;
}
