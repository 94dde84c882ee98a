import type { Logger } from "pino";
import type { DatabasePool } from "slonik";
import type { AuditLog } from "../audit/audit-log.ts";
import type { CaService } from "../ca/ca-service.ts";
import type { KeyEncryption } from "../ca/key-encryption.ts";
import type { Clock } from "../clock.ts";
import type { EnrollmentSecretService } from "../enrollment-secrets/enrollment-secret-types.ts";
import type { Authenticator } from "../identity/authenticator.ts";
import type { IssuanceService } from "../issuance/issuance-service.ts";
import type { ProfileService } from "../profiles/profile-service.ts";
import type { RequestService } from "../requests/request-service.ts";
import { createEstAuditBatcher, type EstAuditBatcher } from "./est-audit-batcher.ts";
import { createEstAuthentication } from "./est-authentication.ts";
import { createEstService, type EstService } from "./est-service.ts";
import type { EstLabelService } from "./est-types.ts";
import { createEstLabelService } from "./label-service.ts";
import type { KeyPackageSigner } from "./server-key-package.ts";

export interface EstServices {
  readonly labels: EstLabelService;
  readonly est: EstService;
  /** EST's group-committed audit events; flushed at shutdown. */
  readonly batcher: EstAuditBatcher;
}

/** Builds the EST server's core parts (RFC 7030) from the core's services. */
export function createEstServices(deps: {
  pool: DatabasePool;
  audit: AuditLog;
  clock: Clock;
  logger: Logger;
  keyEncryption: KeyEncryption;
  cas: CaService;
  profiles: ProfileService;
  issuance: IssuanceService;
  requests: RequestService;
  authenticator: Authenticator;
  /** One-time enrollment secrets: a label's one-time HTTP Basic passwords (scope "est_label"). */
  secrets: EnrollmentSecretService;
  /** The listener's TLS certificate and key, which sign encrypted server-generated keys; null without TLS. */
  keyPackageSigner: () => KeyPackageSigner | null;
  settings: { retryAfterSeconds: number };
}): EstServices {
  const { pool, audit, clock, logger, secrets } = deps;
  const labels = createEstLabelService({ pool, audit, clock });
  const batcher = createEstAuditBatcher({ audit, logger });
  const authentication = createEstAuthentication({
    cas: deps.cas,
    issuance: deps.issuance,
    authenticator: deps.authenticator,
    secrets,
    clock,
  });
  const est = createEstService({
    pool,
    audit,
    clock,
    logger,
    keyEncryption: deps.keyEncryption,
    cas: deps.cas,
    profiles: deps.profiles,
    issuance: deps.issuance,
    requests: deps.requests,
    labels,
    secrets,
    authentication,
    batcher,
    keyPackageSigner: deps.keyPackageSigner,
    settings: deps.settings,
  });
  return { labels, est, batcher };
}
