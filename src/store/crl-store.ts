import { type CommonQueryMethods, sql } from "slonik";
import { z } from "zod";

/**
 * Advisory lock class for CRL generation ("crl " in ASCII). With the
 * two-int4 form the object id is hashtext(ca id): two CAs whose ids collide
 * only serialise their CRL builds, which is harmless.
 */
const crlLockClass = 0x63726c20;

/**
 * Takes the per-CA CRL lock for the rest of the transaction, so replicas
 * never build the same CRL number. `wait: false` returns false at once when
 * another transaction holds it (pg_try_advisory_xact_lock).
 */
export async function lockCrlIssuer(tx: CommonQueryMethods, caId: string, wait: boolean): Promise<boolean> {
  if (wait) {
    await tx.query(sql.unsafe`SELECT pg_advisory_xact_lock(${crlLockClass}::int, hashtext(${caId}::text))`);
    return true;
  }
  return tx.oneFirst(
    sql.type(z.object({ locked: z.boolean() }))`
      SELECT pg_try_advisory_xact_lock(${crlLockClass}::int, hashtext(${caId}::text)) AS locked`,
  );
}

const crlStateRow = z.object({
  ca_id: z.string(),
  crl_number: z.coerce.bigint().nullable(),
  this_update: z.number().nullable(),
  next_update: z.number().nullable(),
  /** More revoked certificates are in the latest CRL's scope than it lists. */
  stale: z.boolean(),
});

export type CrlStateRow = z.infer<typeof crlStateRow>;

/**
 * For every CA that needs a CRL (it has a certificate, is active or
 * disabled, and is not expired: a disabled CA's certificates are still out
 * there), its latest CRL's number and times, and whether a revocation has
 * happened since (counted over the same not_after cut-off, and revocation is
 * final, so a higher count means a missing entry). `caId` narrows it to one.
 */
export async function findCrlStates(
  db: CommonQueryMethods,
  options: { now: Date; caId?: string | undefined },
): Promise<readonly CrlStateRow[]> {
  const only = options.caId === undefined ? sql.fragment`TRUE` : sql.fragment`ca.id = ${options.caId}`;
  return db.any(sql.type(crlStateRow)`
    SELECT ca.id AS ca_id, latest.crl_number::text AS crl_number, latest.this_update, latest.next_update,
      COALESCE((
        SELECT count(*) FROM certificates c
        WHERE c.ca_id = ca.id AND c.status = 'revoked' AND c.not_after >= latest.entries_since
      ) > latest.entry_count, FALSE) AS stale
    FROM certificate_authorities ca
    LEFT JOIN LATERAL (
      SELECT crl_number, this_update, next_update, entry_count, entries_since FROM crls
      WHERE crls.ca_id = ca.id ORDER BY crl_number DESC LIMIT 1
    ) latest ON TRUE
    WHERE ${only} AND ca.certificate_der IS NOT NULL AND ca.status IN ('active', 'disabled')
      AND ca.not_after > ${sql.timestamp(options.now)}
    ORDER BY ca.created_at, ca.id`);
}

// Ordering by crls.crl_number, qualified: an unqualified ORDER BY name means
// the output column first, and crl_number is selected as text, so "9" would
// sort above "10" (a repeated CRL number once a CA passed nine CRLs).
const latestHeaderRow = z.object({ crl_number: z.coerce.bigint(), this_update: z.number() });

/** Number and thisUpdate of the CA's newest CRL (read under the CRL lock to choose the next ones). */
export async function findLatestCrlHeader(
  db: CommonQueryMethods,
  caId: string,
): Promise<{ crl_number: bigint; this_update: number } | null> {
  return db.maybeOne(sql.type(latestHeaderRow)`
    SELECT crl_number::text AS crl_number, this_update FROM crls
    WHERE ca_id = ${caId} ORDER BY crls.crl_number DESC LIMIT 1`);
}

export interface RevokedCertificateEntry {
  readonly serialHex: string;
  /** Whole seconds since the epoch (revoke() stores second precision). */
  readonly revokedAtSeconds: number;
  /** RFC 5280 §5.3.1 CRLReason code. */
  readonly reasonCode: number;
}

const revokedRow = z.object({ n: z.number(), entries: z.string() });

/**
 * The revoked certificates of a CA whose not_after is at or after `since`.
 * Postgres joins them into one text value ("serial seconds reason" lines)
 * instead of returning one row each: a 100 000-entry CRL then costs one
 * row to transfer and validate, not 100 000 row objects.
 */
export async function findRevokedEntries(
  db: CommonQueryMethods,
  caId: string,
  since: Date,
): Promise<RevokedCertificateEntry[]> {
  const row = await db.one(sql.type(revokedRow)`
    SELECT count(*)::int AS n,
      COALESCE(string_agg(serial_hex || ' ' || floor(extract(epoch FROM revoked_at))::bigint || ' ' || revocation_reason,
        E'\n'), '') AS entries
    FROM certificates
    WHERE ca_id = ${caId} AND status = 'revoked' AND not_after >= ${sql.timestamp(since)}`);
  const entries: RevokedCertificateEntry[] = new Array(row.n);
  const text = row.entries;
  let start = 0;
  for (let i = 0; i < row.n; i++) {
    let end = text.indexOf("\n", start);
    if (end < 0) end = text.length;
    const first = text.indexOf(" ", start);
    const second = text.indexOf(" ", first + 1);
    entries[i] = {
      serialHex: text.slice(start, first),
      revokedAtSeconds: Number(text.slice(first + 1, second)),
      reasonCode: Number(text.slice(second + 1, end)),
    };
    start = end + 1;
  }
  return entries;
}

export interface NewCrlRow {
  caId: string;
  crlNumber: bigint;
  thisUpdate: Date;
  nextUpdate: Date;
  entryCount: number;
  entriesSince: Date;
  der: Buffer;
  sha256: Buffer;
  createdAt: Date;
}

export async function insertCrl(tx: CommonQueryMethods, crl: NewCrlRow): Promise<void> {
  await tx.query(sql.unsafe`
    INSERT INTO crls (ca_id, crl_number, this_update, next_update, entry_count, entries_since, der, sha256, created_at)
    VALUES (${crl.caId}, ${crl.crlNumber.toString()}::bigint, ${sql.timestamp(crl.thisUpdate)},
      ${sql.timestamp(crl.nextUpdate)}, ${crl.entryCount}, ${sql.timestamp(crl.entriesSince)}, ${sql.binary(crl.der)},
      ${sql.binary(crl.sha256)}, ${sql.timestamp(crl.createdAt)})`);
}

/** Deletes all but the CA's `keep` newest CRLs (numbers are consecutive, so a number bound is enough). */
export async function pruneCrls(tx: CommonQueryMethods, caId: string, newest: bigint, keep: number): Promise<void> {
  await tx.query(sql.unsafe`
    DELETE FROM crls WHERE ca_id = ${caId} AND crl_number <= ${(newest - BigInt(keep)).toString()}::bigint`);
}

const crlRow = z.object({
  crl_number: z.coerce.bigint(),
  this_update: z.number(),
  next_update: z.number(),
  entry_count: z.number(),
  der: z.instanceof(Buffer),
  sha256: z.instanceof(Buffer),
});

export type CrlRow = z.infer<typeof crlRow>;

/**
 * The CA's newest CRL, or null. With `newerThan`, null also when the newest
 * is not above that number: a cache holding that number is still current,
 * and the check is one index probe that transfers no CRL bytes.
 */
export async function findLatestCrl(
  db: CommonQueryMethods,
  caId: string,
  newerThan?: bigint | undefined,
): Promise<CrlRow | null> {
  const floor =
    newerThan === undefined ? sql.fragment`TRUE` : sql.fragment`crl_number > ${newerThan.toString()}::bigint`;
  return db.maybeOne(sql.type(crlRow)`
    SELECT crl_number::text AS crl_number, this_update, next_update, entry_count, der, sha256 FROM crls
    WHERE ca_id = ${caId} AND ${floor} ORDER BY crls.crl_number DESC LIMIT 1`);
}
