import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { CommonQueryMethods, DatabasePool } from "slonik";
import type { Metrics } from "../../ops/metrics.ts";
import {
  type CertificateRow,
  findCertificateBySerial,
  findCertificateViewByRequestId,
  findCertificateViewBySerial,
  revokeCertificateRow,
} from "../../store/certificate-store.ts";
import type { Actor } from "../actor.ts";
import type { AuditEventInput } from "../audit/audit-event.ts";
import type { AuditLog } from "../audit/audit-log.ts";
import type { CaService } from "../ca/ca-service.ts";
import type { Clock } from "../clock.ts";
import { ChanceryError, isChanceryError } from "../errors.ts";
import type { CaUrls } from "../profiles/ca-urls.ts";
import type { ProfileService } from "../profiles/profile-service.ts";
import type { RegistryService } from "../registry/registry-service.ts";
import { resolveProfile } from "../registry/resolve-profile.ts";
import { type RevocationReason, revocationReasonName, revocationReasons } from "../revocation/revocation-reason.ts";
import { subjectAltNameKey } from "../x509/general-name.ts";
import { proofFailedMessage, readCsr, verifiedCsr } from "../x509/parse-csr.ts";
import { createSerialGenerator } from "../x509/serial-number.ts";
import { createInlineSignatureVerifier, type SignatureVerifier } from "../x509/signature-verifier.ts";
import {
  type CertificateTemplate,
  createCertificateTemplate,
  type IssuedCertificate,
} from "./build-end-entity-certificate.ts";
import { type CertificateFilter, type CertificatePage, listCertificates } from "./certificate-listing.ts";
import { type CertificateRecord, toCertificateRecord } from "./certificate-record.ts";
import type { IssuanceAlongside, IssuanceCommitter, IssuanceRecord } from "./issuance-committer.ts";
import type { IssuanceRequest } from "./issuance-request.ts";
import { createPolicyChecker, type PolicyChecker } from "./policy-check.ts";

export interface IssuedCertificateRecord extends IssuedCertificate {
  readonly id: string;
  readonly caId: string;
  readonly profileName: string;
  /** The issuing CA's certificate and its issuers, nearest first (what a client needs besides the leaf). */
  readonly chainDer: readonly Buffer[];
  readonly issuedAt: Date;
}

/** A stored certificate with the CA certificates above it, nearest first (issuing CA up to the root). */
export interface CertificateWithChain {
  readonly certificate: CertificateRecord;
  readonly issuersDer: readonly Buffer[];
}

export interface RevocationResult {
  readonly serialHex: string;
  readonly reason: RevocationReason;
  readonly revokedAt: Date;
  /** False when the certificate was already revoked; the first revocation stands. */
  readonly changed: boolean;
}

/**
 * What a front end commits together with the certificate it asked for: one
 * commit, one fsync and one move of the audit chain head per batch instead
 * of a second transaction per certificate.
 */
export type IssuanceCommitHook =
  | {
      /**
       * Rows and events known before the commit (IssuanceRecord.alongside):
       * a batch of such records is written in one statement.
       */
      alongside(issued: IssuedIdentity): IssuanceAlongside;
    }
  | {
      /**
       * Runs in the transaction that stores the certificate (see
       * IssuanceRecord.alsoInTransaction). Returns the front end's audit
       * events; throwing refuses the certificate.
       */
      alsoInTransaction(tx: CommonQueryMethods, issued: IssuedIdentity): Promise<AuditEventInput[]>;
    };

/** The stored certificate's row id and serial, before it is committed. */
export interface IssuedIdentity {
  readonly id: string;
  readonly serialHex: string;
}

export interface IssuanceService {
  /** The one pipeline every front end calls (DESIGN: every protocol funnels into one core). */
  issue(request: IssuanceRequest, hook?: IssuanceCommitHook): Promise<IssuedCertificateRecord>;
  revoke(input: { serialHex: string; reason: RevocationReason }, by: Actor): Promise<RevocationResult>;
  getBySerial(serialHex: string): Promise<CertificateRow>;
  /**
   * issue(), answered with the stored record. With request.requestId set, a
   * repeat of an earlier request (same requester and request id) returns the
   * certificate that request issued instead of issuing another (AIP-155);
   * concurrent repeats within this process wait for the first.
   */
  issueOnce(request: IssuanceRequest): Promise<CertificateWithChain>;
  /** The certificate with this serial ("0A:1B..." or "0a1b..."), its state as of now. */
  get(serialHex: string): Promise<CertificateRecord>;
  /** The certificate and the CA certificates above it. */
  chain(serialHex: string): Promise<CertificateWithChain>;
  /** Newest first, keyset-paginated; see certificate-listing.ts. */
  list(filter: CertificateFilter, page: { pageSize: number; pageToken?: string | undefined }): Promise<CertificatePage>;
}

interface IssuingContext {
  readonly caId: string;
  readonly profileId: string;
  readonly template: CertificateTemplate;
  readonly policy: PolicyChecker;
  readonly chainDer: readonly Buffer[];
  readonly loadedAt: number;
}

/**
 * How long a prepared (CA, profile) context is reused before it is read
 * again, so a CA disabled or a profile edited on another replica takes
 * effect within this many milliseconds.
 */
const contextTtlMs = 5_000;

/**
 * The issuance pipeline: parse the CSR and check its signature (proof of
 * possession), check it against the profile and the approved request, build
 * and sign the certificate from the prepared template, then store it with
 * its audit event through the group committer. The caller hears "issued"
 * only after the commit.
 */
export function createIssuanceService(deps: {
  pool: DatabasePool;
  cas: CaService;
  profiles: ProfileService;
  /** Registry entries the profile names are resolved when a (CA, profile) context is loaded. */
  registry: Pick<RegistryService, "snapshot">;
  audit: AuditLog;
  committer: IssuanceCommitter;
  clock: Clock;
  logger: Logger;
  metrics?: Metrics | undefined;
  urlsFor: (caId: string) => CaUrls;
  /** Where CSR signatures are checked; inline when not given (gateway.ts passes worker threads). */
  verifier?: SignatureVerifier | undefined;
  /**
   * Told the issuing CA's id and the certificate's serial after a revocation
   * has committed (not for a repeat of an earlier one). create-core.ts drops
   * the certificate's pre-signed OCSP answers here, and gateway.ts asks the
   * CRL scheduler for a new CRL, so the core knows nothing of scheduling.
   */
  onRevoked?: ((caId: string, serialHex: string) => void) | undefined;
}): IssuanceService {
  const verifier = deps.verifier ?? createInlineSignatureVerifier();
  const contexts = new Map<string, Promise<IssuingContext>>();
  const nextSerial = createSerialGenerator();

  async function loadContext(caId: string, profileName: string): Promise<IssuingContext> {
    const ca = await deps.cas.get(caId);
    if (ca.status !== "active" || !ca.certificateDer)
      throw new ChanceryError("failed_precondition", `CA ${ca.name} is ${ca.status} and cannot issue`);
    if (ca.allowedProfiles.length > 0 && !ca.allowedProfiles.includes(profileName))
      throw new ChanceryError(
        "policy_violation",
        `profile ${profileName} is not allowed on CA ${ca.name} (allowed: ${ca.allowedProfiles.join(", ")})`,
      );
    const stored = await deps.profiles.get(profileName);
    // A profile that makes CA certificates is never allowed by default (an empty list): whoever may issue
    // through this CA would otherwise be able to mint subordinate CAs. It must be listed explicitly.
    if (stored.profile.basicConstraints.ca && !ca.allowedProfiles.includes(profileName))
      throw new ChanceryError(
        "policy_violation",
        `profile ${profileName} makes CA certificates and must be listed in CA ${ca.name}'s allowed profiles`,
      );
    // An entry cannot be deleted while a profile names it, so failing here means a hand-edited database.
    const resolved = resolveProfile(stored.profile, await deps.registry.snapshot(), "failed_precondition");
    const template = createCertificateTemplate({
      issuerCertificateDer: ca.certificateDer,
      issuerSigner: await deps.cas.signer(caId),
      profile: resolved.profile,
      urls: deps.urlsFor(caId),
      // Name constraints of every CA above the issuer bind the leaf too (RFC 5280 §6.1.4 (g)).
      chainDer: ca.chainDer,
    });
    return {
      caId,
      profileId: stored.id,
      template,
      policy: createPolicyChecker(resolved),
      chainDer: [ca.certificateDer, ...ca.chainDer],
      loadedAt: Date.now(),
    };
  }

  function context(caId: string, profileName: string): Promise<IssuingContext> {
    const key = `${caId}\u0000${profileName}`;
    const cached = contexts.get(key);
    if (cached) {
      return cached.then((ctx) => {
        if (Date.now() - ctx.loadedAt < contextTtlMs) return ctx;
        if (contexts.get(key) === cached) contexts.delete(key);
        return context(caId, profileName);
      });
    }
    const loading = loadContext(caId, profileName);
    contexts.set(key, loading);
    loading.catch(() => contexts.delete(key));
    return loading;
  }

  async function issue(request: IssuanceRequest, hook?: IssuanceCommitHook): Promise<IssuedCertificateRecord> {
    const started = performance.now();
    try {
      const ctx = await context(request.caId, request.profileName);
      // Proof of possession (RFC 2986 §3): nothing from the CSR is used before this. A front end that
      // verified these very bytes already (parseCsr) is not made to pay for it twice.
      let csr = verifiedCsr(request.csrDer);
      if (!csr) {
        const read = readCsr(request.csrDer);
        if (!(await verifier.verify(read.proof))) throw new ChanceryError("bad_csr", proofFailedMessage);
        csr = read.csr;
      }
      const now = deps.clock.now();
      const issuer = ctx.template.issuer;
      const content = ctx.policy.check({
        csr,
        request,
        issuer: { notBefore: issuer.notBefore, notAfter: issuer.notAfter, publicKeySpki: issuer.publicKey.der },
        now,
      });
      const issued = await ctx.template.issue(content, nextSerial());
      const id = randomUUID();
      await deps.committer.commit({
        certificate: {
          id,
          caId: ctx.caId,
          profileId: ctx.profileId,
          serialHex: issued.serialHex,
          fingerprintSha256: issued.fingerprintSha256,
          subject: issued.subject,
          sans: issued.sans.map((san) =>
            san.type === "otherName"
              ? { type: san.type, name: san.name, value: san.value }
              : { type: san.type, value: san.value },
          ),
          notBefore: issued.notBefore,
          notAfter: issued.notAfter,
          der: Buffer.from(issued.der),
          requester: request.requester,
          sourceProtocol: request.sourceProtocol,
          issuedAt: now,
          requestId: request.requestId ?? null,
        },
        audit: {
          actor: request.requester,
          sourceIp: request.sourceIp,
          action: "certificate.issue",
          target: `certificate:${issued.serialHex}`,
          occurredAt: now,
          details: {
            caId: ctx.caId,
            profile: request.profileName,
            protocol: request.sourceProtocol,
            subject: issued.subject,
            sans: issued.sans.map(subjectAltNameKey),
            notAfter: issued.notAfter.toISOString(),
            fingerprintSha256: issued.fingerprintSha256,
          },
        },
        ...commitHookParts(hook, { id, serialHex: issued.serialHex }),
      });
      deps.metrics?.certificatesIssued.inc({
        ca: ctx.caId,
        profile: request.profileName,
        protocol: request.sourceProtocol,
      });
      deps.metrics?.issuanceSeconds.observe((performance.now() - started) / 1000);
      return {
        ...issued,
        id,
        caId: ctx.caId,
        profileName: request.profileName,
        chainDer: ctx.chainDer,
        issuedAt: now,
      };
    } catch (err) {
      deps.metrics?.issuanceFailures.inc({ code: isChanceryError(err) ? err.code : "internal" });
      throw err;
    }
  }

  async function revoke(input: { serialHex: string; reason: RevocationReason }, by: Actor): Promise<RevocationResult> {
    const serialHex = normalizeSerial(input.serialHex);
    const code = revocationReasons[input.reason];
    if (code === undefined) throw new ChanceryError("invalid_argument", `unknown revocation reason ${input.reason}`);
    const revokedAt = new Date(Math.floor(deps.clock.now().getTime() / 1000) * 1000);
    let revokedUnder: string | null = null;
    const revocation = await deps.pool.transaction(async (tx) => {
      const result = await revokeCertificateRow(tx, serialHex, { reason: code, revokedAt });
      if (!result) throw new ChanceryError("not_found", `no certificate with serial ${serialHex}`);
      const stored = {
        serialHex,
        reason: revocationReasonName(result.row.revocation_reason ?? 0) ?? "unspecified",
        revokedAt: new Date(result.row.revoked_at ?? revokedAt.getTime()),
        changed: result.changed,
      };
      if (result.changed) {
        await deps.audit.appendInTransaction(tx, [
          {
            ...by,
            action: "certificate.revoke",
            target: `certificate:${serialHex}`,
            details: { reason: input.reason, caId: result.row.ca_id },
          },
        ]);
        deps.metrics?.certificatesRevoked.inc({ reason: input.reason });
        revokedUnder = result.row.ca_id;
      }
      return stored;
    });
    // After the commit: a CRL built earlier could not see the revocation.
    if (revokedUnder !== null) {
      try {
        deps.onRevoked?.(revokedUnder, revocation.serialHex);
      } catch (err) {
        // The revocation stands; the periodic CRL pass notices the missing entry.
        deps.logger.error({ err, caId: revokedUnder }, "revocation listener failed");
      }
    }
    return revocation;
  }

  const requestsInFlight = new Map<string, Promise<CertificateWithChain>>();

  async function issuersOf(caId: string): Promise<readonly Buffer[]> {
    const ca = await deps.cas.get(caId);
    return ca.certificateDer ? [ca.certificateDer, ...ca.chainDer] : [];
  }

  async function issueFresh(request: IssuanceRequest): Promise<CertificateWithChain> {
    const issued = await issue(request);
    const certificate: CertificateRecord = {
      id: issued.id,
      caId: issued.caId,
      profileName: issued.profileName,
      serialHex: issued.serialHex,
      fingerprintSha256: issued.fingerprintSha256,
      subject: issued.subject,
      sans: issued.sans,
      notBefore: issued.notBefore,
      notAfter: issued.notAfter,
      der: Buffer.from(issued.der),
      requester: request.requester,
      sourceProtocol: request.sourceProtocol,
      state: "valid",
      revokedAt: null,
      revocationReason: null,
      issuedAt: issued.issuedAt,
    };
    return { certificate, issuersDer: issued.chainDer };
  }

  async function issueOrReplay(request: IssuanceRequest, requestId: string): Promise<CertificateWithChain> {
    const earlier = await findCertificateViewByRequestId(deps.pool, request.requester, requestId);
    if (!earlier) return issueFresh(request);
    if (earlier.ca_id !== request.caId || earlier.profile_name !== request.profileName)
      throw new ChanceryError(
        "invalid_argument",
        `request_id "${requestId}" was already used for a request to another CA or profile`,
      );
    return { certificate: toCertificateRecord(earlier, deps.clock.now()), issuersDer: await issuersOf(earlier.ca_id) };
  }

  async function get(serialHex: string): Promise<CertificateRecord> {
    const row = await findCertificateViewBySerial(deps.pool, normalizeSerial(serialHex));
    if (!row) throw new ChanceryError("not_found", `no certificate with serial ${serialHex}`);
    return toCertificateRecord(row, deps.clock.now());
  }

  return {
    issue,
    revoke,
    async getBySerial(serialHex) {
      const row = await findCertificateBySerial(deps.pool, normalizeSerial(serialHex));
      if (!row) throw new ChanceryError("not_found", `no certificate with serial ${serialHex}`);
      return row;
    },

    issueOnce(request) {
      if (request.requestId === undefined || request.requestId === "") return issueFresh(request);
      const requestId = request.requestId;
      if (!/^[\x21-\x7e]{1,128}$/.test(requestId))
        return Promise.reject(
          new ChanceryError("invalid_argument", "request_id must be 1-128 printable ASCII characters"),
        );
      // Across replicas two simultaneous repeats can still both issue: the
      // lookup is not a lock. Retries after a timeout, the case AIP-155 is
      // for, find the first certificate.
      const key = `${request.requester}\u0000${requestId}`;
      const running = requestsInFlight.get(key);
      if (running) return running;
      const started = issueOrReplay(request, requestId);
      requestsInFlight.set(key, started);
      const forget = () => {
        if (requestsInFlight.get(key) === started) requestsInFlight.delete(key);
      };
      started.then(forget, forget);
      return started;
    },

    get,

    async chain(serialHex) {
      const certificate = await get(serialHex);
      return { certificate, issuersDer: await issuersOf(certificate.caId) };
    },

    list(filter, page) {
      return listCertificates(deps.pool, filter, page, deps.clock.now());
    },
  };
}

/** Accepts "0A:1B..." or "0a1b..." and returns our stored form (lower-case hex, no leading 00 octet). */
function normalizeSerial(serial: string): string {
  const hex = serial.replace(/[:\s]/g, "").toLowerCase();
  if (!/^[0-9a-f]{1,40}$/.test(hex))
    throw new ChanceryError("invalid_argument", `"${serial}" is not a hex serial number`);
  return hex.replace(/^(00)+(?=[0-9a-f]{2})/, "");
}

function commitHookParts(
  hook: IssuanceCommitHook | undefined,
  issued: IssuedIdentity,
): Pick<IssuanceRecord, "alongside" | "alsoInTransaction"> {
  if (!hook) return {};
  if ("alongside" in hook) return { alongside: hook.alongside(issued) };
  return { alsoInTransaction: (tx) => hook.alsoInTransaction(tx, issued) };
}
