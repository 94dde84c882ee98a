import type { Logger } from "pino";
import type { DatabasePool } from "slonik";
import type { Metrics } from "../ops/metrics.ts";
import { type AcmeDirectoryService, createAcmeDirectoryService } from "./acme/directory-service.ts";
import { type AcmeEabKeyService, createAcmeEabKeyService } from "./acme/eab-key-service.ts";
import { type AuditLog, createAuditLog } from "./audit/audit-log.ts";
import { type CaService, createCaService } from "./ca/ca-service.ts";
import type { KeyEncryption } from "./ca/key-encryption.ts";
import type { Clock } from "./clock.ts";
import { type CrlService, type CrlServiceOptions, createCrlService } from "./crl/crl-service.ts";
import { type Authenticator, createAuthenticator } from "./identity/authenticator.ts";
import { createSignInFailureLog } from "./identity/sign-in-failures.ts";
import { createTokenService, type TokenService } from "./identity/token-service.ts";
import { createTotpService, type TotpService } from "./identity/totp-service.ts";
import { createUserService, type UserService } from "./identity/user-service.ts";
import { createIssuanceCommitter, type IssuanceCommitter } from "./issuance/issuance-committer.ts";
import { createIssuanceService, type IssuanceService } from "./issuance/issuance-service.ts";
import { createOcspPresigner, type OcspPresigner } from "./ocsp/ocsp-presigner.ts";
import { createOcspService, type OcspService, type OcspServiceOptions } from "./ocsp/ocsp-service.ts";
import {
  createOcspResponderService,
  type OcspResponderOptions,
  type OcspResponderService,
} from "./ocsp/responder-service.ts";
import { buildCaUrls } from "./profiles/ca-urls.ts";
import { createProfileService, type ProfileService } from "./profiles/profile-service.ts";
import { createRegistryService, type RegistryService } from "./registry/registry-service.ts";
import { createRequestService, type RequestService } from "./requests/request-service.ts";
import type { SignatureVerifier } from "./x509/signature-verifier.ts";

export interface Core {
  readonly audit: AuditLog;
  readonly users: UserService;
  readonly tokens: TokenService;
  readonly authenticator: Authenticator;
  readonly totp: TotpService;
  readonly cas: CaService;
  readonly profiles: ProfileService;
  readonly committer: IssuanceCommitter;
  readonly issuance: IssuanceService;
  readonly requests: RequestService;
  readonly registry: RegistryService;
  readonly crls: CrlService;
  readonly ocspResponders: OcspResponderService;
  readonly ocsp: OcspService;
  /** Signs OCSP responses ahead of requests; not started here (gateway.ts starts and stops it). */
  readonly ocspPresigner: OcspPresigner;
  /** ACME directories (the ACME server's configuration, managed through the admin API). */
  readonly acmeDirectories: AcmeDirectoryService;
  /** ACME external account binding keys, sealed under the KEK. */
  readonly acmeEabKeys: AcmeEabKeyService;
}

/**
 * The issuance core wired together, once, for the gateway, the tests and
 * the benchmarks alike, so all three exercise the same composition.
 */
export function createCore(deps: {
  pool: DatabasePool;
  keyEncryption: KeyEncryption;
  clock: Clock;
  logger: Logger;
  /** Base of the CRL/OCSP/caIssuers URLs in issued certificates (config publicBaseUrl). */
  publicBaseUrl: string;
  verifier?: SignatureVerifier | undefined;
  metrics?: Metrics | undefined;
  onCommitBatch?: ((size: number, seconds: number) => void) | undefined;
  /** After a revocation commits, with the issuing CA's id and the serial (gateway.ts: request a new CRL). */
  onRevoked?: ((caId: string, serialHex: string) => void) | undefined;
  crl?: CrlServiceOptions | undefined;
  ocsp?:
    | (OcspServiceOptions & {
        responder?: OcspResponderOptions | undefined;
        /** Between pre-signing passes (default 60 s). */
        presignIntervalMs?: number | undefined;
        /** Certificates per pre-signing batch (default 2000). */
        presignBatchSize?: number | undefined;
      })
    | undefined;
}): Core {
  const { pool, clock, logger, metrics } = deps;
  const urlsFor = (caId: string) => buildCaUrls(deps.publicBaseUrl, caId);
  const audit = createAuditLog({ pool, clock });
  const cas = createCaService({ pool, audit, keyEncryption: deps.keyEncryption, clock, logger, urlsFor });
  const registry = createRegistryService({ pool, audit });
  const profiles = createProfileService({ pool, audit, registry });
  const committer = createIssuanceCommitter({
    pool,
    audit,
    logger,
    onBatch: (size, seconds, path) => {
      metrics?.commitBatchSize.observe({ path }, size);
      deps.onCommitBatch?.(size, seconds);
    },
  });
  const issuance = createIssuanceService({
    pool,
    cas,
    profiles,
    registry,
    audit,
    committer,
    clock,
    logger,
    metrics,
    urlsFor,
    verifier: deps.verifier,
    onRevoked: (caId, serialHex) => {
      // The certificate's pre-signed OCSP answers are dropped here, its stored
      // responses re-signed, and every other replica told (NOTIFY), before
      // anything else hears of the revocation.
      ocsp
        .revoked(caId, serialHex)
        .catch((err) => logger.error({ err, caId, serialHex }, "OCSP revocation notification failed"));
      deps.onRevoked?.(caId, serialHex);
    },
  });
  const crls = createCrlService({ pool, cas, audit, clock, logger, urlsFor, metrics, options: deps.crl });
  const ocspResponders = createOcspResponderService({
    pool,
    cas,
    audit,
    keyEncryption: deps.keyEncryption,
    clock,
    logger,
    options: deps.ocsp?.responder,
  });
  const ocsp = createOcspService({
    pool,
    cas,
    responders: ocspResponders,
    clock,
    logger,
    metrics,
    options: deps.ocsp,
  });
  const ocspPresigner = createOcspPresigner({
    pool,
    ocsp,
    cas,
    clock,
    logger,
    intervalMs: deps.ocsp?.presignIntervalMs,
    batchSize: deps.ocsp?.presignBatchSize,
  });
  const users = createUserService({ pool, audit, clock });
  // Bad tokens and bad enrollment codes are audited through one bounded log; authenticator.close() closes it.
  const failures = createSignInFailureLog({ audit, clock, logger });
  const tokens = createTokenService({ pool, audit, clock, logger, failures });
  const authenticator = createAuthenticator({ pool, clock, audit, logger, failures });
  const totp = createTotpService({ pool, audit, keyEncryption: deps.keyEncryption, clock });
  const requests = createRequestService({
    pool,
    audit,
    clock,
    logger,
    keyEncryption: deps.keyEncryption,
    cas,
    profiles,
    registry,
    issuance,
  });
  const acmeDirectories = createAcmeDirectoryService({ pool, audit, clock });
  const acmeEabKeys = createAcmeEabKeyService({ pool, audit, keyEncryption: deps.keyEncryption, clock });
  return {
    audit,
    users,
    tokens,
    authenticator,
    totp,
    cas,
    profiles,
    committer,
    issuance,
    requests,
    registry,
    crls,
    ocspResponders,
    ocsp,
    ocspPresigner,
    acmeDirectories,
    acmeEabKeys,
  };
}
