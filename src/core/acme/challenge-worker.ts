import type { Logger } from "pino";
import type { DatabasePool } from "slonik";
import { findAcmeAccount } from "../../store/acme-account-store.ts";
import {
  findAcmeAuthorization,
  findAcmeChallenge,
  leaseDueAcmeChallenges,
  lockAcmeAuthorization,
  lockAcmeChallenge,
  updateAcmeAuthorizationStatus,
  updateAcmeChallenge,
} from "../../store/acme-authorization-store.ts";
import type { AuditLog } from "../audit/audit-log.ts";
import type { Clock } from "../clock.ts";
import { createPeriodicPass } from "../periodic-pass.ts";
import { accountActor } from "./acme-account.ts";
import { authorizationStatusAt } from "./acme-authorization.ts";
import { invalidateOrdersOfAuthorization } from "./authorization-service.ts";
import type { ChallengeValidator, ValidationResult } from "./validation/challenge-validator.ts";

export interface ChallengeWorkerSettings {
  /** Attempts before a transient failure is final. */
  readonly attempts: number;
  /** One attempt's bound; the lease on a claimed challenge is a few of these. */
  readonly attemptTimeoutMs: number;
  /** How long a valid authorization lasts. */
  readonly validAuthorizationLifetimeMs: number;
  /** Between passes over due challenges (retries, and challenges a stopped replica left). Default 1 s. */
  readonly intervalMs?: number | undefined;
}

export interface ChallengeWorker {
  /** Validates the challenge now, in the background, if no other worker holds it. */
  validateSoon(challengeId: string): void;
  /** One pass over due challenges; resolves once they are validated. */
  runDue(): Promise<number>;
  start(): void;
  /** Stops the timer and waits for running validations. */
  stop(): Promise<void>;
}

const batchSize = 20;

/**
 * Runs challenge validations (RFC 8555 §7.5.1, §8) outside the request that
 * asked for them. State lives in Postgres so any replica can finish what
 * another started: a processing challenge carries next_attempt_at, claimed
 * with FOR UPDATE SKIP LOCKED and leased for one attempt; a transient
 * failure (timeout, refused, SERVFAIL) is retried with a growing delay up
 * to `attempts` times, then the challenge and its authorization become
 * invalid (RFC 8555 §7.1.6).
 */
export function createChallengeWorker(deps: {
  pool: DatabasePool;
  audit: AuditLog;
  clock: Clock;
  logger: Logger;
  validator: ChallengeValidator;
  settings: ChallengeWorkerSettings;
}): ChallengeWorker {
  const { pool, audit, clock, logger, validator, settings } = deps;
  const running = new Set<Promise<void>>();
  const leaseMs = settings.attemptTimeoutMs * 3 + 5_000;

  function track(work: Promise<void>): Promise<void> {
    running.add(work);
    void work.finally(() => running.delete(work));
    return work;
  }

  async function attempt(challengeId: string): Promise<void> {
    const challenge = await findAcmeChallenge(pool, challengeId);
    const authorization = challenge ? await findAcmeAuthorization(pool, challenge.authorization_id) : null;
    const account = authorization ? await findAcmeAccount(pool, authorization.account_id) : null;
    if (!challenge || !authorization || !account) return;
    let result: ValidationResult;
    try {
      result = await validator.validate({
        type: challenge.type,
        identifier: { type: authorization.identifier_type, value: authorization.identifier_value },
        token: challenge.token,
        // RFC 8555 §8.1: token "." base64url(JWK thumbprint of the account key).
        keyAuthorization: `${challenge.token}.${account.jwk_thumbprint}`,
      });
    } catch (err) {
      logger.error({ err, challengeId }, "challenge validator threw; retrying later");
      result = {
        valid: false,
        retryable: true,
        record: {},
        problem: {
          type: "urn:ietf:params:acme:error:serverInternal",
          detail: "validation failed unexpectedly",
          status: 500,
        },
      };
    }
    await record(challengeId, result);
  }

  async function record(challengeId: string, result: ValidationResult): Promise<void> {
    const now = clock.now();
    await pool.transaction(async (tx) => {
      const challenge = await lockAcmeChallenge(tx, challengeId);
      if (challenge?.status !== "processing") return;
      const authorization = await lockAcmeAuthorization(tx, challenge.authorization_id);
      if (!authorization) return;
      const identifier = `${authorization.identifier_type}:${authorization.identifier_value}`;
      const actor = accountActor(authorization.account_id);
      const authorizationPending = authorizationStatusAt(authorization, now) === "pending";
      if (result.valid) {
        await updateAcmeChallenge(
          tx,
          challengeId,
          { status: "valid", validatedAt: now, validationRecord: result.record, error: null, nextAttemptAt: null },
          now,
        );
        if (authorizationPending)
          await updateAcmeAuthorizationStatus(
            tx,
            authorization.id,
            "valid",
            now,
            new Date(now.getTime() + settings.validAuthorizationLifetimeMs),
          );
        await audit.appendInTransaction(tx, [
          {
            actor,
            action: "acme.challenge.valid",
            target: `acme-challenge:${challengeId}`,
            details: { type: challenge.type, identifier, authorization: authorization.id, record: json(result.record) },
          },
        ]);
        return;
      }
      if (result.retryable && challenge.attempts < settings.attempts && authorizationPending) {
        // Try again later, on whichever replica's worker gets there first.
        const delayMs = Math.min(30_000, 1_000 * 2 ** challenge.attempts);
        await updateAcmeChallenge(
          tx,
          challengeId,
          { status: "processing", nextAttemptAt: new Date(now.getTime() + delayMs), validationRecord: result.record },
          now,
        );
        return;
      }
      await updateAcmeChallenge(
        tx,
        challengeId,
        {
          status: "invalid",
          error: result.problem as unknown as Record<string, unknown>,
          validationRecord: result.record,
          nextAttemptAt: null,
        },
        now,
      );
      if (authorizationPending) {
        await updateAcmeAuthorizationStatus(tx, authorization.id, "invalid", now);
        // Its orders fail with it now, not only when next read (see invalidateOrdersOfAuthorization).
        await invalidateOrdersOfAuthorization(tx, audit, {
          authorizationId: authorization.id,
          identifier: { type: authorization.identifier_type, value: authorization.identifier_value },
          reason: `is invalid: ${result.problem.detail}`,
          actor,
          now,
        });
      }
      await audit.appendInTransaction(tx, [
        {
          actor,
          action: "acme.challenge.invalid",
          target: `acme-challenge:${challengeId}`,
          details: {
            type: challenge.type,
            identifier,
            authorization: authorization.id,
            problem: result.problem.type,
            detail: result.problem.detail,
            attempts: challenge.attempts,
          },
        },
      ]);
    });
  }

  async function claimOne(challengeId: string): Promise<boolean> {
    const now = clock.now();
    const leased = await leaseDueAcmeChallenges(pool, now, 1, new Date(now.getTime() + leaseMs), challengeId);
    return leased.length > 0;
  }

  async function runDue(): Promise<number> {
    const now = clock.now();
    const ids = await leaseDueAcmeChallenges(pool, now, batchSize, new Date(now.getTime() + leaseMs));
    await Promise.all(
      ids.map((id) => track(attempt(id).catch((err) => logger.error({ err, id }, "challenge attempt failed")))),
    );
    return ids.length;
  }

  const pass = createPeriodicPass(
    () =>
      runDue().catch((err) => {
        logger.error({ err }, "challenge worker pass failed");
        return 0;
      }),
    { intervalMs: settings.intervalMs ?? 1_000 },
  );

  return {
    validateSoon(challengeId) {
      void track(
        claimOne(challengeId)
          .then((claimed) => (claimed ? attempt(challengeId) : undefined))
          .catch((err) => logger.error({ err, challengeId }, "challenge validation failed; the worker retries it")),
      );
    },
    runDue: () => pass.runOnce(),
    start: () => pass.start(),
    async stop() {
      await pass.stop();
      await Promise.allSettled([...running]);
    },
  };
}

/** A validation record as an audit detail (plain JSON). */
function json(value: Record<string, unknown>): Record<string, never> {
  return JSON.parse(JSON.stringify(value)) as Record<string, never>;
}
