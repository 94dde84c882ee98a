import { timingSafeEqual } from "node:crypto";
import type { Logger } from "pino";
import type { DatabasePool } from "slonik";
import { type CredentialRow, findCredentialByHash, recordTokenUses } from "../../store/token-store.ts";
import type { AuditLog } from "../audit/audit-log.ts";
import type { Clock } from "../clock.ts";
import { ChanceryError } from "../errors.ts";
import type { Role } from "./role.ts";
import { createSignInFailureLog, type SignInFailureLog, type SignInFailureReason } from "./sign-in-failures.ts";
import { ipAllowed } from "./subnet.ts";
import { parseTokenSecret } from "./token-secret.ts";

/** Who a call comes from, once its token checked out. */
export interface Principal {
  readonly userId: string;
  readonly username: string;
  readonly role: Role;
  readonly assignedCaIds: readonly string[];
  readonly allowedSubnets: readonly string[];
}

export interface Authenticator {
  /**
   * The principal behind a personal access token (the bare token, or an
   * Authorization value "Bearer <token>"), called from `peerIp` (the TCP
   * peer, never a header). Throws ChanceryError "unauthenticated" with one
   * generic message for a missing, malformed, unknown or revoked token and
   * for a disabled user or one without API access, so a caller learns
   * nothing about which tokens or users exist; "permission_denied" when the
   * user's allowed subnets do not cover `peerIp`.
   */
  authenticate(bearerToken: string | undefined, peerIp: string): Promise<Principal>;
  /** Writes pending last-used times and failure events now; resolves when they are written. */
  flush(): Promise<void>;
  /** Flushes and stops the background writes; call at shutdown. */
  close(): Promise<void>;
}

export interface AuthenticatorOptions {
  /** A token's last_used_at is written at most once per this many ms (default 60 000). */
  lastUsedIntervalMs?: number;
  /** Uses seen within this many ms are written together (default 1 000). */
  lastUsedFlushDelayMs?: number;
  /** At most this many distinct (actor, IP, reason) failures wait for one batch; more are counted only (default 1 000). */
  maxPendingFailures?: number;
  /** Failure batches start at most once per this many ms (default 1 000). */
  failureFlushIntervalMs?: number;
}

export const unauthenticatedMessage = "missing or invalid personal access token";

/**
 * Authenticates admin-API calls by personal access token.
 *
 * Lookup is by SHA-256 of the presented token (token-secret.ts), one
 * indexed query that also returns the user, so revoking or disabling takes
 * effect on the very next call on every replica; there is no token cache.
 * Malformed tokens (bad shape or checksum) are refused without a query.
 *
 * last_used_at: a database write on every call would double the cost of
 * the hot path and make every call of one user contend for one row. So a
 * successful call only notes the use in memory, and only when the token's
 * last_used_at (as read by that same lookup, or as noted here) is older than
 * `lastUsedIntervalMs`; noted uses are written in the background, batched,
 * one UPDATE for all tokens, never awaited by the caller. last_used_at is
 * therefore accurate to about a minute, and a use in the last moments
 * before a crash may be lost (close() writes what is pending).
 *
 * Failure auditing: every failure becomes an "auth.failure" event through
 * a SignInFailureLog (sign-in-failures.ts), which batches and counts them
 * so a flood of bad tokens cannot become a flood of transactions. The
 * gateway shares one log with enrollment-code redemption
 * (token-enrollment.ts), so both kinds of failure are bounded together.
 */
export function createAuthenticator(deps: {
  pool: DatabasePool;
  clock: Clock;
  audit: AuditLog;
  logger?: Logger | undefined;
  options?: AuthenticatorOptions | undefined;
  /** Shared with other sign-in paths; made here (with `options`) when not given. Closed by close(). */
  failures?: SignInFailureLog | undefined;
}): Authenticator {
  const { pool, clock, audit, logger } = deps;
  const lastUsedIntervalMs = deps.options?.lastUsedIntervalMs ?? 60_000;
  const lastUsedFlushDelayMs = deps.options?.lastUsedFlushDelayMs ?? 1_000;
  const failures =
    deps.failures ??
    createSignInFailureLog({
      audit,
      clock,
      logger,
      options: {
        maxPendingFailures: deps.options?.maxPendingFailures,
        failureFlushIntervalMs: deps.options?.failureFlushIntervalMs,
      },
    });
  let closed = false;

  // --- last-used times ---------------------------------------------------
  /** Keyed by token hash (hex): the newest use not yet written. */
  let pendingUses = new Map<string, { userId: string; tokenHash: Buffer; usedAt: Date }>();
  /** Keyed by token hash (hex): when a use was last noted, to skip the next ones for an interval. */
  const notedAt = new Map<string, number>();
  let usesTimer: NodeJS.Timeout | null = null;
  let usesInFlight: Promise<void> | null = null;

  function noteUse(row: CredentialRow, tokenHash: Buffer): void {
    const now = clock.now();
    const key = tokenHash.toString("hex");
    const known = Math.max(row.last_used_at ?? Number.NEGATIVE_INFINITY, notedAt.get(key) ?? Number.NEGATIVE_INFINITY);
    if (now.getTime() - known < lastUsedIntervalMs) return;
    notedAt.set(key, now.getTime());
    pendingUses.set(key, { userId: row.user_id, tokenHash, usedAt: now });
    if (!usesTimer && !closed) usesTimer = setTimeout(() => void writeUses(), lastUsedFlushDelayMs).unref();
  }

  async function writeUses(): Promise<void> {
    if (usesTimer) clearTimeout(usesTimer);
    usesTimer = null;
    // One write at a time: wait until none is in flight, then take what is pending.
    while (usesInFlight) await usesInFlight;
    if (pendingUses.size === 0) return;
    const batch = [...pendingUses.values()];
    pendingUses = new Map();
    // Forget notes older than an interval: they no longer suppress anything.
    const horizon = clock.now().getTime() - lastUsedIntervalMs;
    for (const [key, at] of notedAt) if (at < horizon) notedAt.delete(key);
    usesInFlight = recordTokenUses(pool, batch)
      .catch((err) => logger?.warn({ err, tokens: batch.length }, "could not record token last-used times"))
      .finally(() => {
        usesInFlight = null;
      });
    await usesInFlight;
  }

  function fail(
    code: "unauthenticated" | "permission_denied",
    actor: string,
    target: string,
    peerIp: string,
    reason: SignInFailureReason,
  ): never {
    failures.record({ actor, target, sourceIp: peerIp, reason });
    logger?.debug({ actor, peerIp, reason }, "authentication failed");
    // Name the address (the caller may not know which one we see), never the allowed subnets.
    const message =
      code === "permission_denied"
        ? `calls from ${peerIp || "an unknown address"} are not allowed for this account`
        : unauthenticatedMessage;
    throw new ChanceryError(code, message, { detail: { reason } });
  }

  return {
    async authenticate(bearerToken, peerIp) {
      const presented = bareToken(bearerToken);
      if (presented === "") fail("unauthenticated", "anonymous", "auth", peerIp, "missing_token");
      const parsed = parseTokenSecret(presented);
      if (!parsed) fail("unauthenticated", "anonymous", "auth", peerIp, "malformed_token");
      const row = await findCredentialByHash(pool, parsed.hash).catch((err: unknown) => {
        throw new ChanceryError("unavailable", "cannot check credentials right now; retry later", { cause: err });
      });
      // The lookup was by hash; compare again in constant time so nothing
      // here depends on how much of a stored hash a guess matched.
      if (!row || !timingSafeEqual(row.token_hash, parsed.hash))
        fail("unauthenticated", "anonymous", "auth", peerIp, "unknown_token");
      const actor = `user:${row.user_id}`;
      if (row.disabled) fail("unauthenticated", actor, actor, peerIp, "user_disabled");
      if (!row.api_access) fail("unauthenticated", actor, actor, peerIp, "api_access_off");
      if (!ipAllowed(peerIp, row.allowed_subnets)) fail("permission_denied", actor, actor, peerIp, "subnet_denied");
      noteUse(row, parsed.hash);
      return {
        userId: row.user_id,
        username: row.username,
        role: row.role,
        assignedCaIds: row.assigned_ca_ids,
        allowedSubnets: row.allowed_subnets,
      };
    },

    async flush() {
      await Promise.all([writeUses(), failures.flush()]);
    },

    async close() {
      closed = true;
      await Promise.all([writeUses(), failures.close()]);
    },
  };
}

/** The token itself: an optional "Bearer " scheme (RFC 6750 §2.1) and surrounding spaces removed. */
function bareToken(value: string | undefined): string {
  if (value === undefined) return "";
  const trimmed = value.trim();
  const match = /^bearer(?:\s+(.*))?$/i.exec(trimmed);
  return match ? (match[1] ?? "").trim() : trimmed;
}
