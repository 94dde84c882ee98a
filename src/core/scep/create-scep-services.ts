import type { Logger } from "pino";
import type { DatabasePool } from "slonik";
import type { Metrics } from "../../ops/metrics.ts";
import type { AuditLog } from "../audit/audit-log.ts";
import type { CaService } from "../ca/ca-service.ts";
import type { KeyEncryption } from "../ca/key-encryption.ts";
import type { Clock } from "../clock.ts";
import type { CrlService } from "../crl/crl-service.ts";
import type { EnrollmentSecretService } from "../enrollment-secrets/enrollment-secret-types.ts";
import { ChanceryError } from "../errors.ts";
import type { IssuanceService } from "../issuance/issuance-service.ts";
import type { PeriodicPass } from "../periodic-pass.ts";
import type { ProfileService } from "../profiles/profile-service.ts";
import type { RequestService } from "../requests/request-service.ts";
import { createScepEndpointService } from "./endpoint-service.ts";
import { createScepRaService } from "./ra-service.ts";
import { createScepHousekeeping } from "./scep-housekeeping.ts";
import { createScepService, type ScepService } from "./scep-service.ts";
import type { ExternalChallengeValidator, ScepEndpoint, ScepEndpointService, ScepRaService } from "./scep-types.ts";
import { createExternalValidator } from "./validation/create-external-validator.ts";
export interface ScepServices {
  readonly endpoints: ScepEndpointService;
  readonly ra: ScepRaService;
  readonly scep: ScepService;
  /** Empties old settled transactions' CSRs; started by the gateway, stopped before the pool closes. */
  readonly housekeeping: PeriodicPass<number>;
}

/** Builds the SCEP server's core parts (RFC 8894) from the core's services. */
export function createScepServices(deps: {
  pool: DatabasePool;
  audit: AuditLog;
  clock: Clock;
  logger: Logger;
  keyEncryption: KeyEncryption;
  cas: CaService;
  profiles: ProfileService;
  issuance: IssuanceService;
  requests: RequestService;
  crls: CrlService;
  /** One-time enrollment secrets: a dynamic endpoint's challenge passwords (scope "scep_endpoint"). */
  secrets: EnrollmentSecretService;
  settings: { raLifetimeSeconds: number; transactionRetentionSeconds: number };
  metrics?: Pick<Metrics, "scepMessages"> | undefined;
}): ScepServices {
  const { pool, audit, clock, logger, keyEncryption } = deps;
  const endpoints = createScepEndpointService({ pool, audit, clock, keyEncryption, logger });
  const ra = createScepRaService({
    pool,
    cas: deps.cas,
    audit,
    keyEncryption,
    clock,
    logger,
    options: { lifetimeSeconds: deps.settings.raLifetimeSeconds },
  });

  // One validator per endpoint version: its token and discovery caches live as long as its settings.
  const validators = new Map<string, { version: number; validator: ExternalChallengeValidator }>();
  async function validatorFor(endpoint: ScepEndpoint): Promise<ExternalChallengeValidator> {
    const version = endpoint.updatedAt.getTime();
    const cached = validators.get(endpoint.id);
    if (cached?.version === version) return cached.validator;
    const secret = await endpoints.validationSecret(endpoint);
    if (secret === null)
      throw new ChanceryError("failed_precondition", `SCEP endpoint ${endpoint.name} has no validation secret`);
    const validator = createExternalValidator(endpoint, secret, {
      clock,
      logger: logger.child({ scep: endpoint.name }),
    });
    validators.set(endpoint.id, { version, validator });
    return validator;
  }

  const scep = createScepService({
    pool,
    audit,
    clock,
    logger,
    cas: deps.cas,
    profiles: deps.profiles,
    issuance: deps.issuance,
    requests: deps.requests,
    crls: deps.crls,
    endpoints,
    ra,
    secrets: deps.secrets,
    validatorFor,
    metrics: deps.metrics,
  });
  const housekeeping = createScepHousekeeping({
    pool,
    clock,
    logger,
    retentionSeconds: deps.settings.transactionRetentionSeconds,
  });
  return { endpoints, ra, scep, housekeeping };
}
