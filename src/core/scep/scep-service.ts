import { createHash, randomUUID, timingSafeEqual } from "node:crypto";
import type { Logger } from "pino";
import type { CommonQueryMethods, DatabasePool } from "slonik";
import type { Metrics } from "../../ops/metrics.ts";
import {
  findNewestScepTransaction,
  findScepTransactionByNonce,
  hasPendingScepTransaction,
  insertScepTransaction,
  type NewScepTransaction,
  type ScepTransactionOutcome,
  type ScepTransactionRow,
  scepTransactionTableRow,
  settleScepTransaction,
} from "../../store/scep-transaction-store.ts";
import type { AuditDetail, AuditEventInput } from "../audit/audit-event.ts";
import type { AuditLog } from "../audit/audit-log.ts";
import type { CaService } from "../ca/ca-service.ts";
import type { Clock } from "../clock.ts";
import type { CrlService } from "../crl/crl-service.ts";
import type { EnrollmentSecretService } from "../enrollment-secrets/enrollment-secret-types.ts";
import { ChanceryError, isChanceryError } from "../errors.ts";
import type { CertificateRecord } from "../issuance/certificate-record.ts";
import { createCsrSanReader } from "../issuance/csr-san-reader.ts";
import type { IssuanceCommitHook, IssuanceService } from "../issuance/issuance-service.ts";
import { sanOf } from "../issuance/requested-sans.ts";
import type { ProfileService } from "../profiles/profile-service.ts";
import type { RequestService } from "../requests/request-service.ts";
import { createTtlCache } from "../ttl-cache.ts";
import { buildCertsOnlyPkcs7 } from "../x509/certs-only-pkcs7.ts";
import { oids } from "../x509/oids.ts";
import { type CertificateView, readCertificate } from "../x509/parse-certificate.ts";
import { type ParsedCsr, parseCsr } from "../x509/parse-csr.ts";
import {
  buildCertRep,
  buildSignedCertsOnly,
  type ContentCipher,
  type EnvelopeRecipient,
  type IdentifiedMessage,
  type OpenedEnvelope,
  openEnvelope,
  type ParsedPkiMessage,
  parsePkiMessage,
  readMessageContent,
  ScepMessageError,
} from "./pki-message/pki-message.ts";
import { createRecentSenderNonces } from "./recent-sender-nonces.ts";
import { scepCapabilities } from "./scep-capabilities.ts";
import { countScepMessage } from "./scep-message-metric.ts";
import { scepRequester } from "./scep-requester.ts";
import {
  type EnrolmentFacts,
  type ExternalChallengeValidator,
  type FailInfo,
  failInfos,
  pkiStatuses,
  type ScepEndpoint,
  type ScepEndpointService,
  type ScepRaCredential,
  type ScepRaService,
  scepMessageTypes,
} from "./scep-types.ts";

/**
 * Thrown from the issuance commit when another copy of the message recorded its senderNonce first. Made only
 * then: an Error built for every enrolment would capture a stack trace each time for nothing.
 */
class NonceTakenError extends ChanceryError {
  constructor() {
    super("already_exists", "this senderNonce was recorded by another copy of the message");
  }
}

/** GetCACert's answer (RFC 8894 §4.2.1): the RA certificate(s) and CA chain as PKCS#7, or the CA certificate alone. */
export type CaCertificatesAnswer =
  | { readonly kind: "ca-ra-chain"; readonly der: Buffer }
  | { readonly kind: "ca-certificate"; readonly der: Buffer };

export interface ScepService {
  /** GetCACaps (RFC 8894 §3.5.2). not_found for an unknown or disabled endpoint. */
  capabilities(endpointName: string): Promise<string[]>;
  /** GetCACert (RFC 8894 §4.2). */
  caCertificates(endpointName: string): Promise<CaCertificatesAnswer>;
  /** GetNextCACert (RFC 8894 §4.7): the rollover CA's chain, as a PKCS#7 signed by the RA. not_found when none. */
  nextCaCertificates(endpointName: string): Promise<Buffer>;
  /**
   * PKIOperation (RFC 8894 §3.3): a CertRep for every message that can be
   * identified, FAILURE with a failInfo included. A message that cannot be
   * identified (not CMS, no transactionID) throws ScepMessageError with
   * failInfo null: the front end answers HTTP 400.
   */
  pkiOperation(endpointName: string, message: Uint8Array, sourceIp: string | undefined): Promise<Buffer>;
}

export interface ScepServiceDeps {
  pool: DatabasePool;
  audit: AuditLog;
  clock: Clock;
  logger: Logger;
  cas: Pick<CaService, "get" | "scepKey">;
  profiles: Pick<ProfileService, "get">;
  issuance: Pick<IssuanceService, "issue" | "get">;
  requests: Pick<RequestService, "submitFromProtocol" | "getProtocolRequest">;
  crls: Pick<CrlService, "latest">;
  endpoints: ScepEndpointService;
  ra: ScepRaService;
  /** One-time enrollment secrets: the challenge passwords of dynamic endpoints. */
  secrets: EnrollmentSecretService;
  /** The Intune or webhook validator of an endpoint in those modes. */
  validatorFor(endpoint: ScepEndpoint): Promise<ExternalChallengeValidator>;
  /** chancery_scep_messages_total: every CertRep, by endpoint, message type and status. */
  metrics?: Pick<Metrics, "scepMessages"> | undefined;
}

/** Endpoints, profiles, CA chains and RA lists are read at most this often; admin changes reach every replica within it. */
const cacheMs = 5_000;
/** A pending transaction with no queued request and no activity this long was interrupted (a crash mid-enrolment). */
const interruptedAfterMs = 120_000;

/** A CertRep decision before it is signed. */
type Outcome =
  | { status: "success"; certificatesDer?: readonly Uint8Array[]; crlsDer?: readonly Uint8Array[] }
  | { status: "pending" }
  | { status: "failure"; failInfo: FailInfo; reason: string };

const failure = (failInfo: FailInfo, reason: string): Outcome => ({ status: "failure", failInfo, reason });

export function createScepService(deps: ScepServiceDeps): ScepService {
  const { pool, audit, clock, logger } = deps;
  const cacheOptions = { ttlMs: cacheMs, clock };
  const endpoints = createTtlCache((name) => deps.endpoints.getByName(name), cacheOptions);
  const profiles = createTtlCache(async (name) => (await deps.profiles.get(name)).profile, cacheOptions);
  /** A CA's certificate and its issuers, nearest first. */
  const caChains = createTtlCache(async (caId) => {
    const ca = await deps.cas.get(caId);
    if (!ca.certificateDer) throw new ChanceryError("failed_precondition", `CA ${ca.name} has no certificate`);
    return [ca.certificateDer, ...ca.chainDer];
  }, cacheOptions);
  /**
   * Whether an endpoint has a transaction still pending, by endpoint id. Most endpoints never have one (a static
   * challenge, no approval): there an enrolment needs no look back for its transactionID (see enrol).
   */
  const pendingOnEndpoint = createTtlCache((endpointId) => hasPendingScepTransaction(pool, endpointId), cacheOptions);
  /** Nonces recorded lately on endpoints that decide at once: a replay is answered before it is signed for. */
  const recentNonces = createRecentSenderNonces();
  /** Every unexpired RA credential of an endpoint, by endpoint name. */
  const raLists = createTtlCache(async (name) => deps.ra.valid(await endpoints.get(name)), cacheOptions);
  /** CSR SANs as text, otherNames (a UPN from Intune) named by the OID registry, read as rarely as the above. */
  const sanReader = createCsrSanReader({ db: pool, clock, ttlMs: cacheMs });

  async function endpointNamed(name: string): Promise<ScepEndpoint> {
    const endpoint = await endpoints.get(name);
    if (!endpoint.enabled) throw new ChanceryError("not_found", `SCEP endpoint ${name} is disabled`);
    return endpoint;
  }

  const caCredentials = new Map<string, Promise<EnvelopeRecipient>>();
  /**
   * Who opens envelopes and signs replies: the endpoint's RA certificates,
   * newest first, or in "ca" mode the CA itself (RFC 8894 §2.1, no RA: its
   * certificate is what GetCACert gave the device).
   */
  async function recipients(endpoint: ScepEndpoint): Promise<EnvelopeRecipient[]> {
    if (endpoint.caCertificateMode !== "ca") return raRecipients(endpoint, false);
    let credential = caCredentials.get(endpoint.caId);
    if (!credential) {
      credential = (async () => {
        const [certificateDer] = await caChainDer(endpoint.caId);
        return { certificateDer: certificateDer!, privateKey: await deps.cas.scepKey(endpoint.caId) };
      })();
      caCredentials.set(endpoint.caId, credential);
      credential.catch(() => caCredentials.delete(endpoint.caId));
    }
    return [await credential];
  }

  /**
   * The endpoint's RA credentials, kept for the cache TTL; `reread` reads them
   * again, for an envelope addressed to an RA certificate another replica
   * made since.
   */
  async function raRecipients(endpoint: ScepEndpoint, reread: boolean): Promise<ScepRaCredential[]> {
    if (reread) raLists.forget(endpoint.name);
    const credentials = await raLists.get(endpoint.name);
    const now = clock.now().getTime();
    if (credentials.every((credential) => credential.notAfter.getTime() > now)) return credentials;
    // One expired since the list was read: it is no longer offered.
    raLists.forget(endpoint.name);
    return raLists.get(endpoint.name);
  }

  function caChainDer(caId: string): Promise<Buffer[]> {
    return caChains.get(caId);
  }

  /** RFC 8894 §3.3.2: the reply mirrors the request's algorithms (a device reads what it can write). */
  function reply(
    identified: IdentifiedMessage,
    signer: EnvelopeRecipient,
    outcome: Outcome,
    recipientCertificateDer: Uint8Array | undefined,
    cipher: ContentCipher,
  ): Buffer {
    const common = {
      transactionId: identified.transactionId,
      recipientNonce: identified.senderNonce,
      digest: identified.digest,
      cipher,
      signer,
    };
    if (outcome.status === "failure")
      return buildCertRep({ ...common, pkiStatus: pkiStatuses.failure, failInfo: outcome.failInfo });
    if (outcome.status === "pending") return buildCertRep({ ...common, pkiStatus: pkiStatuses.pending });
    return buildCertRep({
      ...common,
      pkiStatus: pkiStatuses.success,
      certificatesDer: outcome.certificatesDer,
      crlsDer: outcome.crlsDer,
      recipientCertificateDer,
    });
  }

  type SettledRow = Pick<ScepTransactionRow, "id" | "transaction_id" | "message_type" | "challenge_mode">;
  type SettleExtra = { sourceIp: string | undefined; replaces?: string | null | undefined };

  /**
   * Settles the transaction in its own database transaction; false when it was settled already. The audit
   * head is taken before the row, the order of the one-statement issuance commit (decision 0015): a copy of
   * the message that claimed this row, issued at once on a replica that still saw the endpoint decide at
   * once, inserts its nonce while holding the head.
   */
  async function recordOutcome(
    row: SettledRow,
    endpoint: ScepEndpoint,
    outcome: ScepTransactionOutcome,
    extra: SettleExtra,
  ): Promise<boolean> {
    // Every outcome has its event: none sealed means the row was settled already.
    const sealed = await pool.transaction((tx) =>
      audit.appendAfterLocking(tx, async () => (await settleInTransaction(tx, row, endpoint, outcome, extra)) ?? []),
    );
    return sealed.length > 0;
  }

  /** The settling UPDATE and its audit event (to be sealed by the caller), or null when it was settled already. */
  async function settleInTransaction(
    tx: CommonQueryMethods,
    row: SettledRow,
    endpoint: ScepEndpoint,
    outcome: ScepTransactionOutcome,
    extra: SettleExtra,
  ): Promise<AuditEventInput[] | null> {
    if (!(await settleScepTransaction(tx, row.id, outcome, clock.now()))) return null;
    return outcomeEvents(row, endpoint, outcome, extra);
  }

  /** The audit event of a transaction reaching `outcome`. */
  function outcomeEvents(
    row: SettledRow,
    endpoint: ScepEndpoint,
    outcome: ScepTransactionOutcome,
    extra: SettleExtra,
  ): AuditEventInput[] {
    const details: Record<string, AuditDetail> = {
      endpoint: endpoint.name,
      transactionId: row.transaction_id,
      messageType: row.message_type,
      challengeMode: row.challenge_mode,
    };
    if (outcome.state === "issued") details["serial"] = outcome.certificateSerialHex;
    if (outcome.state === "pending") details["requestId"] = outcome.requestId;
    if (outcome.state === "failed") {
      details["failInfo"] = outcome.failInfo;
      details["reason"] = outcome.reason;
    }
    if (extra.replaces) details["replaces"] = extra.replaces;
    const action = { issued: "scep.enrolment.issue", pending: "scep.enrolment.pending", failed: "scep.enrolment.fail" };
    return [
      {
        actor: scepRequester(endpoint.name, row.transaction_id),
        action: action[outcome.state],
        target: `scep-transaction:${row.id}`,
        sourceIp: extra.sourceIp,
        details,
      },
    ];
  }

  async function factsOf(
    endpoint: ScepEndpoint,
    transactionId: string,
    messageType: 17 | 19,
    csr: ParsedCsr,
    sourceIp: string | undefined,
  ): Promise<EnrolmentFacts> {
    // An unreadable profile fails the issuance with its reason later; the SANs are named without it meanwhile.
    const allowedOtherNames = await profiles.get(endpoint.profileName).then(
      (profile) => profile.san.otherNames,
      () => [],
    );
    return {
      endpointName: endpoint.name,
      transactionId,
      messageType,
      csrDer: csr.der,
      challenge: csr.challengePassword ?? null,
      subject: csr.subjectString,
      sans: await sanReader.sans(csr, allowedOtherNames),
      sourceIp,
    };
  }

  /** A certificate we issued that is valid now, or why it cannot vouch for a requester. */
  async function ourValidCertificate(
    signer: CertificateView,
  ): Promise<{ ok: true; record: CertificateRecord } | { ok: false; reason: string }> {
    const serialHex = signer.serialHex;
    let record: CertificateRecord;
    try {
      record = await deps.issuance.get(serialHex);
    } catch (err) {
      if (isChanceryError(err, "not_found") || isChanceryError(err, "invalid_argument"))
        return { ok: false, reason: "the signer certificate was not issued here" };
      throw err;
    }
    if (!record.der.equals(signer.der)) return { ok: false, reason: "the signer certificate was not issued here" };
    if (record.state !== "valid") return { ok: false, reason: `the signer certificate is ${record.state}` };
    return { ok: true, record };
  }

  /**
   * Where a transaction stands now. A pending one with a queued request
   * follows the approval queue (RFC 8894 §3.3.3 polling); the certificate
   * goes back to the device once issued.
   */
  async function currentOutcome(
    row: ScepTransactionRow,
    endpoint: ScepEndpoint,
    sourceIp: string | undefined,
  ): Promise<Outcome> {
    if (row.state === "issued") return { status: "success", certificatesDer: [await certificateDer(row)] };
    if (row.state === "failed") return failure((row.fail_info ?? failInfos.badRequest) as FailInfo, "failed earlier");
    if (!row.request_id) {
      if (clock.now().getTime() - row.updated_at < interruptedAfterMs) return { status: "pending" };
      await recordOutcome(
        row,
        endpoint,
        { state: "failed", failInfo: failInfos.badRequest, reason: "the enrolment was interrupted" },
        { sourceIp },
      );
      return failure(failInfos.badRequest, "the enrolment was interrupted; send a new request");
    }
    const request = await deps.requests.getProtocolRequest(row.request_id);
    if (request.state === "issued" && request.certificateSerialHex) {
      const serialHex = request.certificateSerialHex;
      if (await recordOutcome(row, endpoint, { state: "issued", certificateSerialHex: serialHex }, { sourceIp }))
        await notifyValidator(endpoint, row, { serialHex });
      return { status: "success", certificatesDer: [(await deps.issuance.get(serialHex)).der] };
    }
    if (request.state === "pending") return { status: "pending" };
    const reason = request.rejectionReason
      ? `rejected by an approver: ${request.rejectionReason}`
      : `the request is ${request.state}`;
    if (await recordOutcome(row, endpoint, { state: "failed", failInfo: failInfos.badRequest, reason }, { sourceIp }))
      await notifyValidator(endpoint, row, { reason });
    return failure(failInfos.badRequest, reason);
  }

  async function certificateDer(row: ScepTransactionRow): Promise<Buffer> {
    return (await deps.issuance.get(row.certificate_serial_hex!)).der;
  }

  /** Intune requires a success or failure notification for every validated request, also after an approval. */
  async function notifyValidator(
    endpoint: ScepEndpoint,
    row: ScepTransactionRow,
    outcome: { serialHex: string } | { reason: string },
  ): Promise<void> {
    if (endpoint.challengeMode !== "intune" && endpoint.challengeMode !== "webhook") return;
    try {
      const csr = parseCsr(row.csr_der);
      const facts = await factsOf(
        endpoint,
        row.transaction_id,
        row.message_type as 17 | 19,
        csr,
        row.source_ip ?? undefined,
      );
      const validator = await deps.validatorFor(endpoint);
      if ("serialHex" in outcome) await validator.notifyIssued(facts, await issuedFacts(outcome.serialHex));
      else await validator.notifyFailed(facts, outcome);
    } catch (err) {
      logger.warn(
        { err, endpoint: endpoint.name, transactionId: row.transaction_id },
        "SCEP validator notification failed",
      );
    }
  }

  async function issuedFacts(serialHex: string) {
    const record = await deps.issuance.get(serialHex);
    const view = readCertificate(record.der);
    return {
      der: record.der,
      serialHex,
      thumbprintSha1: createHash("sha1").update(record.der).digest("hex").toUpperCase(),
      notAfter: record.notAfter,
      issuer: view.issuer.text,
    };
  }

  /** The challenge decision of a PKCSReq (RFC 8894 §2.2), per the endpoint's mode. */
  async function checkChallenge(
    endpoint: ScepEndpoint,
    facts: EnrolmentFacts,
    csr: ParsedCsr,
  ): Promise<{ ok: true } | { ok: false; reason: string }> {
    const challenge = csr.challengePassword;
    switch (endpoint.challengeMode) {
      case "none":
        return { ok: true };
      case "static":
        if (challenge === undefined) return { ok: false, reason: "the CSR carries no challengePassword" };
        return deps.endpoints.matchesStaticChallenge(endpoint, challenge)
          ? { ok: true }
          : { ok: false, reason: "wrong challenge password" };
      case "dynamic": {
        if (challenge === undefined) return { ok: false, reason: "the CSR carries no challengePassword" };
        // Spent by this transaction: its transactionID is what the secret records as used_by.
        const redeemed = await deps.secrets.spend({
          scope: { kind: "scep_endpoint", id: endpoint.id },
          secret: challenge,
          usedBy: facts.transactionId,
          csrSubject: csr.subjectString,
          csrSans: facts.sans,
        });
        if (redeemed.ok) return { ok: true };
        const reasons = {
          unknown: "unknown challenge password",
          expired: "the challenge password has expired",
          used: "the challenge password was already used",
          revoked: "the challenge password was revoked",
          binding_mismatch: "the CSR's subject or SANs differ from those the challenge was issued for",
        };
        return { ok: false, reason: reasons[redeemed.reason] };
      }
      case "intune":
      case "webhook": {
        const verdict = await (await deps.validatorFor(endpoint)).validate(facts);
        return verdict.allowed ? { ok: true } : { ok: false, reason: verdict.reason };
      }
    }
  }

  /** The failInfo an issuance refusal maps to (DESIGN rule 2: one mapping per protocol). */
  function issuanceFailure(err: unknown): Outcome | null {
    if (!isChanceryError(err)) return null;
    switch (err.code) {
      case "bad_csr":
      case "policy_violation":
      case "invalid_argument":
      case "failed_precondition":
      case "not_found":
      case "permission_denied":
        return failure(failInfos.badRequest, err.message);
      default:
        return null;
    }
  }

  /** PKCSReq (19) and RenewalReq (17), RFC 8894 §3.3.1. */
  async function enrol(
    endpoint: ScepEndpoint,
    parsed: ParsedPkiMessage,
    csr: ParsedCsr,
    sourceIp: string | undefined,
  ): Promise<Outcome> {
    const messageType = parsed.messageType as 17 | 19;
    const publicKeySha256 = createHash("sha256").update(csr.publicKeySpki).digest();

    // Who signed: for PKCSReq the CSR's own key (a self-signed certificate, §2.3) or a certificate we
    // issued (re-enrolment); for RenewalReq a valid certificate we issued, whose identity it renews.
    let renewed: CertificateRecord | null = null;
    const signer = parsed.signerCertificate;
    const signedByCsrKey = Buffer.from(signer.publicKey.der).equals(Buffer.from(csr.publicKeySpki));
    if (messageType === scepMessageTypes.renewalReq) {
      if (!endpoint.renewalAllowed) return failure(failInfos.badRequest, "renewal is not allowed on this endpoint");
      const ours = await ourValidCertificate(signer);
      if (!ours.ok) return failure(failInfos.badCertId, `RenewalReq: ${ours.reason}`);
      // Same profile: a renewal keeps the kind of certificate (a TLS server certificate does not renew into a
      // device one). Any of our CAs: after a rollover the endpoint's CA is not the one that issued it.
      if (ours.record.profileName !== endpoint.profileName)
        return failure(failInfos.badCertId, `RenewalReq: the signer certificate was issued under another profile`);
      renewed = ours.record;
    } else if (!signedByCsrKey) {
      const ours = await ourValidCertificate(signer);
      if (!ours.ok)
        return failure(failInfos.badMessageCheck, `PKCSReq signed by another key than the CSR's: ${ours.reason}`);
    }

    // A transaction decided here and now (a static or no challenge, or a renewal, without approval) is written
    // once, in its final state, by the commit that decides it: the certificate's, or the refusal's. One that
    // waits on something slow or with effects of its own (Intune or a webhook, spending a one-time challenge,
    // the approval queue) claims its nonce first, so a message re-sent meanwhile is answered as a poll
    // (PENDING) instead of being validated or spent twice. A profile that cannot be read takes the second way,
    // and the issuance below refuses it as usual.
    const profileRead = await profiles.get(endpoint.profileName).catch(() => null);
    const decidedAtOnce =
      profileRead !== null &&
      !profileRead.requiresApproval.required &&
      (renewed !== null || endpoint.challengeMode === "static" || endpoint.challengeMode === "none");

    // A new message for a transaction still pending (the client rebuilt it) is a poll, for the same key only;
    // the same message again, answered before, is a replay. Decided at once on an endpoint with nothing pending
    // (read at most every cacheMs, like the endpoint's mode), there is no pending transaction to find, and a
    // replay is refused by the commit, which records each sender nonce once: no statement for it here. One
    // whose nonce this process saw stored is answered before it is signed for (recent-sender-nonces.ts).
    const lookBack = !decidedAtOnce || (await pendingOnEndpoint.get(endpoint.id));
    if (!lookBack && recentNonces.has(endpoint.id, parsed.senderNonce)) return replayed(endpoint, parsed, sourceIp);
    const earlier = lookBack ? await findNewestScepTransaction(pool, endpoint.id, parsed.transactionId) : null;
    if (earlier?.state === "pending") {
      if (!earlier.public_key_sha256.equals(publicKeySha256))
        return failure(failInfos.badRequest, "this transactionID is pending for another key");
      return currentOutcome(earlier, endpoint, sourceIp);
    }
    // The same message again, answered before: refused here, before any issuing work for it, where it was
    // looked for. (Where not, the recording below refuses it: at the commit, after a signature, by failing
    // the batch it is in, whose other records are then committed one by one.)
    if (earlier?.sender_nonce.equals(parsed.senderNonce)) return replayed(endpoint, parsed, sourceIp);

    const now = clock.now();
    const row: ScepTransactionRow = {
      id: randomUUID(),
      endpoint_id: endpoint.id,
      transaction_id: parsed.transactionId,
      message_type: messageType,
      sender_nonce: parsed.senderNonce,
      public_key_sha256: publicKeySha256,
      subject_der: Buffer.from(csr.subjectDer),
      csr_der: Buffer.from(csr.der),
      state: "pending",
      request_id: null,
      certificate_serial_hex: null,
      fail_info: null,
      failure_reason: null,
      challenge_mode: renewed ? "renewal" : endpoint.challengeMode,
      replaces_serial_hex: renewed?.serialHex ?? null,
      source_ip: sourceIp ?? null,
      created_at: now.getTime(),
      updated_at: now.getTime(),
    };
    const newRow: NewScepTransaction = {
      id: row.id,
      endpointId: endpoint.id,
      transactionId: row.transaction_id,
      messageType,
      senderNonce: row.sender_nonce,
      publicKeySha256,
      subjectDer: row.subject_der,
      csrDer: row.csr_der,
      challengeMode: row.challenge_mode,
      replacesSerialHex: row.replaces_serial_hex,
      sourceIp: row.source_ip,
      now,
    };
    if (!decidedAtOnce && !(await insertScepTransaction(pool, newRow, { state: "pending" })))
      return replayed(endpoint, parsed, sourceIp);
    const settleFailed = async (failInfo: FailInfo, reason: string): Promise<Outcome> => {
      const outcome = { state: "failed", failInfo, reason } as const;
      if (!decidedAtOnce) {
        await recordOutcome(row, endpoint, outcome, { sourceIp });
        return failure(failInfo, reason);
      }
      // The audit head first, then the row: the order the one-statement issuance commit takes them in (decision
      // 0015). The other way round, a copy of this message issued on another replica at the same moment would
      // wait for this row while holding the head, and this transaction for the head: a deadlock. When that copy
      // recorded the nonce first, nothing is written here and it answers for it.
      const sealed = await pool.transaction((tx) =>
        audit.appendAfterLocking(tx, async () =>
          (await insertScepTransaction(tx, newRow, outcome)) ? outcomeEvents(row, endpoint, outcome, { sourceIp }) : [],
        ),
      );
      recentNonces.add(endpoint.id, parsed.senderNonce);
      return sealed.length > 0 ? failure(failInfo, reason) : replayed(endpoint, parsed, sourceIp);
    };
    const facts = await factsOf(endpoint, parsed.transactionId, messageType, csr, sourceIp);
    if (!renewed) {
      const challenge = await checkChallenge(endpoint, facts, csr);
      if (!challenge.ok) return settleFailed(failInfos.badRequest, challenge.reason);
    }

    const issuanceInput = {
      caId: endpoint.caId,
      profileName: endpoint.profileName,
      csrDer: csr.der,
      // What the challenge vouched for (the CSR's subject and SANs), or for a renewal the identity of the
      // certificate renewed: the CSR brings the new key, not a new name. The profile filters either.
      approved: renewed
        ? { subject: readCertificate(renewed.der).subject.attributes, sans: renewed.sans }
        : { sans: facts.sans.map(sanOf) },
      requester: scepRequester(endpoint.name, parsed.transactionId),
      sourceProtocol: "scep" as const,
      sourceIp,
    };
    let result: { kind: "pending"; requestId: string } | { kind: "issued"; serialHex: string; der: Uint8Array };
    try {
      const profile = profileRead ?? (await profiles.get(endpoint.profileName));
      if (profile.requiresApproval.required) {
        const request = await deps.requests.submitFromProtocol(issuanceInput);
        result = { kind: "pending", requestId: request.id };
      } else {
        // The transaction is settled in the commit that stores the certificate: a device is never
        // answered from a row that says pending while its certificate exists, and the two cost one commit.
        const issuedOutcome = (serialHex: string) => ({ state: "issued", certificateSerialHex: serialHex }) as const;
        const extra = { sourceIp, replaces: renewed?.serialHex };
        // Decided at once: the row is known before the commit and goes in the certificate's statement
        // (decision 0015); a racing copy that took the nonce first makes it fail, with nothing issued.
        const recordAtOnce: IssuanceCommitHook = {
          alongside(certificate) {
            const outcome = issuedOutcome(certificate.serialHex);
            return {
              rows: [scepTransactionTableRow(newRow, outcome)],
              events: outcomeEvents(row, endpoint, outcome, extra),
              duplicateError: () => new NonceTakenError(),
            };
          },
        };
        // Claimed pending earlier: settled in the certificate's transaction, if nothing settled it meanwhile.
        const settleClaimed: IssuanceCommitHook = {
          async alsoInTransaction(tx, certificate) {
            const outcome = issuedOutcome(certificate.serialHex);
            const events = await settleInTransaction(tx, row, endpoint, outcome, extra);
            if (!events)
              throw new ChanceryError("failed_precondition", "the SCEP transaction was settled while it was issued");
            return events;
          },
        };
        const issued = await deps.issuance.issue(issuanceInput, decidedAtOnce ? recordAtOnce : settleClaimed);
        if (decidedAtOnce) recentNonces.add(endpoint.id, parsed.senderNonce);
        result = { kind: "issued", serialHex: issued.serialHex, der: issued.der };
      }
    } catch (err) {
      // Nothing was issued: the copy that recorded the nonce answers for it.
      if (err instanceof NonceTakenError) {
        recentNonces.add(endpoint.id, parsed.senderNonce);
        return replayed(endpoint, parsed, sourceIp);
      }
      const refused = issuanceFailure(err);
      const reason = refused?.status === "failure" ? refused.reason : "internal error";
      await settleFailed(failInfos.badRequest, reason).catch((settleErr) =>
        logger.error({ err: settleErr }, "could not record a failed SCEP enrolment"),
      );
      await notifyValidator(endpoint, row, { reason });
      if (!refused) throw err;
      return refused;
    }
    if (result.kind === "pending") {
      // The transaction stays pending with its queued request; polls follow the queue.
      await recordOutcome(row, endpoint, { state: "pending", requestId: result.requestId }, { sourceIp });
      return { status: "pending" };
    }
    await notifyValidator(endpoint, row, { serialHex: result.serialHex });
    return { status: "success", certificatesDer: [result.der] };
  }

  /**
   * A sender nonce seen before. While its transaction is pending this is the
   * client re-sending the same message to poll (micromdm's scepclient does);
   * once answered it is a replay and is refused.
   */
  async function replayed(
    endpoint: ScepEndpoint,
    parsed: ParsedPkiMessage,
    sourceIp: string | undefined,
  ): Promise<Outcome> {
    const seen = await findScepTransactionByNonce(pool, endpoint.id, parsed.senderNonce);
    if (seen?.state === "pending" && seen.transaction_id === parsed.transactionId)
      return currentOutcome(seen, endpoint, sourceIp);
    logger.warn(
      { endpoint: endpoint.name, transactionId: parsed.transactionId, sourceIp },
      "SCEP message replayed: its senderNonce was already answered",
    );
    return failure(failInfos.badRequest, "replayed message: this senderNonce was already used");
  }

  /** CertPoll (20): IssuerAndSubject names the pending transaction (RFC 8894 §3.3.3). */
  async function poll(
    endpoint: ScepEndpoint,
    parsed: ParsedPkiMessage,
    subjectDer: Buffer,
    sourceIp: string | undefined,
  ): Promise<Outcome> {
    const row = await findNewestScepTransaction(pool, endpoint.id, parsed.transactionId);
    if (!row?.subject_der.equals(subjectDer))
      return failure(failInfos.badCertId, "no enrolment with this transactionID and subject");
    const signerKey = Buffer.from(parsed.signerCertificate.publicKey.der);
    if (!createHash("sha256").update(signerKey).digest().equals(row.public_key_sha256)) {
      const ours = await ourValidCertificate(parsed.signerCertificate);
      if (!ours.ok) return failure(failInfos.badCertId, "CertPoll signed by another key than the enrolment's");
    }
    return currentOutcome(row, endpoint, sourceIp);
  }

  /** GetCert (21): a certificate of the endpoint's CA by issuer and serial (RFC 8894 §3.3.4). */
  async function getCert(endpoint: ScepEndpoint, issuerDer: Buffer, serialHex: string): Promise<Outcome> {
    const caSubject = await caSubjectDer(endpoint.caId);
    if (!timingSafeEqualBuffers(caSubject, issuerDer))
      return failure(failInfos.badCertId, "not an issuer of this endpoint");
    try {
      const record = await deps.issuance.get(serialHex);
      if (record.caId !== endpoint.caId) return failure(failInfos.badCertId, "no such certificate");
      return { status: "success", certificatesDer: [record.der] };
    } catch (err) {
      if (isChanceryError(err, "not_found") || isChanceryError(err, "invalid_argument"))
        return failure(failInfos.badCertId, "no such certificate");
      throw err;
    }
  }

  /** GetCRL (22): the CRL of the CA that issued the named certificate (RFC 8894 §3.3.4). */
  async function getCrl(endpoint: ScepEndpoint, issuerDer: Buffer): Promise<Outcome> {
    const caSubject = await caSubjectDer(endpoint.caId);
    if (!timingSafeEqualBuffers(caSubject, issuerDer))
      return failure(failInfos.badCertId, "not an issuer of this endpoint");
    const crl = await deps.crls.latest(endpoint.caId);
    if (!crl) return failure(failInfos.badCertId, "no CRL has been published for this CA yet");
    return { status: "success", crlsDer: [crl.der] };
  }

  async function caSubjectDer(caId: string): Promise<Buffer> {
    const [caCertificateDer] = await caChainDer(caId);
    return Buffer.from(readCertificate(caCertificateDer!).subject.der);
  }

  /**
   * Opens the pkcsPKIEnvelope with the (cached) RA credentials; when none of
   * them is its recipient, once more with the RA list read again (a rotation
   * on another replica gives devices a certificate this one has not seen).
   * Returns the list it opened with: its newest credential signs the reply.
   */
  async function openWithRecipients(
    endpoint: ScepEndpoint,
    envelope: Uint8Array,
    credentials: EnvelopeRecipient[],
  ): Promise<{ opened: OpenedEnvelope; credentials: EnvelopeRecipient[] }> {
    const options = { allowLegacy: endpoint.legacyCrypto };
    try {
      return { opened: openEnvelope(envelope, credentials, options), credentials };
    } catch (err) {
      if (!(err instanceof ScepMessageError) || err.failInfo !== failInfos.badMessageCheck) throw err;
      if (endpoint.caCertificateMode === "ca") throw err;
      const reread = await raRecipients(endpoint, true);
      const held = (der: Uint8Array) => credentials.some((c) => Buffer.from(c.certificateDer).equals(der));
      if (reread.every((credential) => held(credential.certificateDer))) throw err;
      return { opened: openEnvelope(envelope, reread, options), credentials: reread };
    }
  }

  return {
    async capabilities(endpointName) {
      return scepCapabilities(await endpointNamed(endpointName));
    },

    async caCertificates(endpointName) {
      const endpoint = await endpointNamed(endpointName);
      const chain = await caChainDer(endpoint.caId);
      if (endpoint.caCertificateMode === "ca") return { kind: "ca-certificate", der: chain[0]! };
      const ra = await deps.ra.current(endpoint);
      // RA first: clients that take the first encryption-capable certificate pick it.
      return { kind: "ca-ra-chain", der: buildCertsOnlyPkcs7([ra.certificateDer, ...chain]) };
    },

    async nextCaCertificates(endpointName) {
      const endpoint = await endpointNamed(endpointName);
      if (!endpoint.nextCaId) throw new ChanceryError("not_found", "no rollover CA is configured for this endpoint");
      const chain = await caChainDer(endpoint.nextCaId);
      const [signer] = await recipients(endpoint);
      return buildSignedCertsOnly(chain, signer!, "sha256", clock.now());
    },

    async pkiOperation(endpointName, message, sourceIp) {
      const endpoint = await endpointNamed(endpointName);
      const credentials = await recipients(endpoint);
      const newest = credentials[0];
      if (!newest) throw new ChanceryError("unavailable", `SCEP endpoint ${endpoint.name} has no RA certificate`);
      let signer: EnvelopeRecipient = newest;
      let parsed: ParsedPkiMessage;
      try {
        parsed = parsePkiMessage(message);
      } catch (err) {
        if (err instanceof ScepMessageError && err.failInfo !== null && err.identified) {
          logger.info({ endpoint: endpoint.name, sourceIp, reason: err.message }, "SCEP message refused");
          countScepMessage(deps.metrics, endpoint.name, err.identified.messageType, {
            status: "failure",
            failInfo: err.failInfo,
          });
          return reply(err.identified, signer, failure(err.failInfo, err.message), undefined, "aes-128-cbc");
        }
        throw err;
      }
      const identified: IdentifiedMessage = parsed;
      let cipher: ContentCipher = "aes-128-cbc";
      const answer = (outcome: Outcome) => {
        if (outcome.status === "failure")
          logger.info(
            {
              endpoint: endpoint.name,
              transactionId: parsed.transactionId,
              failInfo: outcome.failInfo,
              reason: outcome.reason,
              sourceIp,
            },
            "SCEP request refused",
          );
        countScepMessage(deps.metrics, endpoint.name, parsed.messageType, outcome);
        // The very bytes read with the message: the envelope finds them parsed already (readCertificate).
        return reply(identified, signer, outcome, parsed.signerCertificate.der, cipher);
      };
      // RFC 8894 §3.3.2: a SUCCESS reply is encrypted to the signer's key by key transport, which needs RSA;
      // refused before anything is issued that could not be handed over.
      if (parsed.signerCertificate.publicKey.algorithmOid !== oids.rsaEncryption)
        return answer(failure(failInfos.badAlg, "the requester's certificate must have an RSA key (key transport)"));
      // RFC 8894 §3.5.2: SHA-1 only for endpoints opened to legacy devices.
      if (parsed.digest === "sha1" && !endpoint.legacyCrypto)
        return answer(failure(failInfos.badAlg, "SHA-1 is not accepted on this endpoint (legacyCrypto is off)"));

      let opened: OpenedEnvelope;
      try {
        const used = await openWithRecipients(endpoint, parsed.envelope, credentials);
        opened = used.opened;
        // The RA list read again after a rotation elsewhere: its newest RA signs, as GetCACert now hands out.
        signer = used.credentials[0]!;
      } catch (err) {
        if (err instanceof ScepMessageError && err.failInfo !== null) return answer(failure(err.failInfo, err.message));
        throw err;
      }
      cipher = opened.cipher;
      try {
        const content = readMessageContent(parsed.messageType, opened.content);
        switch (content.kind) {
          case "csr": {
            let csr: ParsedCsr;
            try {
              csr = parseCsr(content.csrDer);
            } catch (err) {
              if (isChanceryError(err, "bad_csr")) return answer(failure(failInfos.badRequest, err.message));
              throw err;
            }
            return answer(await enrol(endpoint, parsed, csr, sourceIp));
          }
          case "issuer-and-subject":
            return answer(await poll(endpoint, parsed, content.subjectDer, sourceIp));
          case "issuer-and-serial":
            return answer(
              parsed.messageType === scepMessageTypes.getCrl
                ? await getCrl(endpoint, content.issuerDer)
                : await getCert(endpoint, content.issuerDer, content.serialHex),
            );
        }
      } catch (err) {
        if (err instanceof ScepMessageError && err.failInfo !== null) return answer(failure(err.failInfo, err.message));
        throw err;
      }
    },
  };
}

function timingSafeEqualBuffers(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
