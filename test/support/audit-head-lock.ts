import { type DatabasePool, sql } from "slonik";
import { z } from "zod";

/**
 * Holds the audit chain head's row lock in a transaction of its own, as
 * another replica's commit or a long transaction elsewhere would, until
 * `release` (which waits for that transaction to end).
 */
export async function holdAuditHead(pool: DatabasePool): Promise<{ release: () => Promise<void> }> {
  const held = Promise.withResolvers<void>();
  const released = Promise.withResolvers<void>();
  const holder = pool.transaction(async (tx) => {
    await tx.query(sql.unsafe`SELECT seq FROM audit_chain_head WHERE id = 1 FOR UPDATE`);
    held.resolve();
    await released.promise;
  });
  await Promise.race([held.promise, holder]);
  return {
    release: async () => {
      released.resolve();
      await holder;
    },
  };
}

/** Resolves once some session waits for the head's row lock; `waiter` names it in the error after ~5 s. */
export async function untilWaitingForAuditHead(pool: DatabasePool, waiter: string): Promise<void> {
  const waiting = sql.type(z.object({ n: z.coerce.number() }))`
    SELECT count(*) AS n FROM pg_stat_activity
    WHERE wait_event_type = 'Lock' AND query LIKE '%FROM audit_chain_head%FOR UPDATE%'`;
  for (let i = 0; (await pool.oneFirst(waiting)) === 0; i++) {
    if (i > 200) throw new Error(`${waiter} never waited for the audit head`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
