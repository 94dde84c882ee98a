import { type CommonQueryMethods, sql } from "slonik";
import { z } from "zod";
import { byteaText, insertRows, insertTable, type TableRow } from "./row-insert.ts";

const transactionRow = z.object({
  id: z.string(),
  endpoint_id: z.string(),
  transaction_id: z.string(),
  message_type: z.number(),
  sender_nonce: z.instanceof(Buffer),
  public_key_sha256: z.instanceof(Buffer),
  subject_der: z.instanceof(Buffer),
  csr_der: z.instanceof(Buffer),
  state: z.enum(["pending", "issued", "failed"]),
  request_id: z.string().nullable(),
  certificate_serial_hex: z.string().nullable(),
  fail_info: z.number().nullable(),
  failure_reason: z.string().nullable(),
  challenge_mode: z.string(),
  replaces_serial_hex: z.string().nullable(),
  source_ip: z.string().nullable(),
  created_at: z.number(),
  updated_at: z.number(),
});
export type ScepTransactionRow = z.infer<typeof transactionRow>;

const columns = sql.fragment`id, endpoint_id, transaction_id, message_type, sender_nonce, public_key_sha256,
  subject_der, csr_der, state, request_id, certificate_serial_hex, fail_info, failure_reason, challenge_mode,
  replaces_serial_hex, source_ip, created_at, updated_at`;

export interface NewScepTransaction {
  id: string;
  endpointId: string;
  transactionId: string;
  messageType: 17 | 19;
  senderNonce: Buffer;
  publicKeySha256: Buffer;
  subjectDer: Buffer;
  csrDer: Buffer;
  challengeMode: string;
  replacesSerialHex: string | null;
  sourceIp: string | null;
  now: Date;
}

/** A transaction's state as it is first written: pending while it is decided, or already decided. */
export type NewScepTransactionState =
  | { state: "pending" }
  | { state: "issued"; certificateSerialHex: string }
  | { state: "failed"; failInfo: number; reason: string };

/**
 * Records a request message's transaction under its sender nonce. The
 * unique (endpoint, nonce) key makes this the replay check across replicas:
 * false when the nonce was already seen (RFC 8894 §3.2.1.5). A transaction
 * decided at once is written in its final state, in the commit that
 * decides it; one that waits (validation, approval) is claimed pending first.
 */
export async function insertScepTransaction(
  db: CommonQueryMethods,
  row: NewScepTransaction,
  decided: NewScepTransactionState,
): Promise<boolean> {
  const { table, values } = scepTransactionTableRow(row, decided);
  const inserted = await db.maybeOneFirst(sql.type(z.object({ id: z.string() }))`
    ${insertRows(table, [values])}
    ON CONFLICT (endpoint_id, sender_nonce) DO NOTHING
    RETURNING id`);
  return inserted !== null;
}

const scepTransactionsTable = insertTable("scep_transactions", [
  { name: "id", type: "uuid" },
  { name: "endpoint_id", type: "uuid" },
  { name: "transaction_id", type: "text" },
  { name: "message_type", type: "int2" },
  { name: "sender_nonce", type: "bytea" },
  { name: "public_key_sha256", type: "bytea" },
  { name: "subject_der", type: "bytea" },
  { name: "csr_der", type: "bytea" },
  { name: "state", type: "text" },
  { name: "certificate_serial_hex", type: "text" },
  { name: "fail_info", type: "int2" },
  { name: "failure_reason", type: "text" },
  { name: "challenge_mode", type: "text" },
  { name: "replaces_serial_hex", type: "text" },
  { name: "source_ip", type: "text" },
  { name: "created_at", type: "timestamptz" },
  { name: "updated_at", type: "timestamptz" },
]);

/**
 * A new transaction as a row, for insertScepTransaction or for the issuance
 * commit that writes it with its certificate (IssuanceAlongside). Written
 * that way the row has no ON CONFLICT: a taken nonce fails the commit, and
 * nothing is issued.
 */
export function scepTransactionTableRow(row: NewScepTransaction, decided: NewScepTransactionState): TableRow {
  const now = row.now.toISOString();
  return {
    table: scepTransactionsTable,
    values: [
      row.id,
      row.endpointId,
      row.transactionId,
      String(row.messageType),
      byteaText(row.senderNonce),
      byteaText(row.publicKeySha256),
      byteaText(row.subjectDer),
      byteaText(row.csrDer),
      decided.state,
      decided.state === "issued" ? decided.certificateSerialHex : null,
      decided.state === "failed" ? String(decided.failInfo) : null,
      decided.state === "failed" ? decided.reason : null,
      row.challengeMode,
      row.replacesSerialHex,
      row.sourceIp,
      now,
      now,
    ],
  };
}

export async function findScepTransactionByNonce(
  db: CommonQueryMethods,
  endpointId: string,
  senderNonce: Buffer,
): Promise<ScepTransactionRow | null> {
  return db.maybeOne(sql.type(transactionRow)`
    SELECT ${columns} FROM scep_transactions
    WHERE endpoint_id = ${endpointId} AND sender_nonce = ${sql.binary(senderNonce)}`);
}

/** The newest transaction of an endpoint with this transactionID (a poll names it so, RFC 8894 §3.3.3). */
export async function findNewestScepTransaction(
  db: CommonQueryMethods,
  endpointId: string,
  transactionId: string,
): Promise<ScepTransactionRow | null> {
  return db.maybeOne(sql.type(transactionRow)`
    SELECT ${columns} FROM scep_transactions
    WHERE endpoint_id = ${endpointId} AND transaction_id = ${transactionId}
    ORDER BY created_at DESC, id DESC LIMIT 1`);
}

/** Whether any transaction of the endpoint is still pending (the partial index of migration 0024). */
export async function hasPendingScepTransaction(db: CommonQueryMethods, endpointId: string): Promise<boolean> {
  return db.oneFirst(sql.type(z.object({ pending: z.boolean() }))`
    SELECT EXISTS (SELECT 1 FROM scep_transactions WHERE endpoint_id = ${endpointId} AND state = 'pending') AS pending`);
}

export async function lockScepTransaction(db: CommonQueryMethods, id: string): Promise<ScepTransactionRow | null> {
  return db.maybeOne(sql.type(transactionRow)`SELECT ${columns} FROM scep_transactions WHERE id = ${id} FOR UPDATE`);
}

export type ScepTransactionOutcome =
  | { state: "pending"; requestId: string }
  | { state: "issued"; certificateSerialHex: string }
  | { state: "failed"; failInfo: number; reason: string };

/** Moves a transaction to its outcome; only a pending one changes. Returns whether it did. */
export async function settleScepTransaction(
  db: CommonQueryMethods,
  id: string,
  outcome: ScepTransactionOutcome,
  now: Date,
): Promise<boolean> {
  const set =
    outcome.state === "pending"
      ? sql.fragment`request_id = ${outcome.requestId}`
      : outcome.state === "issued"
        ? sql.fragment`state = 'issued', certificate_serial_hex = ${outcome.certificateSerialHex}`
        : sql.fragment`state = 'failed', fail_info = ${outcome.failInfo}, failure_reason = ${outcome.reason}`;
  const result = await db.query(sql.unsafe`
    UPDATE scep_transactions SET ${set}, updated_at = ${sql.timestamp(now)}
    WHERE id = ${id} AND state = 'pending'`);
  return result.rowCount === 1;
}

/**
 * Empties the CSR of up to `limit` transactions settled (issued or failed) before `settledBefore`, oldest
 * first; returns how many. The row stays: its unique sender nonce is the replay check (RFC 8894
 * §3.2.1.5), and its subject and key hash still answer a late CertPoll. A pending row keeps its CSR: a
 * decision taken later reports it (Intune notifications). Reads the scep_transactions_csr_kept index only.
 */
export async function emptySettledScepCsrs(
  db: CommonQueryMethods,
  settledBefore: Date,
  limit: number,
): Promise<number> {
  const result = await db.query(sql.unsafe`
    UPDATE scep_transactions SET csr_der = ''::bytea
    WHERE id IN (
      SELECT id FROM scep_transactions
      WHERE state <> 'pending' AND octet_length(csr_der) > 0 AND updated_at < ${sql.timestamp(settledBefore)}
      ORDER BY updated_at
      LIMIT ${limit}
    )`);
  return result.rowCount;
}
