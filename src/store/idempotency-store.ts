import { type CommonQueryMethods, sql } from "slonik";
import { z } from "zod";

/** One AIP-155 request: the caller, the full RPC name and the caller's request_id. */
export interface IdempotencyKey {
  readonly userId: string;
  /** "chancery.admin.v1.UserService/CreateUser". */
  readonly method: string;
  readonly requestId: string;
}

/** What a claim found: the key is now ours, or an earlier call holds it (running or done). */
export type IdempotencyClaim =
  | { readonly state: "claimed" }
  | { readonly state: "pending"; readonly requestHash: Buffer; readonly createdAt: Date }
  | { readonly state: "completed"; readonly requestHash: Buffer; readonly response: Buffer | null };

const existingRow = z.object({
  request_hash: z.instanceof(Buffer),
  created_at: z.number(),
  completed_at: z.number().nullable(),
  response: z.instanceof(Buffer).nullable(),
});

const keyMatches = (key: IdempotencyKey) =>
  sql.fragment`user_id = ${key.userId} AND method = ${key.method} AND request_id = ${key.requestId}`;

/**
 * Claims `key` for a call about to run, or reports the earlier call that
 * holds it. Rows claimed before `pruneBefore` are deleted first (the prune
 * is an index range scan, cheap at the rate admins create things), so an
 * expired request_id can be used again.
 *
 * The INSERT ... ON CONFLICT DO NOTHING is the lock: of two concurrent
 * duplicates, on one replica or several, Postgres lets exactly one insert.
 * The loser reads the winner's row in a second statement (a fresh snapshot,
 * so it sees the committed row). That row can vanish in between when the
 * winner's call failed and released it; the claim is then tried again.
 */
export async function claimIdempotentRequest(
  db: CommonQueryMethods,
  key: IdempotencyKey,
  requestHash: Buffer,
  now: Date,
  pruneBefore: Date,
): Promise<IdempotencyClaim> {
  await db.query(sql.unsafe`DELETE FROM idempotent_requests WHERE created_at < ${sql.timestamp(pruneBefore)}`);
  for (let attempt = 0; ; attempt++) {
    const inserted = await db.maybeOneFirst(sql.type(z.object({ claimed: z.boolean() }))`
      INSERT INTO idempotent_requests (user_id, method, request_id, request_hash, created_at, completed_at, response)
      VALUES (${key.userId}, ${key.method}, ${key.requestId}, ${sql.binary(requestHash)}, ${sql.timestamp(now)},
        NULL, NULL)
      ON CONFLICT (user_id, method, request_id) DO NOTHING
      RETURNING true AS claimed`);
    if (inserted) return { state: "claimed" };
    const row = await db.maybeOne(sql.type(existingRow)`
      SELECT request_hash, created_at, completed_at, response FROM idempotent_requests WHERE ${keyMatches(key)}`);
    if (row && row.completed_at !== null)
      return { state: "completed", requestHash: row.request_hash, response: row.response };
    if (row) return { state: "pending", requestHash: row.request_hash, createdAt: new Date(row.created_at) };
    // Released between the two statements. Three rounds lost to a key that
    // keeps coming and going is a busy key: report it as in progress.
    if (attempt === 2) return { state: "pending", requestHash, createdAt: now };
  }
}

/** Records the answer of a claimed call; `response` null keeps none (it held a secret). */
export async function completeIdempotentRequest(
  db: CommonQueryMethods,
  key: IdempotencyKey,
  response: Buffer | null,
  now: Date,
): Promise<void> {
  await db.query(sql.unsafe`
    UPDATE idempotent_requests
    SET completed_at = ${sql.timestamp(now)}, response = ${response === null ? null : sql.binary(response)}
    WHERE ${keyMatches(key)} AND completed_at IS NULL`);
}

/** Gives up a claim whose call failed, so a retry with the same request_id runs again. */
export async function releaseIdempotentRequest(db: CommonQueryMethods, key: IdempotencyKey): Promise<void> {
  await db.query(sql.unsafe`DELETE FROM idempotent_requests WHERE ${keyMatches(key)} AND completed_at IS NULL`);
}
