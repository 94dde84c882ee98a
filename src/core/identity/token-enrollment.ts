import { timingSafeEqual } from "node:crypto";
import type { CommonQueryMethods, DatabasePool } from "slonik";
import {
  deleteEnrollment,
  type EnrollmentRow,
  findEnrollmentByHash,
  findEnrollmentByUser,
  upsertEnrollment,
} from "../../store/token-store.ts";
import { lockUser, type UserRow } from "../../store/user-store.ts";
import type { Actor } from "../actor.ts";
import type { AuditLog } from "../audit/audit-log.ts";
import type { Clock } from "../clock.ts";
import { ChanceryError } from "../errors.ts";
import type { SignInFailureLog, SignInFailureReason } from "./sign-in-failures.ts";
import { ipAllowed } from "./subnet.ts";
import { generateEnrollmentCode, parseEnrollmentCode } from "./token-secret.ts";
import type { NewToken } from "./token-service.ts";

/** An enrollment code as it may be shown: never the code. */
export interface TokenEnrollmentInfo {
  readonly userId: string;
  /** "chancery_enr_" and the first 6 characters of the random part. */
  readonly prefix: string;
  /** Audit actor of who created it, e.g. "user:{id}". */
  readonly createdBy: string;
  readonly createTime: Date;
  readonly expireTime: Date;
}

export interface NewTokenEnrollment {
  readonly enrollment: TokenEnrollmentInfo;
  /** The whole code: hand it to the user this once; it is not stored and cannot be shown again. */
  readonly code: string;
}

export const defaultEnrollmentTtlMs = 24 * 60 * 60 * 1000;
export const minEnrollmentTtlMs = 5 * 60 * 1000;
export const maxEnrollmentTtlMs = 7 * 24 * 60 * 60 * 1000;

export const invalidEnrollmentCodeMessage = "invalid, used or expired enrollment code; ask an admin for a new one";

export interface TokenEnrollments {
  /**
   * A new one-time code for the user, valid for `ttlMs` (default 24 hours,
   * 5 minutes to 7 days), replacing any code they had. The user must be
   * enabled and have API access (failed_precondition otherwise).
   */
  create(userId: string, by: Actor, options?: { ttlMs?: number | undefined }): Promise<NewTokenEnrollment>;
  /** The user's outstanding code; not_found when there is none or it expired. */
  get(userId: string): Promise<TokenEnrollmentInfo>;
  /** Deletes the user's code; true when there was one (expired or not). */
  revoke(userId: string, by: Actor): Promise<boolean>;
  /**
   * Exchanges a code, presented from `peerIp`, for its user's personal
   * access token, replacing any token they had. The code is consumed in the
   * same transaction that makes the token. Throws "unauthenticated" with one
   * generic message for a missing, malformed, unknown, used or expired code
   * and for a disabled user or one without API access; "permission_denied"
   * when the user's allowed subnets do not cover `peerIp` (the code is then
   * left unused, to be redeemed from an allowed address).
   */
  redeem(code: string, peerIp: string): Promise<NewToken>;
}

/** Refusals decided inside the transaction, raised after it: some must commit (a consumed code), some not. */
interface Refusal {
  readonly refused: SignInFailureReason;
  readonly userId?: string;
}

/**
 * Enrollment codes: how a user whose API access an admin turned on gets
 * their first personal access token. The token API needs a token, so the
 * first one cannot come through it; instead an admin creates a code for the
 * user (CreateTokenEnrollment), hands it over out of band, and the user
 * redeems it with no token at all (RedeemTokenEnrollment, the one admin RPC
 * without a bearer token).
 *
 * A code has the token format with its own prefix (token-secret.ts): 256
 * random bits, stored as SHA-256, shown once. Guessing one is as hopeless
 * as guessing a token, so redemption needs no rate limit of its own; each
 * failure is audited like a bad token, through the shared sign-in failure
 * log. A code is short-lived, single-use, one per user (a new one replaces
 * the old), and dies with the user's API access (user-service.ts deletes it
 * when the user is disabled or loses API access).
 *
 * Every change locks the user row first, like token-service.ts, so it
 * serialises with a concurrent disable or API-access change and with a
 * concurrent redemption: of two redemptions of one code, the second finds
 * the code gone once the first commits.
 */
export function createTokenEnrollments(deps: {
  pool: DatabasePool;
  audit: AuditLog;
  clock: Clock;
  failures: SignInFailureLog;
  /** Checks the user may hold a token; throws failed_precondition if not. */
  checkMayHoldToken: (user: UserRow) => void;
  /** Makes (or replaces) the user's token inside `tx`, auditing it with `details`. */
  issueToken: (tx: CommonQueryMethods, user: UserRow, by: Actor, details: Record<string, string>) => Promise<NewToken>;
}): TokenEnrollments {
  const { pool, audit, clock, failures } = deps;

  async function lockHolder(tx: CommonQueryMethods, userId: string): Promise<UserRow> {
    const user = isUuid(userId) ? await lockUser(tx, userId) : null;
    if (!user) throw new ChanceryError("not_found", `no user with id ${userId}`);
    return user;
  }

  function refuse(reason: SignInFailureReason, peerIp: string, userId?: string): never {
    const actor = userId ? `user:${userId}` : "anonymous";
    failures.record({
      actor,
      target: userId ? actor : "auth",
      sourceIp: peerIp,
      reason,
      credential: "enrollment_code",
    });
    if (reason === "subnet_denied")
      throw new ChanceryError(
        "permission_denied",
        `calls from ${peerIp || "an unknown address"} are not allowed for this account`,
        { detail: { reason } },
      );
    throw new ChanceryError("unauthenticated", invalidEnrollmentCodeMessage, { detail: { reason } });
  }

  return {
    async create(userId, by, options = {}) {
      const ttlMs = checkTtl(options.ttlMs ?? defaultEnrollmentTtlMs);
      return pool.transaction(async (tx) => {
        const user = await lockHolder(tx, userId);
        deps.checkMayHoldToken(user);
        const replaced = await findEnrollmentByUser(tx, user.id);
        const generated = generateEnrollmentCode();
        const now = clock.now();
        const row = await upsertEnrollment(tx, {
          userId: user.id,
          prefix: generated.prefix,
          codeHash: generated.hash,
          createdBy: by.actor,
          createdAt: now,
          expiresAt: new Date(now.getTime() + ttlMs),
        });
        // The prefix only: the code and its hash never go into the audit chain.
        await audit.appendInTransaction(tx, [
          {
            ...by,
            action: "token.enrollment.create",
            target: `user:${user.id}`,
            details: {
              username: user.username,
              prefix: generated.prefix,
              expiresAt: new Date(row.expires_at).toISOString(),
              ...(replaced ? { replacedPrefix: replaced.prefix } : {}),
            },
          },
        ]);
        return { enrollment: toInfo(row), code: generated.secret };
      });
    },

    async get(userId) {
      const row = isUuid(userId) ? await findEnrollmentByUser(pool, userId) : null;
      if (!row || row.expires_at <= clock.now().getTime())
        throw new ChanceryError("not_found", `no outstanding enrollment code for user ${userId}`);
      return toInfo(row);
    },

    async revoke(userId, by) {
      return pool.transaction(async (tx) => {
        const user = await lockHolder(tx, userId);
        const removed = await deleteEnrollment(tx, user.id);
        if (!removed) return false;
        await audit.appendInTransaction(tx, [
          {
            ...by,
            action: "token.enrollment.revoke",
            target: `user:${user.id}`,
            details: { username: user.username, prefix: removed.prefix, reason: "revoked" },
          },
        ]);
        return true;
      });
    },

    async redeem(code, peerIp) {
      const presented = code.trim();
      if (presented === "") refuse("missing_code", peerIp);
      const parsed = parseEnrollmentCode(presented);
      if (!parsed) refuse("malformed_code", peerIp);
      const unavailable = (err: unknown) => {
        if (err instanceof ChanceryError) throw err;
        throw new ChanceryError("unavailable", "cannot redeem the enrollment code right now; retry later", {
          cause: err,
        });
      };
      // One indexed query, outside any transaction, for what a flood of
      // guesses presents: codes that do not exist.
      const found = await findEnrollmentByHash(pool, parsed.hash).catch(unavailable);
      // The lookup was by hash; compare again in constant time (see authenticator.ts).
      if (!found || !timingSafeEqual(found.code_hash, parsed.hash)) refuse("unknown_code", peerIp);
      const outcome = await pool
        .transaction(async (tx): Promise<Refusal | NewToken> => {
          const user = await lockUser(tx, found.user_id);
          if (!user) return { refused: "unknown_code" };
          // Read again under the user lock, which every writer of the code
          // takes first: a concurrent redemption, replacement or revocation
          // has now either committed (the code is gone) or not started.
          const current = await findEnrollmentByHash(tx, parsed.hash);
          if (!current || current.user_id !== user.id) return { refused: "unknown_code" };
          const expired = current.expires_at <= clock.now().getTime();
          const unusable: SignInFailureReason | null = expired
            ? "expired_code"
            : user.disabled
              ? "user_disabled"
              : !user.api_access
                ? "api_access_off"
                : null;
          if (unusable) {
            // A code that can never be redeemed goes now, and says why in the chain.
            await deleteEnrollment(tx, user.id, parsed.hash);
            await audit.appendInTransaction(tx, [
              {
                actor: "system",
                action: "token.enrollment.revoke",
                target: `user:${user.id}`,
                details: { username: user.username, prefix: current.prefix, reason: unusable },
              },
            ]);
            return { refused: unusable, userId: user.id };
          }
          // Wrong network: refuse without consuming, so the owner can still redeem from an allowed address.
          if (!ipAllowed(peerIp, user.allowed_subnets)) return { refused: "subnet_denied", userId: user.id };
          const consumed = await deleteEnrollment(tx, user.id, parsed.hash);
          if (!consumed) return { refused: "unknown_code" };
          const by = { actor: `user:${user.id}`, sourceIp: peerIp || undefined };
          await audit.appendInTransaction(tx, [
            {
              ...by,
              action: "token.enrollment.redeem",
              target: `user:${user.id}`,
              details: { username: user.username, prefix: consumed.prefix },
            },
          ]);
          return deps.issueToken(tx, user, by, { enrollmentPrefix: consumed.prefix });
        })
        .catch(unavailable);
      if ("refused" in outcome) refuse(outcome.refused, peerIp, outcome.userId);
      return outcome;
    },
  };
}

function checkTtl(ttlMs: number): number {
  if (!Number.isInteger(ttlMs) || ttlMs < minEnrollmentTtlMs || ttlMs > maxEnrollmentTtlMs)
    throw new ChanceryError(
      "invalid_argument",
      `an enrollment code lives from ${minEnrollmentTtlMs / 60_000} minutes to ${maxEnrollmentTtlMs / 86_400_000} days`,
    );
  return ttlMs;
}

function toInfo(row: EnrollmentRow): TokenEnrollmentInfo {
  return {
    userId: row.user_id,
    prefix: row.prefix,
    createdBy: row.created_by,
    createTime: new Date(row.created_at),
    expireTime: new Date(row.expires_at),
  };
}

function isUuid(value: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value);
}
