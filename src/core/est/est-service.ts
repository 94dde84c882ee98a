import { createHash, randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { DatabasePool } from "slonik";
import {
  clearEstEnrollmentKey,
  type EstEnrollmentRow,
  findEstEnrollment,
  findPendingEstEnrollment,
  insertEstEnrollment,
  settleEstEnrollment,
} from "../../store/est-enrollment-store.ts";
import type { AuditDetail } from "../audit/audit-event.ts";
import type { AuditLog } from "../audit/audit-log.ts";
import type { CaService } from "../ca/ca-service.ts";
import type { KeyEncryption } from "../ca/key-encryption.ts";
import { createSoftwareSigner } from "../ca/software-signer.ts";
import type { Clock } from "../clock.ts";
import type { EnrollmentSecretService } from "../enrollment-secrets/enrollment-secret-types.ts";
import { ChanceryError, isChanceryError } from "../errors.ts";
import { createCsrSanReader } from "../issuance/csr-san-reader.ts";
import type { ApprovedContent } from "../issuance/issuance-request.ts";
import type { IssuanceService } from "../issuance/issuance-service.ts";
import { subjectMatches } from "../issuance/name-binding.ts";
import { sameSans, sanOf } from "../issuance/requested-sans.ts";
import { generateKeyPairAsync } from "../keys/generate-key-pair.ts";
import type { KeyAlgorithm } from "../keys/key-algorithm.ts";
import type { ProfileService } from "../profiles/profile-service.ts";
import type { RequestService } from "../requests/request-service.ts";
import { createTtlCache } from "../ttl-cache.ts";
import { createCertificateSigningRequest } from "../x509/certificate-signing-request.ts";
import { buildCertsOnlyPkcs7 } from "../x509/certs-only-pkcs7.ts";
import { readCertificate } from "../x509/parse-certificate.ts";
import { type ParsedCsr, parseCsr, readCsr } from "../x509/parse-csr.ts";
import { checkChannelBinding } from "./channel-binding.ts";
import { buildCsrAttributes } from "./csr-attributes.ts";
import type { EstAuditBatcher } from "./est-audit-batcher.ts";
import type { EstAuthentication, EstClient, EstIdentity } from "./est-authentication.ts";
import type { EstLabel, EstLabelService } from "./est-types.ts";
import { findKeyRecipient, readKeyDeliveryRequest } from "./key-delivery.ts";
import { buildEncryptedKeyPackage, isEncryptableTo, type KeyPackageSigner } from "./server-key-package.ts";

export type EstOperation = "simpleenroll" | "simplereenroll" | "serverkeygen";

/** simpleenroll / simplereenroll (RFC 7030 §4.2.3): the certificate, or "come back later". */
export type EnrollResult =
  | { readonly kind: "issued"; readonly certificateDer: Buffer }
  | { readonly kind: "pending"; readonly retryAfterSeconds: number };

/** serverkeygen (RFC 7030 §4.4.2): the certificate with its private key, or later, or a form we do not do. */
export type ServerKeygenResult =
  | {
      readonly kind: "issued";
      readonly certificateDer: Buffer;
      /** PKCS#8 in the clear (the TLS session protects it), or the RFC 7030 §4.4.2 encrypted package. */
      readonly key:
        | { readonly encrypted: false; readonly der: Buffer }
        | { readonly encrypted: true; readonly der: Buffer };
    }
  | { readonly kind: "pending"; readonly retryAfterSeconds: number }
  | { readonly kind: "unsupported"; readonly reason: string };

export interface EstService {
  /** The label a request names (null: the default one); not_found when unknown or disabled. */
  label(name: string | null): Promise<EstLabel>;
  /** /cacerts (RFC 7030 §4.1): the label CA's chain as a certs-only PKCS#7, DER. */
  caCertificates(labelName: string | null): Promise<Buffer>;
  /** /csrattrs (RFC 7030 §4.5): DER CsrAttrs, or null when the profile asks for nothing. */
  csrAttributes(labelName: string | null): Promise<Buffer | null>;
  enroll(labelName: string | null, client: EstClient, csr: Uint8Array | string): Promise<EnrollResult>;
  reenroll(labelName: string | null, client: EstClient, csr: Uint8Array | string): Promise<EnrollResult>;
  serverKeygen(labelName: string | null, client: EstClient, csr: Uint8Array | string): Promise<ServerKeygenResult>;
}

export interface EstServiceDeps {
  pool: DatabasePool;
  audit: AuditLog;
  clock: Clock;
  logger: Logger;
  keyEncryption: KeyEncryption;
  cas: Pick<CaService, "get">;
  profiles: Pick<ProfileService, "get">;
  issuance: Pick<IssuanceService, "issue" | "get">;
  requests: Pick<RequestService, "submitFromProtocol" | "getProtocolRequest">;
  labels: EstLabelService;
  secrets: EnrollmentSecretService;
  authentication: EstAuthentication;
  batcher: EstAuditBatcher;
  /** Signs encrypted server-generated keys (the listener's TLS certificate and key); null when there is none. */
  keyPackageSigner: () => KeyPackageSigner | null;
  settings: { retryAfterSeconds: number };
}

/** Labels, profiles and CA chains are read at most this often; admin changes reach every replica within it. */
const cacheMs = 5_000;

/** The associated data a pending serverkeygen key is sealed under: bound to its enrollment row. */
export function enrollmentKeyBinding(enrollmentId: string): string {
  return `chancery/est-enrollment-key/${enrollmentId}`;
}

/** What an enrollment is about to do, once the request is authenticated and its CSR read. */
interface Enrollment {
  readonly operation: EstOperation;
  readonly label: EstLabel;
  readonly identity: EstIdentity;
  readonly client: EstClient;
  /** The client's CSR. */
  readonly csr: ParsedCsr;
  /** SHA-256 of the client's CSR key: a retry is the same (label, requester, key). */
  readonly publicKeySha256: Buffer;
  /** What goes to the issuance: the client's CSR, or (serverkeygen) one for the key generated here. */
  readonly issuanceCsrDer: Uint8Array;
  readonly approved: ApprovedContent;
  readonly renewedSerialHex: string | null;
  readonly details: Record<string, AuditDetail>;
}

/**
 * The EST server (RFC 7030): the core side of every operation the front
 * end (protocols/est) answers. Authenticates the client per label, checks
 * the channel binding and re-enrollment rules, and issues through the one
 * issuance core, or queues the request for approval (202 + Retry-After,
 * issued on a retry of the same request once approved).
 */
export function createEstService(deps: EstServiceDeps): EstService {
  const { pool, clock, logger } = deps;
  const cacheOptions = { ttlMs: cacheMs, clock };
  // The default label is cached under "".
  const labels = createTtlCache(
    (name) => (name === "" ? deps.labels.getDefault() : deps.labels.getByName(name)),
    cacheOptions,
  );
  const profiles = createTtlCache(async (name) => (await deps.profiles.get(name)).profile, cacheOptions);
  const sanReader = createCsrSanReader({ db: pool, clock, ttlMs: cacheMs });
  /** The CSR's SANs as text; an otherName (a UPN) is named by the registry entry the label's profile allows. */
  async function requestedSans(label: EstLabel, csr: ParsedCsr): Promise<string[]> {
    return sanReader.sans(csr, (await profiles.get(label.profileName)).san.otherNames);
  }
  // RFC 7030 §4.1.3: the CA certificates the client needs, the label's CA first, up to the root.
  const caCertificates = createTtlCache(async (caId) => {
    const ca = await deps.cas.get(caId);
    if (!ca.certificateDer) throw new ChanceryError("unavailable", `CA ${ca.name} has no certificate`);
    return buildCertsOnlyPkcs7([ca.certificateDer, ...ca.chainDer]);
  }, cacheOptions);

  async function labelNamed(name: string | null): Promise<EstLabel> {
    const label = await labels.get(name ?? "");
    if (!label.enabled) throw new ChanceryError("not_found", `EST label ${label.name} is disabled`);
    return label;
  }

  /** The CSR read; its signature is checked by the issuance (or here, for serverkeygen, before its key is used). */
  function readClientCsr(input: Uint8Array | string, verify: boolean): ParsedCsr {
    return verify ? parseCsr(input) : readCsr(input).csr;
  }

  /** Refusals go to the audit log in the background, bounded (a flood of bad requests is not a flood of writes). */
  function noteRefusal(operation: string, labelName: string | null, client: EstClient, err: unknown): void {
    if (!isChanceryError(err)) return;
    if (!["unauthenticated", "permission_denied", "bad_csr", "policy_violation", "invalid_argument"].includes(err.code))
      return;
    deps.batcher.note({
      actor: "anonymous",
      action: "est.refuse",
      // By the name in the URL: the label may not exist (est-label:<id> names labels that do).
      target: "est",
      sourceIp: client.sourceIp,
      details: { label: labelName, operation, code: err.code, reason: err.message.slice(0, 500) },
    });
  }

  async function guarded<T>(
    operation: string,
    labelName: string | null,
    client: EstClient,
    work: () => Promise<T>,
  ): Promise<T> {
    try {
      return await work();
    } catch (err) {
      noteRefusal(operation, labelName, client, err);
      throw err;
    }
  }

  function checkBinding(label: EstLabel, csr: ParsedCsr, client: EstClient): void {
    if (!label.channelBindingRequired) return;
    const result = checkChannelBinding(csr.challengePassword, client.channelBinding);
    if (!result.ok) throw new ChanceryError("permission_denied", result.reason);
  }

  /** The issued certificate's DER (after an approval, the client collects it on its retry). */
  async function certificateDer(serialHex: string): Promise<Buffer> {
    return (await deps.issuance.get(serialHex)).der;
  }

  /**
   * Where a waiting enrollment stands: the request still pending (202), or
   * issued (the certificate now, recorded once), or rejected (403, recorded).
   */
  async function followPending(
    row: EstEnrollmentRow,
    enrollment: Pick<Enrollment, "label" | "identity" | "client">,
  ): Promise<{ kind: "pending" } | { kind: "issued"; serialHex: string; row: EstEnrollmentRow }> {
    if (!row.request_id) throw new ChanceryError("internal", `EST enrollment ${row.id} waits without a request`);
    const status = await deps.requests.getProtocolRequest(row.request_id);
    if (status.state === "pending") return { kind: "pending" };
    const now = clock.now();
    const base = {
      actor: row.requester,
      sourceIp: enrollment.client.sourceIp,
      details: { label: enrollment.label.name, operation: row.operation, requestId: row.request_id },
    };
    if (status.state === "issued" && status.certificateSerialHex) {
      const serialHex = status.certificateSerialHex;
      await pool.transaction(async (tx) => {
        if (!(await settleEstEnrollment(tx, row.id, { state: "issued", certificateSerialHex: serialHex }, now))) return;
        await deps.audit.appendInTransaction(tx, [
          {
            ...base,
            action: "est.enroll.collect",
            target: `certificate:${serialHex}`,
            details: { ...base.details, ...(row.replaces_serial_hex ? { replaces: row.replaces_serial_hex } : {}) },
          },
        ]);
        if (enrollment.identity.secret)
          await deps.secrets.settle(
            enrollment.identity.secret.id,
            `est-enrollment:${row.id}`,
            `certificate:${serialHex}`,
            tx,
          );
      });
      const settled = (await findEstEnrollment(pool, row.id)) ?? row;
      return { kind: "issued", serialHex, row: settled };
    }
    const reason = status.rejectionReason
      ? `the request was rejected by an approver: ${status.rejectionReason}`
      : `the request is ${status.state}`;
    await pool.transaction(async (tx) => {
      if (await settleEstEnrollment(tx, row.id, { state: "rejected", reason }, now))
        await deps.audit.appendInTransaction(tx, [
          {
            ...base,
            action: "est.enroll.reject",
            target: `est-enrollment:${row.id}`,
            details: { ...base.details, reason },
          },
        ]);
    });
    throw new ChanceryError("permission_denied", reason);
  }

  /**
   * The common part of simpleenroll, simplereenroll and serverkeygen once the
   * request is read: a retry of a waiting request follows the queue; a new
   * one spends the enrollment secret (if that is the credential), then is
   * issued at once or queued when the profile requires approval.
   * `serverKey` is the serverkeygen key (PKCS#8), kept sealed under the KEK
   * while the request waits and handed back with the certificate.
   */
  async function run(
    enrollment: Enrollment,
    serverKey: Buffer | null,
  ): Promise<{ kind: "pending" } | { kind: "issued"; serialHex: string; der: Buffer; serverKey: Buffer | null }> {
    const { label, identity, client } = enrollment;
    // Requests wait only under a profile that requires approval: only then can a retry find one waiting
    // (one query less per enrollment otherwise). Should approval be switched off while requests wait,
    // their retries are issued at once like any request, and the queued ones can be rejected.
    const approvalRequired = (await profiles.get(label.profileName)).requiresApproval.required;
    const waiting = approvalRequired
      ? await findPendingEstEnrollment(pool, label.id, identity.requester, enrollment.publicKeySha256)
      : null;
    if (waiting) {
      if (waiting.operation !== enrollment.operation)
        throw new ChanceryError(
          "invalid_argument",
          `a ${waiting.operation} request for this key is waiting for approval; retry that one`,
        );
      const followed = await followPending(waiting, enrollment);
      if (followed.kind === "pending") return followed;
      let key: Buffer | null = null;
      if (followed.row.sealed_private_key) {
        key = deps.keyEncryption.open(followed.row.sealed_private_key, enrollmentKeyBinding(followed.row.id));
        // Handed over now: nobody needs the server-generated key after the client has it.
        await clearEstEnrollmentKey(pool, followed.row.id, clock.now());
      } else if (followed.row.operation === "serverkeygen") {
        throw new ChanceryError(
          "failed_precondition",
          "the server-generated key of this request was already delivered; send a new serverkeygen request",
        );
      }
      return {
        kind: "issued",
        serialHex: followed.serialHex,
        der: await certificateDer(followed.serialHex),
        serverKey: key,
      };
    }

    // A new request. The enrollment secret is spent first, so two devices cannot both use it.
    const enrollmentId = randomUUID();
    const spentBy = `est-enrollment:${enrollmentId}`;
    const secret = identity.secret;
    if (secret) {
      // Checked and spent in one step: of two devices racing with it, one enrolls.
      const check = await deps.secrets.spend({
        scope: { kind: "est_label", id: label.id },
        secret: client.basic!.password,
        usedBy: spentBy,
        csrSubject: enrollment.csr.subjectString,
        csrSans: await requestedSans(label, enrollment.csr),
      });
      if (!check.ok) {
        if (check.reason === "binding_mismatch")
          throw new ChanceryError(
            "permission_denied",
            "the CSR's subject or SANs differ from those the enrollment secret was issued for",
          );
        throw new ChanceryError("unauthenticated", `the enrollment secret is ${check.reason}`);
      }
    }

    const issuanceInput = {
      caId: label.caId,
      profileName: label.profileName,
      csrDer: enrollment.issuanceCsrDer,
      approved: enrollment.approved,
      requester: identity.requester,
      sourceProtocol: "est" as const,
      sourceIp: client.sourceIp,
    };
    const details: Record<string, AuditDetail> = {
      label: label.name,
      operation: enrollment.operation,
      ...identity.details,
      ...enrollment.details,
      ...(enrollment.renewedSerialHex ? { replaces: enrollment.renewedSerialHex } : {}),
    };
    try {
      if (approvalRequired) {
        const request = await deps.requests.submitFromProtocol(issuanceInput);
        const sealed = serverKey ? deps.keyEncryption.seal(serverKey, enrollmentKeyBinding(enrollmentId)) : null;
        await pool.transaction(async (tx) => {
          const inserted = await insertEstEnrollment(tx, {
            id: enrollmentId,
            labelId: label.id,
            operation: enrollment.operation,
            requester: identity.requester,
            publicKeySha256: enrollment.publicKeySha256,
            state: "pending",
            requestId: request.id,
            certificateSerialHex: null,
            replacesSerialHex: enrollment.renewedSerialHex,
            sealedPrivateKey: sealed,
            sourceIp: client.sourceIp ?? null,
            now: clock.now(),
          });
          // A racing duplicate of the same request already waits: its request is the one that counts.
          if (!inserted) return;
          await deps.audit.appendInTransaction(tx, [
            {
              actor: identity.requester,
              sourceIp: client.sourceIp,
              action: "est.enroll.pending",
              target: `est-enrollment:${enrollmentId}`,
              details: { ...details, requestId: request.id },
            },
          ]);
        });
        return { kind: "pending" };
      }

      // The secret, the enrollment record and EST's audit event commit with the certificate: one
      // transaction for all of it (IssuanceCommitHook), and no certificate without its record.
      const issued = await deps.issuance.issue(issuanceInput, {
        async alsoInTransaction(tx, certificate) {
          if (secret) await deps.secrets.settle(secret.id, spentBy, `certificate:${certificate.serialHex}`, tx);
          const renewal = enrollment.renewedSerialHex !== null;
          // RFC 7030 §4.2.2: a re-enrollment records the old certificate as replaced by the new one.
          if (renewal)
            await insertEstEnrollment(tx, {
              id: enrollmentId,
              labelId: label.id,
              operation: enrollment.operation,
              requester: identity.requester,
              publicKeySha256: enrollment.publicKeySha256,
              state: "issued",
              requestId: null,
              certificateSerialHex: certificate.serialHex,
              replacesSerialHex: enrollment.renewedSerialHex,
              sealedPrivateKey: null,
              sourceIp: client.sourceIp ?? null,
              now: clock.now(),
            });
          return [
            {
              actor: identity.requester,
              sourceIp: client.sourceIp,
              action: renewal ? "est.reenroll" : "est.enroll",
              target: `certificate:${certificate.serialHex}`,
              details,
            },
          ];
        },
      });
      return { kind: "issued", serialHex: issued.serialHex, der: Buffer.from(issued.der), serverKey };
    } catch (err) {
      // A refused request gives the secret back, so a corrected request can use it; the audit log says so
      // (every state change audited), next to the refusal itself (est.refuse), in the same bounded batches.
      if (secret) {
        const givenBack = await deps.secrets.unspend(secret.id, spentBy).then(
          () => true,
          (unspendErr: unknown) => {
            logger.error({ err: unspendErr, secretId: secret.id }, "could not give back an EST secret");
            return false;
          },
        );
        if (givenBack)
          deps.batcher.note({
            actor: identity.requester,
            action: "enrollment_secret.give_back",
            target: `enrollment-secret:${secret.id}`,
            sourceIp: client.sourceIp,
            details: {
              label: label.name,
              operation: enrollment.operation,
              reason: (err instanceof Error ? err.message : String(err)).slice(0, 500),
            },
          });
      }
      throw err;
    }
  }

  function publicKeyHash(csr: ParsedCsr): Buffer {
    return createHash("sha256").update(csr.publicKeySpki).digest();
  }

  function retryAfter() {
    return { kind: "pending" as const, retryAfterSeconds: deps.settings.retryAfterSeconds };
  }

  return {
    label: labelNamed,

    async caCertificates(labelName) {
      return caCertificates.get((await labelNamed(labelName)).caId);
    },

    async csrAttributes(labelName) {
      const label = await labelNamed(labelName);
      return buildCsrAttributes(await profiles.get(label.profileName), {
        channelBindingRequired: label.channelBindingRequired,
      });
    },

    async enroll(labelName, client, csrInput) {
      return guarded("simpleenroll", labelName, client, async () => {
        const label = await labelNamed(labelName);
        const identity = await deps.authentication.authenticate(label, client);
        const csr = readClientCsr(csrInput, false);
        checkBinding(label, csr, client);
        const result = await run(
          {
            operation: "simpleenroll",
            label,
            identity,
            client,
            csr,
            publicKeySha256: publicKeyHash(csr),
            issuanceCsrDer: csr.der,
            // The client's subject and SANs, vouched for by its credential; the profile filters them.
            approved: { sans: (await requestedSans(label, csr)).map(sanOf) },
            renewedSerialHex: null,
            details: { channelBinding: label.channelBindingRequired ? client.channelBinding!.type : null },
          },
          null,
        );
        return result.kind === "pending" ? retryAfter() : { kind: "issued", certificateDer: result.der };
      });
    },

    async reenroll(labelName, client, csrInput) {
      return guarded("simplereenroll", labelName, client, async () => {
        const label = await labelNamed(labelName);
        const { identity, renewed } = await deps.authentication.authenticateRenewal(label, client);
        const csr = readClientCsr(csrInput, false);
        checkBinding(label, csr, client);
        const sans = await requestedSans(label, csr);
        // RFC 7030 §4.2.2: the same subject and SANs as the certificate renewed, unless the label allows a change.
        if (!label.reenrollSubjectChangeAllowed) {
          if (!subjectMatches(renewed.subject, csr.subjectString) || !sameSans(renewed.sans, sans))
            throw new ChanceryError(
              "permission_denied",
              `re-enrollment must keep the subject and SANs of the certificate renewed (${renewed.subject}); this label does not allow a change`,
            );
        }
        const result = await run(
          {
            operation: "simplereenroll",
            label,
            identity,
            client,
            csr,
            publicKeySha256: publicKeyHash(csr),
            issuanceCsrDer: csr.der,
            approved: label.reenrollSubjectChangeAllowed ? { sans: sans.map(sanOf) } : { sans: renewed.sans },
            renewedSerialHex: renewed.serialHex,
            details: {
              channelBinding: label.channelBindingRequired ? client.channelBinding!.type : null,
              rekeyed: !Buffer.from(csr.publicKeySpki).equals(Buffer.from(renewedKey(renewed.der))),
            },
          },
          null,
        );
        return result.kind === "pending" ? retryAfter() : { kind: "issued", certificateDer: result.der };
      });
    },

    async serverKeygen(labelName, client, csrInput) {
      return guarded("serverkeygen", labelName, client, async (): Promise<ServerKeygenResult> => {
        const label = await labelNamed(labelName);
        if (!label.serverKeygenAllowed)
          return {
            kind: "unsupported",
            reason: `server-side key generation is not enabled on EST label ${label.name}`,
          };
        const identity = await deps.authentication.authenticate(label, client);
        // Verified here: the CSR's key may become the key the generated one is encrypted to.
        const csr = readClientCsr(csrInput, true);
        checkBinding(label, csr, client);

        const delivery = readKeyDeliveryRequest(csr.der);
        if (delivery.symmetricKeyId && !delivery.asymmetricKeyId)
          return {
            kind: "unsupported",
            reason:
              "symmetric encryption of the key (DecryptKeyIdentifier, RFC 7030 §4.4.1.1) is not supported; ask for AsymmetricDecryptKeyIdentifier encryption or none",
          };
        let recipient = null;
        if (delivery.asymmetricKeyId) {
          recipient = findKeyRecipient(delivery.asymmetricKeyId, {
            csrPublicKeySpki: csr.publicKeySpki,
            clientCertificateDer: client.peerCertificatesDer[0] ?? null,
          });
          if (!recipient)
            throw new ChanceryError(
              "invalid_argument",
              "no key has this AsymmetricDecryptKeyIdentifier: name the CSR's public key or the TLS client certificate's by its key identifier (RFC 5280 §4.2.1.2 method 1)",
            );
          // Refused before anything is issued: a certificate whose key could not be delivered would be lost.
          if (!isEncryptableTo(recipient.publicKeySpki))
            throw new ChanceryError(
              "invalid_argument",
              "the key named by AsymmetricDecryptKeyIdentifier must be RSA or ECDSA (key transport or key agreement)",
            );
        }
        const signer = recipient ? deps.keyPackageSigner() : null;
        if (recipient && !signer)
          return { kind: "unsupported", reason: "this server has no key to sign an encrypted key package with" };

        const algorithm = keyAlgorithmFor(csr);
        const publicKeySha256 = publicKeyHash(csr);
        // A retry of a waiting request brings its own key back; only a new request needs a new key.
        const waiting = (await profiles.get(label.profileName)).requiresApproval.required
          ? await findPendingEstEnrollment(pool, label.id, identity.requester, publicKeySha256)
          : null;
        let generated: { privateKeyPkcs8: Buffer; csrDer: Uint8Array } | null = null;
        if (!waiting) {
          const pair = await generateKeyPairAsync(algorithm);
          const keySigner = createSoftwareSigner(pair.privateKeyPkcs8, { threadPool: false });
          // The subject goes in as approved content; the CSR only proves we hold the new key.
          generated = {
            privateKeyPkcs8: pair.privateKeyPkcs8,
            csrDer: await createCertificateSigningRequest({ signer: keySigner, subject: [] }),
          };
        }
        const result = await run(
          {
            operation: "serverkeygen",
            label,
            identity,
            client,
            csr,
            publicKeySha256,
            issuanceCsrDer: generated?.csrDer ?? csr.der,
            approved: { subject: csr.subject, sans: (await requestedSans(label, csr)).map(sanOf) },
            renewedSerialHex: null,
            details: {
              channelBinding: label.channelBindingRequired ? client.channelBinding!.type : null,
              keyAlgorithm: algorithm,
              keyEncrypted: recipient !== null,
            },
          },
          generated?.privateKeyPkcs8 ?? null,
        );
        if (result.kind === "pending") {
          generated?.privateKeyPkcs8.fill(0);
          return retryAfter();
        }
        const pkcs8 = result.serverKey;
        if (!pkcs8) throw new ChanceryError("internal", "serverkeygen issued without a key");
        try {
          const key =
            recipient && signer
              ? {
                  encrypted: true as const,
                  der: buildEncryptedKeyPackage({ privateKeyPkcs8: pkcs8, signer, recipient }),
                }
              : { encrypted: false as const, der: Buffer.from(pkcs8) };
          return { kind: "issued", certificateDer: result.der, key };
        } finally {
          pkcs8.fill(0);
        }
      });
    },
  };
}

/** The SubjectPublicKeyInfo of a certificate we issued (for "rekeyed" in the audit). */
function renewedKey(der: Buffer): Uint8Array {
  return readCertificate(der).publicKey.der;
}

/**
 * The key a serverkeygen client gets: the type and size of the key in its
 * CSR (RFC 7030 §4.4.1: the CSR is a template; its key is not certified).
 */
function keyAlgorithmFor(csr: ParsedCsr): KeyAlgorithm {
  const key = csr.publicKey;
  switch (key.type) {
    case "ec":
      if (key.curve === "P-256") return "ecdsa-p256";
      if (key.curve === "P-384") return "ecdsa-p384";
      break;
    case "rsa":
      if (key.bits === 2048) return "rsa-2048";
      if (key.bits === 3072) return "rsa-3072";
      if (key.bits === 4096) return "rsa-4096";
      break;
    case "ed25519":
      return "ed25519";
    default:
      break;
  }
  throw new ChanceryError(
    "invalid_argument",
    "serverkeygen makes keys of the CSR's key type: ECDSA P-256 or P-384, RSA 2048/3072/4096 or Ed25519",
  );
}
