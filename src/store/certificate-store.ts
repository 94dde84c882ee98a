import { type CommonQueryMethods, type QuerySqlToken, SchemaValidationError, sql } from "slonik";
import { z } from "zod/v4";
import { byteaText, insertTable, type TableRow } from "./row-insert.ts";

export interface NewCertificateRow {
  id: string;
  caId: string;
  profileId: string | null;
  serialHex: string;
  fingerprintSha256: string;
  subject: string;
  /** `name` is the OID registry id of an otherName SAN. */
  sans: Array<{ type: string; value: string; name?: string }>;
  notBefore: Date;
  notAfter: Date;
  der: Buffer;
  requester: string;
  sourceProtocol: string;
  issuedAt: Date;
  /** The admin API caller's AIP-155 request_id; null elsewhere. */
  requestId: string | null;
}

const certificateRow = z.object({
  id: z.string(),
  ca_id: z.string(),
  profile_id: z.string().nullable(),
  serial_hex: z.string(),
  fingerprint_sha256: z.string(),
  subject: z.string(),
  sans: z.array(z.object({ type: z.string(), value: z.string(), name: z.string().optional() })),
  not_before: z.number(),
  not_after: z.number(),
  der: z.instanceof(Buffer),
  requester: z.string(),
  source_protocol: z.string(),
  status: z.enum(["valid", "revoked"]),
  revoked_at: z.number().nullable(),
  revocation_reason: z.number().nullable(),
  issued_at: z.number(),
});

export type CertificateRow = z.infer<typeof certificateRow>;

/**
 * The rows of this file are checked here, with zod 4, rather than through
 * sql.type and the result-parser interceptor, which run zod 3. A listing
 * page is up to 1,001 rows; zod 3's object parser allocated about 3 KB per
 * row checking them, a quarter of all the gateway allocated while serving
 * ListCertificates, and the garbage collections that followed were behind
 * most of that call's slow tail (docs/benchmarks.md, bench:admin). zod 4
 * compiles an object's check once and allocates little per row.
 */
function checked<T>(schema: z.ZodType<T>, query: QuerySqlToken, rows: readonly unknown[]): T[] {
  return rows.map((row) => {
    const result = schema.safeParse(row);
    if (!result.success) throw new SchemaValidationError(query, row as never, result.error.issues as never);
    return result.data;
  });
}

async function maybeOne<T>(db: CommonQueryMethods, schema: z.ZodType<T>, query: QuerySqlToken): Promise<T | null> {
  const row = await db.maybeOne(query);
  return row === null ? null : checked(schema, query, [row])[0]!;
}

const columns = sql.fragment`id, ca_id, profile_id, serial_hex, fingerprint_sha256, subject, sans, not_before, not_after,
  der, requester, source_protocol, status, revoked_at, revocation_reason, issued_at`;

const certificatesTable = insertTable("certificates", [
  { name: "id", type: "uuid" },
  { name: "ca_id", type: "uuid" },
  { name: "profile_id", type: "uuid" },
  { name: "serial_hex", type: "text" },
  { name: "fingerprint_sha256", type: "text" },
  { name: "subject", type: "text" },
  { name: "sans", type: "text", jsonb: true },
  { name: "not_before", type: "timestamptz" },
  { name: "not_after", type: "timestamptz" },
  { name: "der", type: "bytea" },
  { name: "requester", type: "text" },
  { name: "source_protocol", type: "text" },
  { name: "issued_at", type: "timestamptz" },
  { name: "request_id", type: "text" },
]);

/** A certificate as a row the group-commit write path batches with others. */
export function certificateTableRow(r: NewCertificateRow): TableRow {
  return {
    table: certificatesTable,
    values: [
      r.id,
      r.caId,
      r.profileId,
      r.serialHex,
      r.fingerprintSha256,
      r.subject,
      JSON.stringify(r.sans),
      r.notBefore.toISOString(),
      r.notAfter.toISOString(),
      byteaText(r.der),
      r.requester,
      r.sourceProtocol,
      r.issuedAt.toISOString(),
      r.requestId,
    ],
  };
}

export async function findCertificateBySerial(
  db: CommonQueryMethods,
  serialHex: string,
): Promise<CertificateRow | null> {
  return maybeOne(db, certificateRow, sql.unsafe`SELECT ${columns} FROM certificates WHERE serial_hex = ${serialHex}`);
}

export async function countCertificates(db: CommonQueryMethods): Promise<number> {
  const query = sql.unsafe`SELECT count(*)::int AS n FROM certificates`;
  return checked(z.object({ n: z.number() }), query, [await db.one(query)])[0]!.n;
}

/**
 * Marks a certificate revoked if it is still valid and returns the row as
 * it now stands; a certificate already revoked is returned unchanged (the
 * first revocation's time and reason stand).
 */
export async function revokeCertificateRow(
  tx: CommonQueryMethods,
  serialHex: string,
  fields: { reason: number; revokedAt: Date },
): Promise<{ row: CertificateRow; changed: boolean } | null> {
  const updated = await maybeOne(
    tx,
    certificateRow,
    sql.unsafe`
    UPDATE certificates SET status = 'revoked', revoked_at = ${sql.timestamp(fields.revokedAt)},
      revocation_reason = ${fields.reason}
    WHERE serial_hex = ${serialHex} AND status = 'valid'
    RETURNING ${columns}`,
  );
  if (updated) return { row: updated, changed: true };
  const existing = await findCertificateBySerial(tx, serialHex);
  return existing ? { row: existing, changed: false } : null;
}

const certificateViewRow = certificateRow.extend({
  profile_name: z.string().nullable(),
  /** issued_at as UTC text at full (microsecond) precision: the keyset position of the row. */
  cursor_time: z.string(),
});

/** A certificate row with its profile's name and its keyset position, for the admin API. */
export type CertificateViewRow = z.infer<typeof certificateViewRow>;

// Qualified: the listing joins profiles, which has id, created_at, ... too.
const viewColumns = sql.fragment`certificates.id, certificates.ca_id, certificates.profile_id,
  certificates.serial_hex, certificates.fingerprint_sha256, certificates.subject, certificates.sans,
  certificates.not_before, certificates.not_after, certificates.der, certificates.requester,
  certificates.source_protocol, certificates.status, certificates.revoked_at, certificates.revocation_reason,
  certificates.issued_at, profiles.name AS profile_name,
  to_char(certificates.issued_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS cursor_time`;

const viewFrom = sql.fragment`certificates LEFT JOIN profiles ON profiles.id = certificates.profile_id`;

export async function findCertificateViewBySerial(
  db: CommonQueryMethods,
  serialHex: string,
): Promise<CertificateViewRow | null> {
  return maybeOne(
    db,
    certificateViewRow,
    sql.unsafe`SELECT ${viewColumns} FROM ${viewFrom} WHERE certificates.serial_hex = ${serialHex}`,
  );
}

/** The newest certificate `requester` issued with `requestId` (AIP-155 retries), if any. */
export async function findCertificateViewByRequestId(
  db: CommonQueryMethods,
  requester: string,
  requestId: string,
): Promise<CertificateViewRow | null> {
  return maybeOne(
    db,
    certificateViewRow,
    sql.unsafe`
    SELECT ${viewColumns} FROM ${viewFrom}
    WHERE certificates.requester = ${requester} AND certificates.request_id = ${requestId}
    ORDER BY certificates.issued_at DESC, certificates.id DESC LIMIT 1`,
  );
}

export type NotAfterBound = { readonly op: "<" | "<=" | ">" | ">="; readonly at: Date };

/** Conditions of a certificate listing; every one given must hold. */
export interface CertificateQuery {
  /** Any of these CA ids (UUIDs); an empty list matches nothing. */
  readonly caIds?: readonly string[] | undefined;
  readonly profileName?: string | undefined;
  readonly requester?: string | undefined;
  readonly status?: "valid" | "revoked" | undefined;
  readonly notAfter?: readonly NotAfterBound[] | undefined;
  /** Some SAN value contains this, compared in lower case. */
  readonly sanContains?: string | undefined;
}

/** LIKE's wildcards and its escape character, each to be matched as itself. */
function likeLiteral(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/**
 * Some SAN value contains `needle` (lower case), through san_search: every
 * SAN value lower-cased, one per line, with a trigram index (migration 0010).
 * A needle without a newline matches san_search exactly when it matches
 * within one value, so the answer is the same as testing each value.
 */
function sanContains(needle: string) {
  // A needle with a newline could match across two lines: test each value.
  if (needle.includes("\n"))
    return sql.fragment`EXISTS (
      SELECT 1 FROM jsonb_array_elements(certificates.sans) AS s(san)
      WHERE strpos(lower(s.san ->> 'value'), ${needle}) > 0)`;
  // pg_trgm takes trigrams only from runs of letters and digits. From a
  // needle with no run of three it gets none, and a trigram index scan then
  // reads the whole index and rechecks every row. strpos, which the index
  // cannot answer, leaves the planner the newest-first walk on (issued_at,
  // id): quick when the short needle is common, a full walk when it is rare.
  if (!/[a-z0-9]{3}/.test(needle)) return sql.fragment`strpos(certificates.san_search, ${needle}) > 0`;
  return sql.fragment`certificates.san_search LIKE ${`%${likeLiteral(needle)}%`}`;
}

/**
 * Up to `limit` certificates matching `query`, newest first by (issued_at,
 * id), strictly after the keyset position `after` (null for the first page).
 * Each filter column leads an index ending in (issued_at, id) (migration
 * 0004), so a page is a backward index range scan that stops after `limit`
 * rows however large the table. A SAN needle that few certificates have is
 * the exception: the planner then finds them through the trigram index
 * (migration 0010) and sorts those few instead.
 */
export async function findCertificateViews(
  db: CommonQueryMethods,
  query: CertificateQuery,
  after: { issuedAt: string; id: string } | null,
  limit: number,
): Promise<readonly CertificateViewRow[]> {
  const conditions = [sql.fragment`TRUE`];
  if (query.caIds !== undefined)
    conditions.push(
      query.caIds.length === 1
        ? sql.fragment`certificates.ca_id = ${query.caIds[0]!}::uuid`
        : sql.fragment`certificates.ca_id = ANY(${sql.array([...query.caIds], "uuid")})`,
    );
  if (query.profileName !== undefined)
    conditions.push(
      sql.fragment`certificates.profile_id = (SELECT p.id FROM profiles p WHERE p.name = ${query.profileName})`,
    );
  if (query.requester !== undefined) conditions.push(sql.fragment`certificates.requester = ${query.requester}`);
  if (query.status !== undefined) conditions.push(sql.fragment`certificates.status = ${query.status}`);
  for (const bound of query.notAfter ?? []) {
    const at = sql.timestamp(bound.at);
    conditions.push(
      bound.op === "<"
        ? sql.fragment`certificates.not_after < ${at}`
        : bound.op === "<="
          ? sql.fragment`certificates.not_after <= ${at}`
          : bound.op === ">"
            ? sql.fragment`certificates.not_after > ${at}`
            : sql.fragment`certificates.not_after >= ${at}`,
    );
  }
  if (query.sanContains !== undefined) conditions.push(sanContains(query.sanContains.toLowerCase()));
  if (after !== null)
    conditions.push(
      sql.fragment`(certificates.issued_at, certificates.id) < (${after.issuedAt}::timestamptz, ${after.id}::uuid)`,
    );
  const select = sql.unsafe`
    SELECT ${viewColumns} FROM ${viewFrom}
    WHERE ${sql.join(conditions, sql.fragment` AND `)}
    ORDER BY certificates.issued_at DESC, certificates.id DESC LIMIT ${limit}`;
  return checked(certificateViewRow, select, await db.any(select));
}
