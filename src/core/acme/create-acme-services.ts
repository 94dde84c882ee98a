import type { Logger } from "pino";
import type { DatabasePool } from "slonik";
import type { AuditLog } from "../audit/audit-log.ts";
import type { CaService } from "../ca/ca-service.ts";
import type { Clock } from "../clock.ts";
import type { IssuanceService } from "../issuance/issuance-service.ts";
import { createPeriodicPass, type PeriodicPass } from "../periodic-pass.ts";
import type { ProfileService } from "../profiles/profile-service.ts";
import type { RequestService } from "../requests/request-service.ts";
import { type AcmeAccountService, createAcmeAccountService } from "./account-service.ts";
import { type AcmeCertificateService, createAcmeCertificateService } from "./acme-certificates.ts";
import { type AcmeAuthorizationService, createAcmeAuthorizationService } from "./authorization-service.ts";
import { type ChallengeWorker, createChallengeWorker } from "./challenge-worker.ts";
import type { AcmeEabKeyService } from "./eab-key-service.ts";
import { createNonceService, type NonceService } from "./nonce-service.ts";
import { type AcmeOrderService, createAcmeOrderService } from "./order-service.ts";
import { createRateLimiter, type RateLimiter } from "./rate-limiter.ts";
import { createCaaChecker } from "./validation/caa-checker.ts";
import type { CaaChecker, ChallengeValidator } from "./validation/challenge-validator.ts";
import { createChallengeValidator } from "./validation/create-challenge-validator.ts";
import { createDnsLookup } from "./validation/dns-lookup.ts";

export interface AcmeSettings {
  /** 32 bytes derived from the KEK (the same on every replica): authenticates nonces. */
  readonly nonceKey: Uint8Array;
  readonly nonceLifetimeMs: number;
  readonly orderLifetimeMs: number;
  readonly authorizationLifetimeMs: number;
  readonly validation: {
    readonly dnsResolvers: readonly string[];
    readonly httpPort: number;
    readonly tlsAlpnPort: number;
    readonly timeoutMs: number;
    readonly attempts: number;
  };
}

/** The ACME server's core services (RFC 8555), over the issuance core. */
export interface AcmeServices {
  readonly accounts: AcmeAccountService;
  readonly authorizations: AcmeAuthorizationService;
  readonly orders: AcmeOrderService;
  readonly certificates: AcmeCertificateService;
  readonly nonces: NonceService;
  readonly rateLimiter: RateLimiter;
  /** Not started here: gateway.ts starts and stops it. */
  readonly challengeWorker: ChallengeWorker;
  /** Deletes spent nonce records and old rate-limit windows; not started here either. */
  readonly housekeeping: PeriodicPass<void>;
}

/** The longest rate-limit window (orders per identifier set per week). */
const longestRateLimitWindowMs = 7 * 24 * 3_600_000;

/**
 * Wires the ACME services once for the gateway and the tests alike. A test
 * may pass its own validator and CAA checker (pointing at local servers);
 * the gateway builds them from the validation settings.
 */
export function createAcmeServices(deps: {
  pool: DatabasePool;
  audit: AuditLog;
  clock: Clock;
  logger: Logger;
  cas: CaService;
  profiles: ProfileService;
  issuance: IssuanceService;
  requests: RequestService;
  eabKeys: AcmeEabKeyService;
  settings: AcmeSettings;
  validator?: ChallengeValidator | undefined;
  caa?: CaaChecker | undefined;
}): AcmeServices {
  const { pool, audit, clock, logger, settings } = deps;
  const dns = createDnsLookup({ servers: settings.validation.dnsResolvers, timeoutMs: settings.validation.timeoutMs });
  const validator =
    deps.validator ??
    createChallengeValidator({
      dns,
      httpPort: settings.validation.httpPort,
      tlsAlpnPort: settings.validation.tlsAlpnPort,
      timeoutMs: settings.validation.timeoutMs,
      logger,
    });
  const rateLimiter = createRateLimiter({ pool, clock });
  const nonces = createNonceService({ pool, clock, key: settings.nonceKey, lifetimeMs: settings.nonceLifetimeMs });
  const accounts = createAcmeAccountService({ pool, audit, clock, rateLimiter, eabKeys: deps.eabKeys });
  const authorizations = createAcmeAuthorizationService({
    pool,
    audit,
    clock,
    settings: { pendingLifetimeMs: settings.orderLifetimeMs, validLifetimeMs: settings.authorizationLifetimeMs },
  });
  const orders = createAcmeOrderService({
    pool,
    audit,
    clock,
    logger,
    profiles: deps.profiles,
    issuance: deps.issuance,
    approvals: deps.requests,
    authorizations,
    rateLimiter,
    caa: deps.caa ?? createCaaChecker({ dns }),
    orderLifetimeMs: settings.orderLifetimeMs,
  });
  const certificates = createAcmeCertificateService({
    pool,
    clock,
    profiles: deps.profiles,
    issuance: deps.issuance,
  });
  const challengeWorker = createChallengeWorker({
    pool,
    audit,
    clock,
    logger,
    validator,
    settings: {
      attempts: settings.validation.attempts,
      attemptTimeoutMs: settings.validation.timeoutMs,
      validAuthorizationLifetimeMs: settings.authorizationLifetimeMs,
    },
  });
  const housekeeping = createPeriodicPass(
    async () => {
      try {
        const nonceRecords = await nonces.purgeExpired();
        const counters = await rateLimiter.purgeExpired(new Date(clock.now().getTime() - longestRateLimitWindowMs));
        if (nonceRecords + counters > 0) logger.debug({ nonceRecords, counters }, "ACME housekeeping");
      } catch (err) {
        logger.warn({ err }, "ACME housekeeping failed; retried next pass");
      }
    },
    { intervalMs: 10 * 60_000 },
  );
  return { accounts, authorizations, orders, certificates, nonces, rateLimiter, challengeWorker, housekeeping };
}
