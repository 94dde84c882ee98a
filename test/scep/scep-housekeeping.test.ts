import { sql } from "slonik";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { failInfos, pkiStatuses } from "../../src/core/scep/scep-types.ts";
import { pkcsReq } from "../../src/core/scep/testing/scep-test-client.ts";
import { emptySettledScepCsrs } from "../../src/store/scep-transaction-store.ts";
import { device, rsaKeys, type ScepTestEnv, startScepTestEnv, staticChallenge } from "./scep-test-env.ts";

/**
 * The SCEP housekeeping pass (docs/decisions/0014-scep-transaction-retention.md): a transaction settled
 * longer ago than scep.transactionRetention (90 days by default) loses its CSR, and keeps what replay
 * detection and polls need.
 */
let t: ScepTestEnv;
let keys: ReturnType<typeof rsaKeys>;

beforeAll(async () => {
  t = await startScepTestEnv();
  keys = rsaKeys(3);
  await t.approvalProfile("device-approved");
  await Promise.all([t.endpoint("kept"), t.endpoint("waiting", { profileName: "device-approved" })]);
});
afterAll(async () => {
  await t?.stop();
});

const csrSizes = z.object({ transaction_id: z.string(), state: z.string(), csr_bytes: z.coerce.number() });
async function csrBytes(): Promise<Record<string, { state: string; csr: number }>> {
  const rows = await t.gateway.pool.any(sql.type(csrSizes)`
    SELECT transaction_id, state, octet_length(csr_der) AS csr_bytes FROM scep_transactions`);
  return Object.fromEntries(rows.map((r) => [r.transaction_id, { state: r.state, csr: r.csr_bytes }]));
}

describe("SCEP housekeeping", () => {
  it("empties the CSRs of transactions settled before the retention, and a replay of one is still refused", async () => {
    const ra = await t.raCertificate("kept");
    const old = device(keys[0]!, { cn: "old-device", challenge: staticChallenge });
    const oldRequest = pkcsReq(old.csr, { raCertificateDer: ra, signer: old.signer });
    expect((await t.exchange("kept", oldRequest, ra)).pkiStatus).toBe(pkiStatuses.success);
    const refused = await t.enrol("kept", { key: keys[1]!, cn: "refused-device", challenge: "wrong-challenge" });
    expect(refused.reply.pkiStatus).toBe(pkiStatuses.failure);
    const waiting = await t.enrol("waiting", { key: keys[2]!, cn: "waiting-device", challenge: staticChallenge });
    expect(waiting.reply.pkiStatus).toBe(pkiStatuses.pending);
    // All three a hundred days old; then one settled today.
    await t.gateway.pool.query(
      sql.unsafe`UPDATE scep_transactions SET updated_at = updated_at - interval '100 days', created_at = created_at - interval '100 days'`,
    );
    const recent = await t.enrol("kept", { key: keys[1]!, cn: "recent-device", challenge: staticChallenge });
    expect(recent.reply.pkiStatus).toBe(pkiStatuses.success);

    expect(await t.gateway.scep.housekeeping.runOnce()).toBe(2);
    const after = await csrBytes();
    expect(after[oldRequest.transactionId]).toEqual({ state: "issued", csr: 0 });
    expect(after[refused.request.transactionId]).toEqual({ state: "failed", csr: 0 });
    // Pending: a decision taken later still reports the CSR. Recent: within the retention.
    expect(after[waiting.request.transactionId]!.csr).toBeGreaterThan(0);
    expect(after[recent.request.transactionId]!.csr).toBeGreaterThan(0);
    expect(await t.gateway.scep.housekeeping.runOnce()).toBe(0);

    // The row, and with it the sender nonce, stays: the old message sent again is still a replay.
    const replay = await t.exchange("kept", oldRequest, ra);
    expect(replay.pkiStatus).toBe(pkiStatuses.failure);
    expect(replay.failInfo).toBe(failInfos.badRequest);
  });

  it("finds what to empty through its partial index, without reading the rest of the table", async () => {
    // A store that has run for a while: 20,000 settled transactions already emptied, a few still kept.
    const endpoint = await t.gateway.scep.endpoints.getByName("kept");
    await t.gateway.pool.query(sql.unsafe`
      INSERT INTO scep_transactions (id, endpoint_id, transaction_id, message_type, sender_nonce, public_key_sha256,
        subject_der, csr_der, state, certificate_serial_hex, challenge_mode, created_at, updated_at)
      SELECT gen_random_uuid(), ${endpoint.id}, 'bulk-' || i, 19, decode(lpad(to_hex(i), 32, '0'), 'hex'),
        '\\x00', '\\x3000', CASE WHEN i % 1000 = 0 THEN '\\x3000'::bytea ELSE ''::bytea END, 'issued', 'ab',
        'static', now() - interval '200 days', now() - interval '200 days'
      FROM generate_series(1, 20000) AS i`);
    await t.gateway.pool.query(sql.unsafe`ANALYZE scep_transactions`);
    const plan = await t.gateway.pool.oneFirst(
      sql.type(z.object({ "QUERY PLAN": z.any() }))`EXPLAIN (FORMAT JSON)
        SELECT id FROM scep_transactions
        WHERE state <> 'pending' AND octet_length(csr_der) > 0 AND updated_at < now()
        ORDER BY updated_at LIMIT 1000`,
    );
    const text = JSON.stringify(plan);
    expect(text).toContain("scep_transactions_csr_kept");
    expect(text).not.toContain("Seq Scan");
    // The store function runs that query: the 20 kept ones, then none (an emptied row leaves the index).
    const settledBefore = new Date(Date.now() - 100 * 86_400_000);
    expect(await emptySettledScepCsrs(t.gateway.pool, settledBefore, 1000)).toBe(20);
    expect(await emptySettledScepCsrs(t.gateway.pool, settledBefore, 1000)).toBe(0);
  });
});
