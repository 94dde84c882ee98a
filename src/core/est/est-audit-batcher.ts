import type { Logger } from "pino";
import type { AuditEventInput } from "../audit/audit-event.ts";
import type { AuditLog } from "../audit/audit-log.ts";

export interface EstAuditBatcher {
  /**
   * Notes an event without waiting for it (refusals): written with the next
   * batch. When more than the bound are waiting, further ones are counted
   * and the count is audited as one "est.refusals_dropped" event instead.
   */
  note(event: AuditEventInput): void;
  /** Writes what is waiting; resolves when it is written. */
  flush(): Promise<void>;
}

/**
 * EST's refusals (est.refuse), group-committed: while one batch is being
 * written the next ones gather, so a burst costs one transaction (one lock
 * on the audit chain head and one fsync) per batch rather than per request,
 * as the issuance committer does for certificates (docs/decisions/0003).
 * They are bounded in memory, so a flood of refused requests cannot become
 * a flood of transactions or of memory. (An issued certificate's est.enroll
 * event commits with the certificate, through IssuanceCommitHook.)
 */
export function createEstAuditBatcher(deps: {
  audit: AuditLog;
  logger: Logger;
  /** Noted (not awaited) events kept waiting at most; default 1000. */
  maxNoted?: number | undefined;
}): EstAuditBatcher {
  const { audit, logger } = deps;
  const maxNoted = deps.maxNoted ?? 1000;
  let waiting: AuditEventInput[] = [];
  let noted = 0;
  let dropped = 0;
  let writing: Promise<void> | null = null;

  function schedule(): void {
    if (writing) return;
    writing = (async () => {
      try {
        while (waiting.length > 0 || dropped > 0) {
          const events = waiting;
          waiting = [];
          noted = 0;
          if (dropped > 0) {
            events.push({
              actor: "system",
              action: "est.refusals_dropped",
              target: "est",
              details: { count: dropped },
            });
            dropped = 0;
          }
          try {
            await audit.append(events);
          } catch (err) {
            logger.error({ err, events: events.length }, "could not write EST audit events");
          }
        }
      } finally {
        writing = null;
      }
    })();
  }

  return {
    note(event) {
      if (noted >= maxNoted) {
        dropped++;
      } else {
        noted++;
        waiting.push(event);
      }
      schedule();
    },

    async flush() {
      while (writing) await writing;
    },
  };
}
