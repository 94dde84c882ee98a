import { type CommonQueryMethods, sql } from "slonik";
import { z } from "zod";
import type { AuditDetail, SealedAuditEvent } from "../core/audit/audit-event.ts";
import { byteaText, type InsertTable, insertRows, insertTable } from "./row-insert.ts";

const headRow = z.object({ seq: z.coerce.bigint(), hash: z.instanceof(Buffer) });

const eventRow = z.object({
  seq: z.coerce.bigint(),
  occurred_at: z.number(),
  actor: z.string(),
  action: z.string(),
  target: z.string(),
  source_ip: z.string().nullable(),
  details: z.record(z.unknown()),
  prev_hash: z.instanceof(Buffer),
  hash: z.instanceof(Buffer),
});

/** Locks the chain head for the rest of the transaction and returns it. */
export async function lockAuditHead(tx: CommonQueryMethods): Promise<{ seq: bigint; hash: Buffer }> {
  return tx.one(sql.type(headRow)`SELECT seq::text AS seq, hash FROM audit_chain_head WHERE id = 1 FOR UPDATE`);
}

export async function readAuditHead(db: CommonQueryMethods): Promise<{ seq: bigint; hash: Buffer }> {
  return db.one(sql.type(headRow)`SELECT seq::text AS seq, hash FROM audit_chain_head WHERE id = 1`);
}

const auditEventsTable = insertTable("audit_events", [
  { name: "seq", type: "int8" },
  { name: "occurred_at", type: "timestamptz" },
  { name: "actor", type: "text" },
  { name: "action", type: "text" },
  { name: "target", type: "text" },
  { name: "source_ip", type: "text" },
  { name: "details", type: "text", jsonb: true },
  { name: "prev_hash", type: "bytea" },
  { name: "hash", type: "bytea" },
]);

function eventValues(e: SealedAuditEvent): (string | null)[] {
  return [
    e.seq.toString(),
    e.occurredAt.toISOString(),
    e.actor,
    e.action,
    e.target,
    e.sourceIp,
    JSON.stringify(e.details),
    byteaText(e.prevHash),
    byteaText(e.hash),
  ];
}

/**
 * One statement for a whole sealed batch: a multi-row INSERT of the events
 * and the new head (a data-modifying WITH runs whether or not it is read;
 * one round trip instead of two on every commit that audits).
 */
export async function insertAuditEvents(tx: CommonQueryMethods, events: SealedAuditEvent[]): Promise<void> {
  if (events.length === 0) return;
  const last = events[events.length - 1]!;
  await tx.query(sql.unsafe`
    WITH inserted AS (${insertRows(auditEventsTable, events.map(eventValues))})
    UPDATE audit_chain_head SET seq = ${last.seq.toString()}::bigint, hash = ${sql.binary(last.hash)} WHERE id = 1`);
}

/**
 * `rows` and a sealed run of `events` in one statement, which commits on
 * its own (docs/decisions/0015-one-statement-issuance-commit.md), on
 * condition that the chain head is still `expected`, the head the events
 * were sealed after. The head is moved by a guarded UPDATE that every
 * INSERT waits on: when another writer moved the head first, the UPDATE
 * matches nothing (Postgres re-reads the row once that writer commits) and
 * nothing at all is written. Returns whether it was.
 */
export async function insertWithAuditEventsIfHeadIs(
  db: CommonQueryMethods,
  expected: { seq: bigint; hash: Buffer },
  events: SealedAuditEvent[],
  rows: ReadonlyMap<InsertTable, (string | null)[][]>,
): Promise<boolean> {
  const last = events[events.length - 1];
  if (!last) throw new Error("insertWithAuditEventsIfHeadIs needs at least one event");
  const headAdvanced = sql.fragment`EXISTS (SELECT FROM head)`;
  const writes = [...rows].map(
    ([table, values], i) =>
      sql.fragment`${sql.identifier([`rows_${i}`])} AS (${insertRows(table, values, headAdvanced)})`,
  );
  writes.push(sql.fragment`events AS (${insertRows(auditEventsTable, events.map(eventValues), headAdvanced)})`);
  const result = await db.oneFirst(sql.unsafe`
    WITH head AS (
      UPDATE audit_chain_head SET seq = ${last.seq.toString()}::bigint, hash = ${sql.binary(last.hash)}
      WHERE id = 1 AND seq = ${expected.seq.toString()}::bigint AND hash = ${sql.binary(expected.hash)}
      RETURNING seq),
    ${sql.join(writes, sql.fragment`, `)}
    SELECT count(*)::int FROM head`);
  return result === 1;
}

/** Events with seq > afterSeq in chain order, at most `limit` of them. */
export async function readAuditEvents(
  db: CommonQueryMethods,
  afterSeq: bigint,
  limit: number,
): Promise<SealedAuditEvent[]> {
  const rows = await db.any(sql.type(eventRow)`
    SELECT seq::text AS seq, occurred_at, actor, action, target, source_ip, details, prev_hash, hash
    FROM audit_events WHERE audit_events.seq > ${afterSeq.toString()}::bigint
    ORDER BY audit_events.seq LIMIT ${limit}`);
  return rows.map(toSealed);
}

function toSealed(r: z.infer<typeof eventRow>): SealedAuditEvent {
  return {
    seq: r.seq,
    occurredAt: new Date(r.occurred_at),
    actor: r.actor,
    action: r.action,
    target: r.target,
    sourceIp: r.source_ip,
    details: r.details as Record<string, AuditDetail>,
    prevHash: r.prev_hash,
    hash: r.hash,
  };
}

export interface AuditEventFilter {
  actor?: string | undefined;
  /** Exact action, or a prefix when it ends in ".". */
  action?: string | undefined;
  target?: string | undefined;
  from?: Date | undefined;
  to?: Date | undefined;
}

/**
 * Filtered events in chain order: newest first below `beforeSeq` (listing),
 * or oldest first above `afterSeq` (export), at most `limit`.
 */
export async function findAuditEvents(
  db: CommonQueryMethods,
  filter: AuditEventFilter,
  page: { order: "newest" | "oldest"; cursor: bigint | undefined; limit: number },
): Promise<SealedAuditEvent[]> {
  const conditions = [sql.fragment`TRUE`];
  if (filter.actor) conditions.push(sql.fragment`actor = ${filter.actor}`);
  if (filter.action?.endsWith(".")) conditions.push(sql.fragment`starts_with(action, ${filter.action})`);
  else if (filter.action) conditions.push(sql.fragment`action = ${filter.action}`);
  if (filter.target) conditions.push(sql.fragment`target = ${filter.target}`);
  if (filter.from) conditions.push(sql.fragment`occurred_at >= ${sql.timestamp(filter.from)}`);
  if (filter.to) conditions.push(sql.fragment`occurred_at < ${sql.timestamp(filter.to)}`);
  if (page.cursor !== undefined)
    conditions.push(
      page.order === "newest"
        ? sql.fragment`audit_events.seq < ${page.cursor.toString()}::bigint`
        : sql.fragment`audit_events.seq > ${page.cursor.toString()}::bigint`,
    );
  const order = page.order === "newest" ? sql.fragment`DESC` : sql.fragment`ASC`;
  const rows = await db.any(sql.type(eventRow)`
    SELECT seq::text AS seq, occurred_at, actor, action, target, source_ip, details, prev_hash, hash
    FROM audit_events WHERE ${sql.join(conditions, sql.fragment` AND `)}
    ORDER BY audit_events.seq ${order} LIMIT ${page.limit}`);
  return rows.map(toSealed);
}
