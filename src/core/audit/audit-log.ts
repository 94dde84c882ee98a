import type { CommonQueryMethods, DatabasePool } from "slonik";
import {
  type AuditEventFilter,
  findAuditEvents,
  insertAuditEvents,
  insertWithAuditEventsIfHeadIs,
  lockAuditHead,
  readAuditEvents,
  readAuditHead,
} from "../../store/audit-store.ts";
import { rowsByTable, type TableRow } from "../../store/row-insert.ts";

export type { AuditEventFilter };

import type { Clock } from "../clock.ts";
import type { AuditDetail, AuditEventInput, SealedAuditEvent } from "./audit-event.ts";
import { auditEventHash, genesisHash } from "./audit-hash.ts";

export interface AuditLog {
  /**
   * Seals `events` onto the chain inside the caller's transaction, so the
   * events commit or roll back with the state change they describe. The
   * chain head row stays locked until that transaction ends: callers batch
   * (see issuance-committer.ts) so one lock covers many events.
   */
  appendInTransaction(tx: CommonQueryMethods, events: AuditEventInput[]): Promise<SealedAuditEvent[]>;
  /**
   * Locks the chain head first, then runs `write` (the caller's statements
   * in `tx`) and seals the events it returns. For a transaction whose rows
   * another writer may insert at the same moment (a SCEP transaction's
   * sender nonce): the one-statement commit takes the head before its rows
   * (decision 0015), and a transaction taking them in the same order waits
   * for it instead of deadlocking with it.
   */
  appendAfterLocking(tx: CommonQueryMethods, write: () => Promise<AuditEventInput[]>): Promise<SealedAuditEvent[]>;
  /**
   * Writes `rows` and seals `events` after them in one statement that
   * commits on its own, without locking the chain head first: the events are
   * sealed after the head this process last saw, and nothing is written if
   * another writer has moved it since (docs/decisions/0015). Returns the
   * sealed events, or undefined when nothing was written (no head seen yet,
   * or it moved); the caller then takes the locking path, which learns the
   * head again.
   */
  appendWithRows(rows: readonly TableRow[], events: AuditEventInput[]): Promise<SealedAuditEvent[] | undefined>;
  /** Appends in a transaction of its own. */
  append(events: AuditEventInput[]): Promise<SealedAuditEvent[]>;
  verify(options?: { pageSize?: number }): Promise<AuditChainReport>;
  /** Filtered events in chain order from a cursor (an event's seq), for listing and export. */
  find(
    filter: AuditEventFilter,
    page: { order: "newest" | "oldest"; cursor: bigint | undefined; limit: number },
  ): Promise<SealedAuditEvent[]>;
}

export type AuditChainReport =
  | { ok: true; checked: number; headSeq: bigint }
  | { ok: false; checked: number; brokenAtSeq: bigint; reason: string };

export function createAuditLog(deps: { pool: DatabasePool; clock: Clock }): AuditLog {
  const { pool, clock } = deps;

  // The head as this process last wrote or read it: a hint for appendWithRows, which fails safely when it is
  // stale (another replica, or a transaction that rolled back).
  let lastSeenHead: { seq: bigint; hash: Buffer } | undefined;

  function seal(head: { seq: bigint; hash: Buffer }, events: AuditEventInput[]): SealedAuditEvent[] {
    let prevHash = head.hash;
    let seq = head.seq;
    const sealed: SealedAuditEvent[] = [];
    for (const input of events) {
      seq += 1n;
      const event = {
        seq,
        // Millisecond precision: what a JS Date holds and what the hash covers.
        occurredAt: new Date(Math.trunc((input.occurredAt ?? clock.now()).getTime())),
        actor: input.actor,
        action: input.action,
        target: input.target,
        sourceIp: input.sourceIp ?? null,
        // Through JSON once, so what is hashed is exactly what jsonb stores
        // (undefined members dropped, -0 and 1.0 normalised).
        details: JSON.parse(JSON.stringify(input.details ?? {})) as Record<string, AuditDetail>,
      };
      const hash = auditEventHash(prevHash, event);
      sealed.push({ ...event, prevHash, hash });
      prevHash = hash;
    }
    return sealed;
  }

  function headAfter(sealed: SealedAuditEvent[]): { seq: bigint; hash: Buffer } {
    const last = sealed[sealed.length - 1]!;
    return { seq: last.seq, hash: last.hash };
  }

  async function appendInTransaction(tx: CommonQueryMethods, events: AuditEventInput[]): Promise<SealedAuditEvent[]> {
    if (events.length === 0) return [];
    return appendAfterLocking(tx, async () => events);
  }

  async function appendAfterLocking(
    tx: CommonQueryMethods,
    write: () => Promise<AuditEventInput[]>,
  ): Promise<SealedAuditEvent[]> {
    const head = await lockAuditHead(tx);
    const events = await write();
    if (events.length === 0) return [];
    const sealed = seal(head, events);
    await insertAuditEvents(tx, sealed);
    lastSeenHead = headAfter(sealed);
    return sealed;
  }

  async function appendWithRows(
    rows: readonly TableRow[],
    events: AuditEventInput[],
  ): Promise<SealedAuditEvent[] | undefined> {
    const expected = lastSeenHead;
    if (!expected || events.length === 0) return undefined;
    const sealed = seal(expected, events);
    const written = await insertWithAuditEventsIfHeadIs(pool, expected, sealed, rowsByTable(rows));
    // Only a head we wrote ourselves is worth guessing from next time; a moved one is learnt under the lock.
    if (lastSeenHead === expected) lastSeenHead = written ? headAfter(sealed) : undefined;
    return written ? sealed : undefined;
  }

  async function verify(options: { pageSize?: number } = {}): Promise<AuditChainReport> {
    const pageSize = options.pageSize ?? 5000;
    // The head first: an append commits its events and the new head together, so every event up to this
    // head must exist, and events appended while we read (background jobs, other replicas) are not ours to
    // judge. Reading the head last raced with them (regression: a CRL build at start made a sound chain
    // look truncated).
    const head = await readAuditHead(pool);
    let expectedPrev: Buffer = genesisHash;
    let expectedSeq = 1n;
    let checked = 0;
    while (expectedSeq <= head.seq) {
      const page = await readAuditEvents(pool, expectedSeq - 1n, pageSize);
      for (const event of page) {
        if (event.seq > head.seq) break;
        if (event.seq !== expectedSeq) {
          return { ok: false, checked, brokenAtSeq: expectedSeq, reason: `event ${expectedSeq} is missing` };
        }
        if (!event.prevHash.equals(expectedPrev)) {
          return { ok: false, checked, brokenAtSeq: event.seq, reason: "prev_hash does not match the previous event" };
        }
        if (!auditEventHash(expectedPrev, event).equals(event.hash)) {
          return { ok: false, checked, brokenAtSeq: event.seq, reason: "event content does not match its hash" };
        }
        expectedPrev = event.hash;
        expectedSeq += 1n;
        checked += 1;
      }
      if (page.length < pageSize) break;
    }
    if (head.seq !== expectedSeq - 1n || !head.hash.equals(expectedPrev)) {
      return {
        ok: false,
        checked,
        brokenAtSeq: expectedSeq,
        reason: `chain head says seq ${head.seq} but the last event is ${expectedSeq - 1n} (events removed at the end?)`,
      };
    }
    return { ok: true, checked, headSeq: head.seq };
  }

  return {
    appendInTransaction,
    appendAfterLocking,
    appendWithRows,
    append: (events) => pool.transaction((tx) => appendInTransaction(tx, events)),
    verify,
    find: (filter, page) => findAuditEvents(pool, filter, page),
  };
}
