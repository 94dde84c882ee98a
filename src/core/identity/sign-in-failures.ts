import type { Logger } from "pino";
import type { AuditEventInput } from "../audit/audit-event.ts";
import type { AuditLog } from "../audit/audit-log.ts";
import type { Clock } from "../clock.ts";

/** Why a credential was refused; goes into the "auth.failure" event's details. */
export type SignInFailureReason =
  | "missing_token"
  | "malformed_token"
  | "unknown_token"
  | "missing_code"
  | "malformed_code"
  | "unknown_code"
  | "expired_code"
  | "user_disabled"
  | "api_access_off"
  | "subnet_denied";

export interface SignInFailure {
  /** "anonymous" until the credential named a user, then "user:{id}". */
  readonly actor: string;
  /** "auth", or "user:{id}" once known. */
  readonly target: string;
  readonly sourceIp: string;
  readonly reason: SignInFailureReason;
  /**
   * What was presented when it was not a personal access token, e.g.
   * "enrollment_code"; left out of the details for tokens, the common case.
   */
  readonly credential?: string | undefined;
}

export interface SignInFailureLog {
  /** Notes a failure; it is audited in the background (never awaited by the caller). */
  record(failure: SignInFailure): void;
  /** Writes what is pending now; resolves when it is written. */
  flush(): Promise<void>;
  /** Flushes and stops the background writes; call at shutdown. */
  close(): Promise<void>;
}

export interface SignInFailureLogOptions {
  /** At most this many distinct (actor, IP, reason, credential) failures wait for one batch; more are counted only (default 1 000). */
  maxPendingFailures?: number | undefined;
  /** Failure batches start at most once per this many ms (default 1 000). */
  failureFlushIntervalMs?: number | undefined;
}

interface PendingFailure extends SignInFailure {
  count: number;
  firstAt: Date;
  lastAt: Date;
}

/**
 * Audits refused sign-ins (bad tokens, bad enrollment codes) as
 * "auth.failure" events, without letting a flood of them become a flood of
 * awaited transactions, each locking the audit chain head and holding a
 * pool connection. A failure is only added to an in-memory table keyed by
 * (actor, source IP, reason, credential), which counts repeats, and the
 * caller gets its error at once. One writer drains the table, one
 * transaction per batch, at most one batch in flight and at most one
 * started per `failureFlushIntervalMs`: a quiet server writes a failure at
 * once, a flooded one writes one bounded batch a second whose events say
 * how often each key was seen. The table holds at most `maxPendingFailures`
 * keys; beyond that, failures are counted and the count goes into an event
 * of its own, so memory stays bounded even against many source addresses.
 * Rate-limiting per IP was the alternative; it would still need a bounded
 * table, and it would drop the evidence of the flood instead of
 * summarising it.
 */
export function createSignInFailureLog(deps: {
  audit: AuditLog;
  clock: Clock;
  logger?: Logger | undefined;
  options?: SignInFailureLogOptions | undefined;
}): SignInFailureLog {
  const { audit, clock, logger } = deps;
  const maxPendingFailures = deps.options?.maxPendingFailures ?? 1_000;
  const failureFlushIntervalMs = deps.options?.failureFlushIntervalMs ?? 1_000;
  let closed = false;
  let pending = new Map<string, PendingFailure>();
  let dropped = 0;
  let timer: NodeJS.Timeout | null = null;
  let inFlight: Promise<void> | null = null;
  let lastBatchAt = Number.NEGATIVE_INFINITY;

  function schedule(): void {
    if (timer || inFlight || closed) return;
    const wait = Math.max(0, lastBatchAt + failureFlushIntervalMs - performance.now());
    timer = setTimeout(() => void write(), wait).unref();
  }

  async function write(): Promise<void> {
    if (timer) clearTimeout(timer);
    timer = null;
    while (inFlight) await inFlight;
    if (pending.size === 0 && dropped === 0) return;
    const events: AuditEventInput[] = [...pending.values()].map((f) => ({
      actor: f.actor,
      action: "auth.failure",
      target: f.target,
      sourceIp: f.sourceIp || undefined,
      occurredAt: f.firstAt,
      details: {
        reason: f.reason,
        ...(f.credential ? { credential: f.credential } : {}),
        count: f.count,
        ...(f.count > 1 ? { lastAt: f.lastAt.toISOString() } : {}),
      },
    }));
    if (dropped > 0)
      events.push({
        actor: "system",
        action: "auth.failure",
        target: "auth",
        details: { reason: "not_itemised", count: dropped },
      });
    pending = new Map();
    dropped = 0;
    lastBatchAt = performance.now();
    inFlight = audit
      .append(events)
      .then(() => undefined)
      .catch((err) => logger?.error({ err, events: events.length }, "could not audit authentication failures"))
      .finally(() => {
        inFlight = null;
        if (pending.size > 0 || dropped > 0) schedule();
      });
    await inFlight;
  }

  return {
    record(failure) {
      const now = clock.now();
      const key = [failure.actor, failure.sourceIp, failure.reason, failure.credential ?? ""].join("\u0000");
      const seen = pending.get(key);
      if (seen) {
        seen.count += 1;
        seen.lastAt = now;
      } else if (pending.size >= maxPendingFailures) {
        dropped += 1;
      } else {
        pending.set(key, { ...failure, count: 1, firstAt: now, lastAt: now });
      }
      schedule();
    },
    flush: write,
    async close() {
      closed = true;
      await write();
    },
  };
}
