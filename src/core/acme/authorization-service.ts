import { randomBytes, randomUUID } from "node:crypto";
import type { CommonQueryMethods, DatabasePool } from "slonik";
import {
  findAcmeAuthorization,
  findAcmeAuthorizations,
  findAcmeChallenge,
  findAcmeChallengesOf,
  findReusableAcmeAuthorization,
  insertAcmeAuthorization,
  lockAcmeAuthorization,
  lockAcmeChallenge,
  updateAcmeAuthorizationStatus,
  updateAcmeChallenge,
} from "../../store/acme-authorization-store.ts";
import { acmeOrdersOfAuthorization, lockAcmeOrder } from "../../store/acme-order-store.ts";
import type { AuditLog } from "../audit/audit-log.ts";
import type { Clock } from "../clock.ts";
import { type AcmeAccount, accountActor } from "./acme-account.ts";
import {
  type AcmeAuthorization,
  type AcmeChallenge,
  authorizationStatusAt,
  challengeTypesFor,
  toAcmeAuthorization,
  toAcmeChallenge,
} from "./acme-authorization.ts";
import { authorizationIdentifier, parseIdentifier, trustedPatternCovers } from "./acme-identifiers.ts";
import { AcmeProblem, problemDocument } from "./acme-problem.ts";
import type { AcmeDirectory, AcmeIdentifier } from "./acme-types.ts";
import { recordAcmeOrderOutcome } from "./order-outcome.ts";

export interface AcmeAuthorizationSettings {
  /** Lifetime of a pending authorization (and of an order). */
  readonly pendingLifetimeMs: number;
  /** Lifetime of a valid authorization, reused for the account's later orders. */
  readonly validLifetimeMs: number;
}

export interface AcmeAuthorizationService {
  /**
   * The authorization an order needs for one identifier (order form, "*."
   * for wildcards): the account's valid one when it outlives the order, a
   * valid trusted one in internal-PKI mode, or a new pending one with the
   * challenges that can prove it. Runs in the order's transaction.
   */
  authorizationFor(
    tx: CommonQueryMethods,
    input: { account: AcmeAccount; directory: AcmeDirectory; identifier: AcmeIdentifier; orderExpiresAt: Date },
  ): Promise<{ id: string; status: "pending" | "valid"; expiresAt: Date }>;
  /** RFC 8555 §7.4.1 pre-authorization: newAuthz. */
  newAuthorization(
    account: AcmeAccount,
    directory: AcmeDirectory,
    payload: Record<string, unknown>,
    sourceIp: string | undefined,
  ): Promise<AcmeAuthorization>;
  /** The account's authorization (null when absent or another account's). */
  get(account: AcmeAccount, id: string): Promise<AcmeAuthorization | null>;
  /** Several authorizations, for an order's status. */
  getMany(ids: readonly string[]): Promise<AcmeAuthorization[]>;
  /** RFC 8555 §7.5.2: pending or valid → deactivated. */
  deactivate(account: AcmeAccount, id: string, sourceIp: string | undefined): Promise<AcmeAuthorization>;
  /** The account's challenge (null when absent or another account's). */
  getChallenge(account: AcmeAccount, id: string): Promise<AcmeChallenge | null>;
  /**
   * RFC 8555 §7.5.1: the client says it is ready; the challenge goes to
   * processing and is validated in the background (challenge-worker.ts).
   * Answering again for a challenge already processing or done changes nothing.
   */
  respond(
    account: AcmeAccount,
    id: string,
    sourceIp: string | undefined,
  ): Promise<{ challenge: AcmeChallenge; started: boolean }>;
}

/**
 * RFC 8555 §7.1.6: an order whose authorization becomes invalid or
 * deactivated is invalid. Marks the pending and ready orders that include
 * it at once, in the caller's transaction (the authorization row locked),
 * rather than when someone next reads each order: a client that gives up
 * on a failed order never reads it again, and its row would stay "live"
 * for good, e.g. holding the one-replacement-per-certificate index
 * (RFC 9773 §5) so that the certificate could never be named in
 * "replaces" again (alreadyReplaced).
 */
export async function invalidateOrdersOfAuthorization(
  tx: CommonQueryMethods,
  audit: AuditLog,
  input: {
    authorizationId: string;
    identifier: AcmeIdentifier;
    /** Why, e.g. "is invalid: <challenge error>" or "was deactivated". */
    reason: string;
    actor: string;
    now: Date;
  },
): Promise<void> {
  const detail = `authorization for ${input.identifier.value} ${input.reason}`;
  const error = problemDocument("unauthorized", detail, {
    subproblems: [problemDocument("unauthorized", detail, { identifier: input.identifier })],
  });
  for (const orderId of await acmeOrdersOfAuthorization(tx, input.authorizationId)) {
    const order = await lockAcmeOrder(tx, orderId);
    // Processing, valid and invalid orders are past their authorizations.
    if (!order || (order.status !== "pending" && order.status !== "ready")) continue;
    await recordAcmeOrderOutcome(tx, audit, {
      orderId,
      outcome: { status: "invalid", error },
      actor: input.actor,
      now: input.now,
    });
  }
}

/** RFC 8555 §8.1: tokens carry at least 128 bits of entropy; 256 here. */
function newToken(): string {
  return randomBytes(32).toString("base64url");
}

export function createAcmeAuthorizationService(deps: {
  pool: DatabasePool;
  audit: AuditLog;
  clock: Clock;
  settings: AcmeAuthorizationSettings;
}): AcmeAuthorizationService {
  const { pool, audit, clock, settings } = deps;

  async function load(db: CommonQueryMethods, id: string): Promise<AcmeAuthorization | null> {
    const row = await findAcmeAuthorization(db, id);
    if (!row) return null;
    return toAcmeAuthorization(row, await findAcmeChallengesOf(db, [id]), clock.now());
  }

  async function create(
    tx: CommonQueryMethods,
    account: AcmeAccount,
    directory: AcmeDirectory,
    orderIdentifier: AcmeIdentifier,
    now: Date,
  ): Promise<{ id: string; status: "pending" | "valid"; expiresAt: Date }> {
    const { identifier, wildcard } = authorizationIdentifier(orderIdentifier);
    const id = randomUUID();
    // Internal-PKI mode: an EAB-bound account is trusted for the directory's patterns, no challenge needed.
    const trusted =
      directory.authorizationMode === "eab_trusted" &&
      account.externalAccountKeyId !== null &&
      directory.trustedIdentifiers.some((pattern) => trustedPatternCovers(pattern, orderIdentifier));
    if (trusted) {
      const expiresAt = new Date(now.getTime() + settings.validLifetimeMs);
      await insertAcmeAuthorization(tx, {
        id,
        accountId: account.id,
        identifier,
        wildcard,
        status: "valid",
        trusted: true,
        expiresAt,
        challenges: [],
        now,
      });
      return { id, status: "valid", expiresAt };
    }
    const types = challengeTypesFor(directory.challengeTypes, identifier, wildcard);
    if (types.length === 0)
      throw new AcmeProblem(
        "rejectedIdentifier",
        `no challenge this directory offers (${directory.challengeTypes.join(", ") || "none"}) can prove ${orderIdentifier.type} identifier ${orderIdentifier.value}` +
          (wildcard
            ? " (a wildcard needs dns-01)"
            : identifier.type === "ip"
              ? " (an IP address cannot use dns-01)"
              : ""),
        { identifier: orderIdentifier },
      );
    const expiresAt = new Date(now.getTime() + settings.pendingLifetimeMs);
    await insertAcmeAuthorization(tx, {
      id,
      accountId: account.id,
      identifier,
      wildcard,
      status: "pending",
      trusted: false,
      expiresAt,
      challenges: types.map((type) => ({ id: randomUUID(), type, token: newToken() })),
      now,
    });
    return { id, status: "pending", expiresAt };
  }

  return {
    async authorizationFor(tx, { account, directory, identifier, orderExpiresAt }) {
      const now = clock.now();
      const { identifier: authzIdentifier, wildcard } = authorizationIdentifier(identifier);
      const reusable = await findReusableAcmeAuthorization(tx, account.id, authzIdentifier, wildcard, orderExpiresAt);
      if (reusable) return { id: reusable.id, status: "valid", expiresAt: new Date(reusable.expires_at) };
      return create(tx, account, directory, identifier, now);
    },

    async newAuthorization(account, directory, payload, sourceIp) {
      const parsed = parseIdentifier(payload["identifier"], { allowWildcard: false });
      if ("problem" in parsed)
        throw new AcmeProblem(
          parsed.problem.type.endsWith("unsupportedIdentifier") ? "unsupportedIdentifier" : "rejectedIdentifier",
          // RFC 8555 §7.4.1: pre-authorization is never for a wildcard.
          parsed.problem.detail.replace(
            "which the profile does not allow",
            "which newAuthz does not accept (RFC 8555 §7.4.1)",
          ),
          parsed.problem.identifier ? { identifier: parsed.problem.identifier } : undefined,
        );
      const now = clock.now();
      const id = await pool.transaction(async (tx) => {
        const created = await create(tx, account, directory, parsed.identifier, now);
        await audit.appendInTransaction(tx, [
          {
            actor: accountActor(account.id),
            action: "acme.authorization.create",
            target: `acme-authorization:${created.id}`,
            sourceIp,
            details: { identifier: `${parsed.identifier.type}:${parsed.identifier.value}`, status: created.status },
          },
        ]);
        return created.id;
      });
      return (await load(pool, id))!;
    },

    async get(account, id) {
      const authorization = await load(pool, id);
      return authorization && authorization.accountId === account.id ? authorization : null;
    },

    async getMany(ids) {
      if (ids.length === 0) return [];
      const now = clock.now();
      const [rows, challenges] = await Promise.all([
        findAcmeAuthorizations(pool, ids),
        findAcmeChallengesOf(pool, ids),
      ]);
      // In the order asked for (an order lists its authorizations in a stable order).
      const byId = new Map(rows.map((row) => [row.id, row]));
      return ids.flatMap((id) => {
        const row = byId.get(id);
        return row ? [toAcmeAuthorization(row, challenges, now)] : [];
      });
    },

    async deactivate(account, id, sourceIp) {
      const now = clock.now();
      await pool.transaction(async (tx) => {
        const row = await lockAcmeAuthorization(tx, id);
        if (!row || row.account_id !== account.id)
          throw new AcmeProblem("malformed", "no such authorization", { status: 404 });
        const status = authorizationStatusAt(row, now);
        if (status !== "pending" && status !== "valid")
          throw new AcmeProblem(
            "malformed",
            `the authorization is ${status}; only pending or valid ones can be deactivated`,
          );
        await updateAcmeAuthorizationStatus(tx, id, "deactivated", now);
        await invalidateOrdersOfAuthorization(tx, audit, {
          authorizationId: id,
          identifier: { type: row.identifier_type, value: row.identifier_value },
          reason: "was deactivated",
          actor: accountActor(account.id),
          now,
        });
        await audit.appendInTransaction(tx, [
          {
            actor: accountActor(account.id),
            action: "acme.authorization.deactivate",
            target: `acme-authorization:${id}`,
            sourceIp,
            details: { identifier: `${row.identifier_type}:${row.identifier_value}` },
          },
        ]);
      });
      return (await load(pool, id))!;
    },

    async getChallenge(account, id) {
      const challenge = await findAcmeChallenge(pool, id);
      if (!challenge) return null;
      const authorization = await findAcmeAuthorization(pool, challenge.authorization_id);
      return authorization && authorization.account_id === account.id ? toAcmeChallenge(challenge) : null;
    },

    async respond(account, id, sourceIp) {
      const now = clock.now();
      return pool.transaction(async (tx) => {
        const challenge = await lockAcmeChallenge(tx, id);
        const authorization = challenge ? await lockAcmeAuthorization(tx, challenge.authorization_id) : null;
        if (!challenge || !authorization || authorization.account_id !== account.id)
          throw new AcmeProblem("malformed", "no such challenge", { status: 404 });
        if (challenge.status !== "pending") return { challenge: toAcmeChallenge(challenge), started: false };
        const status = authorizationStatusAt(authorization, now);
        if (status !== "pending")
          throw new AcmeProblem(
            "malformed",
            `the authorization is ${status}; its challenges can no longer be answered`,
          );
        // Due now: this replica validates at once (challenge-worker.ts); any replica's worker picks it up
        // if this one stops before recording a result.
        await updateAcmeChallenge(tx, id, { status: "processing", nextAttemptAt: now, attempts: 0 }, now);
        await audit.appendInTransaction(tx, [
          {
            actor: accountActor(account.id),
            action: "acme.challenge.respond",
            target: `acme-challenge:${id}`,
            sourceIp,
            details: {
              type: challenge.type,
              identifier: `${authorization.identifier_type}:${authorization.identifier_value}`,
            },
          },
        ]);
        const updated = await findAcmeChallenge(tx, id);
        return { challenge: toAcmeChallenge(updated!), started: true };
      });
    },
  };
}
