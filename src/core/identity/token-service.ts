import type { Logger } from "pino";
import type { CommonQueryMethods, DatabasePool } from "slonik";
import { deleteToken, findTokenByUser, type TokenRow, upsertToken } from "../../store/token-store.ts";
import { findUserById, lockUser, type UserRow } from "../../store/user-store.ts";
import type { Actor } from "../actor.ts";
import type { AuditLog } from "../audit/audit-log.ts";
import type { Clock } from "../clock.ts";
import { ChanceryError } from "../errors.ts";
import { createSignInFailureLog, type SignInFailureLog } from "./sign-in-failures.ts";
import { createTokenEnrollments, type NewTokenEnrollment, type TokenEnrollmentInfo } from "./token-enrollment.ts";
import { generateTokenSecret } from "./token-secret.ts";

/** A personal access token as it may be shown: never the secret. */
export interface TokenInfo {
  readonly userId: string;
  /** "chancery_pat_" and the first 6 characters of the random part. */
  readonly prefix: string;
  readonly createTime: Date;
  /** Null until first used; written in the background, so up to a minute behind (see authenticator.ts). */
  readonly lastUsedTime: Date | null;
}

export interface NewToken {
  readonly token: TokenInfo;
  /** The whole token: hand it to its owner this once; it is not stored and cannot be shown again. */
  readonly secret: string;
}

export interface TokenService {
  /** The user's first token; already_exists when they have one (use regenerate). */
  create(userId: string, by: Actor): Promise<NewToken>;
  /** Inside the caller's transaction (bootstrap). */
  createInTransaction(tx: CommonQueryMethods, userId: string, by: Actor): Promise<NewToken>;
  /** Replaces the user's token (or makes one); the old secret stops working when this returns. */
  regenerate(userId: string, by: Actor): Promise<NewToken>;
  /** Deletes the user's token; true when there was one. Revoking nothing is not an error. */
  revoke(userId: string, by: Actor): Promise<boolean>;
  /** not_found when the user has no token. */
  get(userId: string): Promise<TokenInfo>;

  // Enrollment codes: how a user without a token gets one (token-enrollment.ts).
  /** A one-time code for the user (admins hand it over), replacing any they had; ttlMs 5 min to 7 days, default 24 h. */
  createEnrollment(userId: string, by: Actor, options?: { ttlMs?: number | undefined }): Promise<NewTokenEnrollment>;
  /** not_found when the user has no unexpired code. */
  getEnrollment(userId: string): Promise<TokenEnrollmentInfo>;
  /** Deletes the user's code; true when there was one. */
  revokeEnrollment(userId: string, by: Actor): Promise<boolean>;
  /**
   * The code's user's token (replacing any they had) for a code presented
   * from `peerIp`, consuming the code; unauthenticated / permission_denied
   * like a bad token, and audited as a sign-in failure.
   */
  redeemEnrollment(code: string, peerIp: string): Promise<NewToken>;
}

/**
 * One personal access token per user (token-secret.ts has the format and
 * why it is stored as SHA-256). Each change locks the user row first, so it
 * serialises with a concurrent disable or API-access change of that user:
 * a token can never be made for a user who is being disabled.
 */
export function createTokenService(deps: {
  pool: DatabasePool;
  audit: AuditLog;
  clock: Clock;
  logger?: Logger | undefined;
  /** Where refused enrollment codes are audited; the gateway shares the authenticator's. Made here when not given. */
  failures?: SignInFailureLog | undefined;
}): TokenService {
  const { pool, audit, clock } = deps;

  async function lockHolder(tx: CommonQueryMethods, userId: string): Promise<UserRow> {
    const user = isUuid(userId) ? await lockUser(tx, userId) : null;
    if (!user) throw new ChanceryError("not_found", `no user with id ${userId}`);
    return user;
  }

  function checkMayHoldToken(user: UserRow): void {
    // failed_precondition, not permission_denied: it is the account's state
    // that forbids a token, whoever asks; an admin can change that state.
    if (user.disabled)
      throw new ChanceryError("failed_precondition", `user "${user.username}" is disabled and cannot have a token`);
    if (!user.api_access)
      throw new ChanceryError(
        "failed_precondition",
        `user "${user.username}" does not have API access; an admin must turn it on first`,
      );
  }

  async function issue(
    tx: CommonQueryMethods,
    user: UserRow,
    by: Actor,
    action: "token.create" | "token.regenerate",
    replaced: TokenRow | null,
    extraDetails: Record<string, string> = {},
  ): Promise<NewToken> {
    const generated = generateTokenSecret();
    const row = await upsertToken(tx, {
      userId: user.id,
      prefix: generated.prefix,
      tokenHash: generated.hash,
      createdAt: clock.now(),
    });
    // The prefix only: the secret and its hash never go into the audit chain.
    await audit.appendInTransaction(tx, [
      {
        ...by,
        action,
        target: `user:${user.id}`,
        details: {
          username: user.username,
          prefix: generated.prefix,
          ...(replaced ? { replacedPrefix: replaced.prefix } : {}),
          ...extraDetails,
        },
      },
    ]);
    return { token: toInfo(row), secret: generated.secret };
  }

  async function createInTransaction(tx: CommonQueryMethods, userId: string, by: Actor): Promise<NewToken> {
    const user = await lockHolder(tx, userId);
    checkMayHoldToken(user);
    if (await findTokenByUser(tx, user.id))
      throw new ChanceryError(
        "already_exists",
        `user "${user.username}" already has a personal access token; regenerate it to get a new one`,
      );
    return issue(tx, user, by, "token.create", null);
  }

  const enrollments = createTokenEnrollments({
    pool,
    audit,
    clock,
    failures: deps.failures ?? createSignInFailureLog({ audit, clock, logger: deps.logger }),
    checkMayHoldToken,
    // Redeeming replaces a token the user still has: a code is also how an
    // admin lets someone who lost their token back in.
    async issueToken(tx, user, by, details) {
      const existing = await findTokenByUser(tx, user.id);
      return issue(tx, user, by, existing ? "token.regenerate" : "token.create", existing, details);
    },
  });

  return {
    create: (userId, by) => pool.transaction((tx) => createInTransaction(tx, userId, by)),

    createInTransaction,

    regenerate: (userId, by) =>
      pool.transaction(async (tx) => {
        const user = await lockHolder(tx, userId);
        checkMayHoldToken(user);
        const existing = await findTokenByUser(tx, user.id);
        return issue(tx, user, by, existing ? "token.regenerate" : "token.create", existing);
      }),

    revoke: (userId, by) =>
      pool.transaction(async (tx) => {
        const user = await lockHolder(tx, userId);
        const removed = await deleteToken(tx, user.id);
        if (!removed) return false;
        await audit.appendInTransaction(tx, [
          {
            ...by,
            action: "token.revoke",
            target: `user:${user.id}`,
            details: { username: user.username, prefix: removed.prefix, reason: "revoked" },
          },
        ]);
        return true;
      }),

    async get(userId) {
      const user = isUuid(userId) ? await findUserById(pool, userId) : null;
      if (!user) throw new ChanceryError("not_found", `no user with id ${userId}`);
      const row = await findTokenByUser(pool, user.id);
      if (!row) throw new ChanceryError("not_found", `user "${user.username}" has no personal access token`);
      return toInfo(row);
    },

    createEnrollment: (userId, by, options) => enrollments.create(userId, by, options),
    getEnrollment: (userId) => enrollments.get(userId),
    revokeEnrollment: (userId, by) => enrollments.revoke(userId, by),
    redeemEnrollment: (code, peerIp) => enrollments.redeem(code, peerIp),
  };
}

function toInfo(row: TokenRow): TokenInfo {
  return {
    userId: row.user_id,
    prefix: row.prefix,
    createTime: new Date(row.created_at),
    lastUsedTime: row.last_used_at === null ? null : new Date(row.last_used_at),
  };
}

function isUuid(value: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value);
}
