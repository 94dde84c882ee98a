import type { Logger } from "pino";
import type { DatabasePool } from "slonik";
import { emptySettledScepCsrs } from "../../store/scep-transaction-store.ts";
import type { Clock } from "../clock.ts";
import type { SchedulerTimers } from "../crl/crl-scheduler.ts";
import { createPeriodicPass, type PeriodicPass } from "../periodic-pass.ts";

/** Rows per statement: short transactions, so a pass never holds many row locks at once. */
const batchSize = 1000;

/**
 * The SCEP server's background pass (docs/decisions/0014-scep-transaction-retention.md): empties the CSR
 * of transactions settled longer than `retentionSeconds` ago, in batches, until none is left or the pass
 * is stopped. Every replica runs it; passes at once may empty a row twice, which changes nothing. Returns how
 * many were emptied.
 */
export function createScepHousekeeping(deps: {
  pool: DatabasePool;
  clock: Clock;
  logger: Logger;
  retentionSeconds: number;
  intervalMs?: number;
  timers?: SchedulerTimers;
}): PeriodicPass<number> {
  const pass: PeriodicPass<number> = createPeriodicPass(
    async () => {
      const settledBefore = new Date(deps.clock.now().getTime() - deps.retentionSeconds * 1000);
      let emptied = 0;
      try {
        for (;;) {
          const count = await emptySettledScepCsrs(deps.pool, settledBefore, batchSize);
          emptied += count;
          if (count < batchSize || pass.stopped()) break;
        }
        if (emptied > 0) deps.logger.info({ emptied, settledBefore }, "SCEP housekeeping: old CSRs emptied");
      } catch (err) {
        deps.logger.warn({ err, emptied }, "SCEP housekeeping failed; retried next pass");
      }
      return emptied;
    },
    { intervalMs: deps.intervalMs ?? 60 * 60_000, timers: deps.timers },
  );
  return pass;
}
