import { hkdfSync } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Logger } from "pino";
import type { DatabasePool } from "slonik";
import { sql } from "slonik";
import { createAcmeApp } from "../protocols/acme/routes.ts";
import { createEstApp } from "../protocols/est/routes.ts";
import { createRevocationListener } from "../protocols/ocsp/routes.ts";
import { createScepApp } from "../protocols/scep/routes.ts";
import { startAdminListener } from "./admin/admin-listener.ts";
import { createAdminRoutes } from "./admin/admin-routes.ts";
import { createAuthenticationInterceptor } from "./admin/authentication.ts";
import { createErrorInterceptor } from "./admin/errors.ts";
import type { Config } from "./config/config-schema.ts";
import { loadKeyEncryptionKey } from "./config/load-key-encryption-key.ts";
import { type AcmeServices, createAcmeServices } from "./core/acme/create-acme-services.ts";
import type { AcmeDirectoryService } from "./core/acme/directory-service.ts";
import type { AcmeEabKeyService } from "./core/acme/eab-key-service.ts";
import type { AuditLog } from "./core/audit/audit-log.ts";
import { bootstrapPki } from "./core/bootstrap.ts";
import type { CaService } from "./core/ca/ca-service.ts";
import { createKeyEncryption } from "./core/ca/key-encryption.ts";
import { type Clock, systemClock } from "./core/clock.ts";
import { createCore } from "./core/create-core.ts";
import { type CrlScheduler, createCrlScheduler } from "./core/crl/crl-scheduler.ts";
import type { CrlService } from "./core/crl/crl-service.ts";
import { createEnrollmentSecretService } from "./core/enrollment-secrets/enrollment-secret-service.ts";
import type { EnrollmentSecretService } from "./core/enrollment-secrets/enrollment-secret-types.ts";
import { isChanceryError } from "./core/errors.ts";
import { createEstServices, type EstServices } from "./core/est/create-est-services.ts";
import { estSecretScope } from "./core/est/est-secret-scope.ts";
import { createListenerKeySigner } from "./core/est/listener-key-signer.ts";
import type { TokenService } from "./core/identity/token-service.ts";
import type { UserService } from "./core/identity/user-service.ts";
import type { IssuanceService } from "./core/issuance/issuance-service.ts";
import type { OcspService } from "./core/ocsp/ocsp-service.ts";
import { createResponderRotation, type ResponderRotation } from "./core/ocsp/responder-rotation.ts";
import { buildCaUrls } from "./core/profiles/ca-urls.ts";
import type { ProfileService } from "./core/profiles/profile-service.ts";
import type { RequestService } from "./core/requests/request-service.ts";
import { createScepServices, type ScepServices } from "./core/scep/create-scep-services.ts";
import { scepSecretScope } from "./core/scep/scep-secret-scope.ts";
import { pemEncode } from "./core/x509/pem.ts";
import { createWorkerSignatureVerifier } from "./core/x509/signature-verifier.ts";
import { type Listener, startListener } from "./ops/http-listener.ts";
import { createListenerTls, type ListenerTls } from "./ops/listener-tls.ts";
import { createMetrics, type Metrics } from "./ops/metrics.ts";
import { createOpsApp } from "./ops/ops-app.ts";
import { type EmbeddedDatabase, startEmbeddedPostgres } from "./store/embedded-postgres.ts";
import { migrate, readMigrations } from "./store/migrate.ts";
import { subscribeToRevocations } from "./store/ocsp-revocation-channel.ts";
import { createDatabasePool } from "./store/pool.ts";

export interface Gateway {
  readonly config: Config;
  readonly pool: DatabasePool;
  readonly audit: AuditLog;
  readonly cas: CaService;
  readonly profiles: ProfileService;
  readonly issuance: IssuanceService;
  readonly users: UserService;
  readonly tokens: TokenService;
  readonly crls: CrlService;
  readonly acmeDirectories: AcmeDirectoryService;
  readonly acmeEabKeys: AcmeEabKeyService;
  /** The approval queue, for the admin API and for tests that decide a protocol's queued request. */
  readonly requests: RequestService;
  readonly crlScheduler: CrlScheduler;
  readonly acme: AcmeServices;
  readonly scep: ScepServices;
  readonly est: EstServices;
  /** One-time enrollment secrets of SCEP endpoints and EST labels. */
  readonly enrollmentSecrets: EnrollmentSecretService;
  readonly ocsp: OcspService;
  readonly responderRotation: ResponderRotation;
  readonly metrics: Metrics;
  readonly listenerTls: ListenerTls | null;
  readonly listeners: Readonly<Record<string, Listener>>;
  /** Where the bootstrap CA chain PEM was written (null when no "issuing" CA exists). */
  readonly caChainFile: string | null;
  stop(): Promise<void>;
}

const migrationsDir = path.resolve(import.meta.dirname, "..", "migrations");

/**
 * The composition root (DESIGN rule 4): builds every part from the config,
 * handing each its logger, clock, metrics, store and signer, and starts the
 * listeners. Steps that fail half-way undo what was started.
 */
export async function startGateway(config: Config, logger: Logger, clock: Clock = systemClock): Promise<Gateway> {
  const cleanup: Array<() => Promise<void>> = [];
  const undo = async () => {
    for (const step of cleanup.reverse()) await step().catch((err) => logger.error({ err }, "shutdown step failed"));
  };
  try {
    const dataDir = path.resolve(config.dataDir);
    await mkdir(dataDir, { recursive: true, mode: 0o711 });

    let connectionUri = config.database.url;
    let embedded: EmbeddedDatabase | undefined;
    if (!connectionUri) {
      embedded = await startEmbeddedPostgres({ dataDir, logger });
      cleanup.push(() => embedded!.stop());
      connectionUri = embedded.connectionUri;
    }
    const applied = await migrate(connectionUri, await readMigrations(migrationsDir), logger);
    if (applied.length > 0) logger.info({ applied }, "database migrated");
    const pool = await createDatabasePool(connectionUri, config.database);
    cleanup.push(() => pool.end());

    const { kek } = loadKeyEncryptionKey(config, logger);
    const keyEncryption = createKeyEncryption(kek);
    // RFC 8555 §6.5 nonces are authenticated with a key every replica derives alike
    // (docs/decisions/0008-acme-nonces.md); the KEK itself is not kept.
    const acmeNonceKey = Buffer.from(hkdfSync("sha256", kek, Buffer.alloc(0), "chancery/acme-nonce/v1", 32));
    kek.fill(0);
    const metrics = createMetrics();
    const verifier = createWorkerSignatureVerifier();
    cleanup.push(() => verifier.close());
    // The scheduler needs the core's CRL service, the core's revocations need the scheduler: bound once both exist.
    let crlScheduler: CrlScheduler | undefined;
    const {
      audit,
      cas,
      profiles,
      committer,
      issuance,
      users,
      tokens,
      authenticator,
      totp,
      requests,
      registry,
      crls,
      ocsp,
      ocspResponders,
      ocspPresigner,
      acmeDirectories,
      acmeEabKeys,
    } = createCore({
      pool,
      keyEncryption,
      clock,
      logger,
      publicBaseUrl: config.publicBaseUrl,
      verifier,
      metrics,
      onRevoked: (caId) => crlScheduler?.requestRegeneration(caId),
      crl: { validityMs: config.crl.validity * 1000 },
      ocsp: {
        validitySeconds: config.ocsp.responseValidity,
        cacheEntries: config.ocsp.cacheEntries,
        maxCacheAgeSeconds: config.ocsp.maxCacheAge,
        responder: { lifetimeSeconds: config.ocsp.responderLifetime },
        presignIntervalMs: config.ocsp.presignInterval * 1000,
        presignBatchSize: config.ocsp.presignBatchSize,
      },
    });
    cleanup.push(() => committer.close());
    // Revocations on other replicas reach this one's OCSP cache through LISTEN/NOTIFY
    // (docs/decisions/0007-ocsp-responses-and-replicas.md).
    const revocations = subscribeToRevocations({
      connectionUri,
      onRevoked: ({ caId, serialHex }) => ocsp.invalidate(caId, serialHex),
      onResync: () => ocsp.invalidateAll(),
      logger,
    });
    cleanup.push(() => revocations.close());
    cleanup.push(() => authenticator.close());

    const { issuing, created } = await bootstrapPki({ pool, cas, profiles, settings: config.bootstrap });
    // Open every active CA key now: a wrong KEK stops the start here with a
    // clear message, not at the first issuance hours later.
    for (const ca of await cas.list()) if (ca.status === "active") await cas.signer(ca.id);
    let caChainFile: string | null = null;
    if (issuing) {
      caChainFile = path.join(dataDir, "ca-chain.pem");
      const chainPem = await cas.chainPem(issuing.id);
      await writeFile(caChainFile, chainPem);
      const rootDer = issuing.chainDer[issuing.chainDer.length - 1] ?? issuing.certificateDer!;
      await writeFile(path.join(dataDir, "root-ca.pem"), pemEncode("CERTIFICATE", rootDer));
      const root = issuing.parentId ? await cas.get(issuing.parentId) : issuing;
      logger.info(
        {
          caChainFile,
          rootFile: path.join(dataDir, "root-ca.pem"),
          rootFingerprintSha256: root.fingerprintSha256,
          issuingFingerprintSha256: issuing.fingerprintSha256,
        },
        created ? "bootstrapped a new root and issuing CA" : "CA chain ready",
      );
    } else {
      logger.warn('no CA named "issuing"; the bootstrap CA chain file was not written');
    }
    if (issuing) {
      // A fresh gateway serves ACME out of the box: "default" on the issuing CA, made once across replicas.
      // A CA that cannot take it (disabled, tls-server not allowed) leaves ACME for the admin to set up.
      try {
        const directory = await acmeDirectories.ensureDefaultDirectory({ caId: issuing.id });
        if (directory)
          logger.info({ directory: directory.name, caId: issuing.id }, "created the default ACME directory");
      } catch (err) {
        if (!isChanceryError(err, "invalid_argument") && !isChanceryError(err, "failed_precondition")) throw err;
        logger.warn({ err }, "default ACME directory not created; create one with the admin API (AcmeService)");
      }
    }

    // Each CA's OCSP responder now rather than at the first request (created once across replicas),
    // then rotated in the background before requests would find it due. Registered after the pool,
    // so undo() stops it, waiting for a running pass, before the pool closes.
    const responderRotation = createResponderRotation({ responders: ocspResponders, cas, clock, logger });
    await responderRotation.runOnce();
    responderRotation.start();
    cleanup.push(() => responderRotation.stop());
    // OCSP responses signed ahead of requests and stored for every replica; the first pass runs in
    // the background now (existing rows mean a restart has little to do). Stopped before the pool closes.
    void ocspPresigner.runOnce();
    ocspPresigner.start();
    cleanup.push(() => ocspPresigner.stop());

    // After bootstrap, so the first pass already sees the bootstrap CAs. Registered after the pool,
    // so undo() (which runs in reverse) stops it, waiting for a running build, before the pool closes.
    crlScheduler = createCrlScheduler({ crls, clock, logger, intervalMs: config.crl.interval * 1000 });
    crlScheduler.start();
    cleanup.push(() => crlScheduler!.stop());

    let listenerTls: ListenerTls | null = null;
    if (config.tls.certificateFile && config.tls.keyFile) {
      listenerTls = await createListenerTls({
        files: { certificateFile: config.tls.certificateFile, keyFile: config.tls.keyFile },
        clock,
        logger,
      });
    } else if (issuing) {
      listenerTls = await createListenerTls({
        selfIssued: {
          dir: path.join(dataDir, "tls"),
          names: config.tls.names,
          renewBeforeFraction: config.tls.renewBeforeFraction,
          caId: issuing.id,
          issuance,
        },
        clock,
        logger,
      });
    }
    if (listenerTls) cleanup.push(async () => listenerTls!.stop());

    // One-time enrollment secrets, spent by SCEP (a dynamic endpoint's challenge passwords) and EST (a
    // label's one-time Basic passwords); each protocol says what its scope is and when it takes secrets.
    const enrollmentSecrets = createEnrollmentSecretService({
      pool,
      audit,
      clock,
      scopes: { scep_endpoint: scepSecretScope, est_label: estSecretScope },
    });
    const scep = createScepServices({
      pool,
      audit,
      clock,
      logger,
      keyEncryption,
      cas,
      profiles,
      issuance,
      requests,
      crls,
      secrets: enrollmentSecrets,
      settings: {
        raLifetimeSeconds: config.scep.raCertificateLifetime,
        transactionRetentionSeconds: config.scep.transactionRetention,
      },
      metrics,
    });
    scep.housekeeping.start();
    cleanup.push(() => scep.housekeeping.stop());
    // EST (RFC 7030): built here for the admin API; its listener starts after SCEP's below.
    const listenerKeySigner = createListenerKeySigner();
    const est = createEstServices({
      pool,
      audit,
      clock,
      logger: logger.child({ protocol: "est" }),
      keyEncryption,
      cas,
      profiles,
      issuance,
      requests,
      authenticator,
      secrets: enrollmentSecrets,
      // Encrypted server-generated keys are signed with the listener's TLS certificate and key (RFC 7030 §4.4.2).
      keyPackageSigner: () => (listenerTls ? listenerKeySigner(listenerTls.current()) : null),
      settings: { retryAfterSeconds: config.est.retryAfter },
    });
    cleanup.push(() => est.batcher.flush());

    const checkDatabase = async () => {
      await pool.oneFirst(sql.unsafe`SELECT 1`);
    };
    const listeners: Record<string, Listener> = {};
    if (listenerTls) {
      const admin = await startAdminListener({
        address: config.listen.admin,
        tls: listenerTls,
        routes: createAdminRoutes({
          audit,
          cas,
          issuance,
          profiles,
          users,
          tokens,
          totp,
          requests,
          registry,
          acmeDirectories,
          acmeEabKeys,
          acmeBaseUrl: config.acme.baseUrl,
          scepEndpoints: scep.endpoints,
          scepRa: scep.ra,
          scepBaseUrl: config.scep.baseUrl,
          estLabels: est.labels,
          estBaseUrl: config.est.baseUrl,
          enrollmentSecrets,
          crls,
          ocsp,
          ocspResponders,
          caUrls: (caId) => buildCaUrls(config.publicBaseUrl, caId),
          checkReady: () => checkDatabase().then(() => true),
          idempotency: { pool, clock, logger },
        }),
        interceptors: [
          createErrorInterceptor(logger),
          createAuthenticationInterceptor((token, peerIp) => authenticator.authenticate(token, peerIp)),
        ],
      });
      cleanup.push(() => admin.close());
      listeners["admin"] = admin;
      logger.info({ address: admin.address }, "admin API listener ready (gRPC, gRPC-Web, Connect over TLS)");
    } else {
      logger.warn("no TLS material for the admin listener (no issuing CA and no tls files); admin API not started");
    }

    const acme = createAcmeServices({
      pool,
      audit,
      clock,
      logger,
      cas,
      profiles,
      issuance,
      requests,
      eabKeys: acmeEabKeys,
      settings: {
        nonceKey: acmeNonceKey,
        nonceLifetimeMs: config.acme.nonceLifetime * 1000,
        orderLifetimeMs: config.acme.orderLifetime * 1000,
        authorizationLifetimeMs: config.acme.authorizationLifetime * 1000,
        validation: {
          dnsResolvers: config.acme.validation.dnsResolvers,
          httpPort: config.acme.validation.httpPort,
          tlsAlpnPort: config.acme.validation.tlsAlpnPort,
          timeoutMs: config.acme.validation.timeout * 1000,
          attempts: config.acme.validation.attempts,
        },
      },
    });
    // Challenges left processing by any replica are taken up here too; stopped before the pool closes.
    acme.challengeWorker.start();
    cleanup.push(() => acme.challengeWorker.stop());
    acme.housekeeping.start();
    cleanup.push(() => acme.housekeeping.stop());
    if (listenerTls) {
      // RFC 8555 §6.1: ACME is HTTPS only.
      const acmeListener = await startListener(
        createAcmeApp({
          baseUrl: config.acme.baseUrl,
          directories: acmeDirectories,
          profiles,
          ...acme,
          eabKeys: acmeEabKeys,
          logger: logger.child({ protocol: "acme" }),
        }).callback(),
        config.listen.acme,
        listenerTls,
      );
      cleanup.push(() => acmeListener.close());
      listeners["acme"] = acmeListener;
      logger.info(
        { address: acmeListener.address, directory: `${config.acme.baseUrl}/acme/default/directory` },
        "ACME listener ready (HTTPS)",
      );
    }

    // Plain HTTP: SCEP protects its messages with CMS (RFC 8894 §4); see protocols/scep/routes.ts.
    const scepListener = await startListener(
      createScepApp({ scep: scep.scep, logger: logger.child({ protocol: "scep" }) }).callback(),
      config.listen.scep,
    );
    cleanup.push(() => scepListener.close());
    listeners["scep"] = scepListener;
    logger.info(
      { address: scepListener.address, url: `${config.scep.baseUrl}/scep/<endpoint>` },
      "SCEP listener ready (plain HTTP)",
    );

    // EST (RFC 7030 §3.3): HTTPS only. The handshake asks for a client certificate without requiring or
    // verifying one: each label has its own trust anchors and a client without a certificate may use Basic.
    if (issuing) {
      // A fresh gateway serves EST out of the box: "default" on the issuing CA, made once across replicas.
      try {
        const label = await est.labels.ensureDefaultLabel({ caId: issuing.id });
        if (label) logger.info({ label: label.name, caId: issuing.id }, "created the default EST label");
      } catch (err) {
        if (!isChanceryError(err, "invalid_argument") && !isChanceryError(err, "failed_precondition")) throw err;
        logger.warn({ err }, "default EST label not created; create one with the admin API (EstService)");
      }
    }
    if (listenerTls) {
      const estListener = await startListener(
        createEstApp({ est: est.est, logger: logger.child({ protocol: "est" }) }).callback(),
        config.listen.est,
        listenerTls,
        { requestCert: true, rejectUnauthorized: false },
      );
      cleanup.push(() => estListener.close());
      listeners["est"] = estListener;
      logger.info(
        { address: estListener.address, url: `${config.est.baseUrl}/.well-known/est/` },
        "EST listener ready (HTTPS)",
      );
    }

    // Plain HTTP by design (RFC 9919, RFC 5280 §4.2.2.1): see protocols/ocsp/routes.ts.
    const revocationListener = await startListener(
      createRevocationListener({ ocsp, crls, cas, clock, logger }),
      config.listen.ocsp,
    );
    cleanup.push(() => revocationListener.close());
    listeners["ocsp"] = revocationListener;
    logger.info(
      { address: revocationListener.address, publicBaseUrl: config.publicBaseUrl },
      "revocation listener ready (/ocsp /crl/<ca>.crl /ca/<ca>.cer, plain HTTP)",
    );

    const ops = createOpsApp({
      registry: metrics.registry,
      logger,
      checkDatabase,
    });
    const metricsListener = await startListener(ops.callback(), config.listen.metrics);
    cleanup.push(() => metricsListener.close());
    listeners["metrics"] = metricsListener;
    logger.info({ address: metricsListener.address }, "metrics and health listener ready (/metrics /healthz /readyz)");

    let stopped = false;
    return {
      config,
      pool,
      audit,
      cas,
      profiles,
      issuance,
      users,
      tokens,
      crls,
      acmeDirectories,
      acmeEabKeys,
      requests,
      acme,
      scep,
      est,
      enrollmentSecrets,
      crlScheduler,
      ocsp,
      responderRotation,
      metrics,
      listenerTls,
      listeners,
      caChainFile,
      async stop() {
        if (stopped) return;
        stopped = true;
        await undo();
      },
    };
  } catch (err) {
    await undo();
    throw err;
  }
}
