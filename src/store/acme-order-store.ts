import { type CommonQueryMethods, sql } from "slonik";
import { z } from "zod";

const identifier = z.object({ type: z.enum(["dns", "ip"]), value: z.string() });

const orderRow = z.object({
  id: z.string(),
  account_id: z.string(),
  status: z.enum(["pending", "ready", "processing", "valid", "invalid"]),
  identifiers: z.array(identifier),
  profile_name: z.string(),
  not_before: z.number().nullable(),
  not_after: z.number().nullable(),
  expires_at: z.number(),
  error: z.record(z.unknown()).nullable(),
  certificate_serial_hex: z.string().nullable(),
  request_id: z.string().nullable(),
  replaces_cert_id: z.string().nullable(),
  replaces_serial_hex: z.string().nullable(),
  created_at: z.number(),
});
export type AcmeOrderRow = z.infer<typeof orderRow>;

const orderColumns = sql.fragment`id, account_id, status, identifiers, profile_name, not_before, not_after, expires_at,
  error, certificate_serial_hex, request_id, replaces_cert_id, replaces_serial_hex, created_at`;

export async function findAcmeOrder(db: CommonQueryMethods, id: string): Promise<AcmeOrderRow | null> {
  return db.maybeOne(sql.type(orderRow)`SELECT ${orderColumns} FROM acme_orders WHERE id = ${id}`);
}

export async function lockAcmeOrder(tx: CommonQueryMethods, id: string): Promise<AcmeOrderRow | null> {
  return tx.maybeOne(sql.type(orderRow)`SELECT ${orderColumns} FROM acme_orders WHERE id = ${id} FOR UPDATE`);
}

export interface NewAcmeOrderRow {
  id: string;
  accountId: string;
  status: "pending" | "ready";
  identifiers: ReadonlyArray<{ type: "dns" | "ip"; value: string }>;
  identifierSetHash: string;
  profileName: string;
  notBefore: Date | null;
  notAfter: Date | null;
  expiresAt: Date;
  replacesCertId: string | null;
  replacesSerialHex: string | null;
  authorizationIds: readonly string[];
  now: Date;
}

export async function insertAcmeOrder(tx: CommonQueryMethods, row: NewAcmeOrderRow): Promise<void> {
  const ts = (d: Date | null) => (d ? sql.timestamp(d) : null);
  await tx.query(sql.unsafe`
    INSERT INTO acme_orders (id, account_id, status, identifiers, identifier_set_hash, profile_name, not_before,
      not_after, expires_at, replaces_cert_id, replaces_serial_hex, created_at, updated_at)
    VALUES (${row.id}, ${row.accountId}, ${row.status}, ${sql.jsonb(row.identifiers as never)}, ${row.identifierSetHash},
      ${row.profileName}, ${ts(row.notBefore)}, ${ts(row.notAfter)}, ${sql.timestamp(row.expiresAt)},
      ${row.replacesCertId}, ${row.replacesSerialHex}, ${sql.timestamp(row.now)}, ${sql.timestamp(row.now)})`);
  await tx.query(sql.unsafe`
    INSERT INTO acme_order_authorizations (order_id, authorization_id)
    SELECT ${row.id}, unnest(${sql.array([...row.authorizationIds], "uuid")})`);
}

export async function updateAcmeOrder(
  tx: CommonQueryMethods,
  id: string,
  change: {
    status: AcmeOrderRow["status"];
    error?: Record<string, unknown> | null | undefined;
    certificateSerialHex?: string | undefined;
    requestId?: string | undefined;
  },
  now: Date,
): Promise<void> {
  const sets = [sql.fragment`status = ${change.status}`, sql.fragment`updated_at = ${sql.timestamp(now)}`];
  if (change.error !== undefined)
    sets.push(sql.fragment`error = ${change.error === null ? null : sql.jsonb(change.error as never)}`);
  if (change.certificateSerialHex !== undefined)
    sets.push(sql.fragment`certificate_serial_hex = ${change.certificateSerialHex}`);
  if (change.requestId !== undefined) sets.push(sql.fragment`request_id = ${change.requestId}`);
  await tx.query(sql.unsafe`UPDATE acme_orders SET ${sql.join(sets, sql.fragment`, `)} WHERE id = ${id}`);
}

/** One page of an account's orders, newest first (RFC 8555 §7.1.2.1), after the keyset cursor. */
export async function listAcmeOrderIds(
  db: CommonQueryMethods,
  accountId: string,
  after: { createdAt: number; id: string } | null,
  limit: number,
): Promise<Array<{ id: string; created_at: number }>> {
  const cursor = after
    ? sql.fragment`AND (created_at, id) < (${sql.timestamp(new Date(after.createdAt))}, ${after.id})`
    : sql.fragment``;
  const rows = await db.any(sql.type(z.object({ id: z.string(), created_at: z.number() }))`
    SELECT id, created_at FROM acme_orders WHERE account_id = ${accountId} ${cursor}
    ORDER BY created_at DESC, id DESC LIMIT ${limit}`);
  return [...rows];
}

/** The order that has an approval request waiting, if any. */
export async function findAcmeOrderByRequest(db: CommonQueryMethods, requestId: string): Promise<string | null> {
  return db.maybeOneFirst(
    sql.type(z.object({ id: z.string() }))`SELECT id FROM acme_orders WHERE request_id = ${requestId}`,
  );
}

export async function acmeOrderAuthorizationIds(db: CommonQueryMethods, orderId: string): Promise<string[]> {
  const ids = await db.anyFirst(sql.type(z.object({ authorization_id: z.string() }))`
    SELECT authorization_id FROM acme_order_authorizations WHERE order_id = ${orderId} ORDER BY authorization_id`);
  return [...ids];
}

/** The order (of any status but invalid) that replaces the certificate, if any (RFC 9773 §5). */
export async function findLiveAcmeOrderReplacing(db: CommonQueryMethods, serialHex: string): Promise<string | null> {
  return db.maybeOneFirst(sql.type(z.object({ id: z.string() }))`
    SELECT id FROM acme_orders WHERE replaces_serial_hex = ${serialHex} AND status <> 'invalid'`);
}

/** Every order that includes the authorization, whatever its status (callers filter after locking). */
export async function acmeOrdersOfAuthorization(db: CommonQueryMethods, authorizationId: string): Promise<string[]> {
  const ids = await db.anyFirst(sql.type(z.object({ order_id: z.string() }))`
    SELECT order_id FROM acme_order_authorizations WHERE authorization_id = ${authorizationId}`);
  return [...ids];
}
