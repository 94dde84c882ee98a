import { AsyncLocalStorage } from "node:async_hooks";
import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { CommonQueryMethods, DatabasePool } from "slonik";
import { z } from "zod";
import {
  countRequestsByStatus,
  findRequestById,
  findSealedRequestKey,
  insertApproval,
  insertRequest,
  listRequests,
  lockRequestById,
  markRequestIssued,
  markRequestRejected,
  type RequestRow,
  type RequestScope,
  updateRequestChoice,
} from "../../store/request-store.ts";
import { isUniqueViolation } from "../../store/unique-violation.ts";
import type { AuditEventInput } from "../audit/audit-event.ts";
import type { AuditLog } from "../audit/audit-log.ts";
import type { CaService } from "../ca/ca-service.ts";
import type { CertificateAuthority } from "../ca/certificate-authority.ts";
import type { KeyEncryption } from "../ca/key-encryption.ts";
import { createSoftwareSigner } from "../ca/software-signer.ts";
import type { Clock } from "../clock.ts";
import { ChanceryError } from "../errors.ts";
import { atLeast, type Role } from "../identity/role.ts";
import { createCsrSanReader } from "../issuance/csr-san-reader.ts";
import type { IssuanceService } from "../issuance/issuance-service.ts";
import { createPolicyChecker } from "../issuance/policy-check.ts";
import { generateKeyPairAsync } from "../keys/generate-key-pair.ts";
import type { KeyAlgorithm } from "../keys/key-algorithm.ts";
import { keysetPage } from "../page-cursor.ts";
import type { ProfileService, StoredProfile } from "../profiles/profile-service.ts";
import type { RegistryService } from "../registry/registry-service.ts";
import { resolveProfile } from "../registry/resolve-profile.ts";
import { lowerCaseUuidPattern } from "../uuid-pattern.ts";
import { buildPkcs12 } from "../x509/build-pkcs12.ts";
import { createCertificateSigningRequest } from "../x509/certificate-signing-request.ts";
import { subjectAltNameKey } from "../x509/general-name.ts";
import { readCertificate } from "../x509/parse-certificate.ts";
import { readCsr } from "../x509/parse-csr.ts";
import { createProfileChangeRequests, proposalOf } from "./profile-change-requests.ts";
import { createProtocolRequests } from "./protocol-requests.ts";
import {
  type ApproveRequestInput,
  type ProtocolRequestStatus,
  type RequestCaller,
  type RequestKind,
  type RequestPage,
  type RequestRecord,
  type RequestState,
  requestKinds,
  requestStates,
  type SubmitProfileChangeInput,
  type SubmitProfileDeletionInput,
  type SubmitProtocolRequestInput,
  type SubmitRequestInput,
} from "./request.ts";
import {
  approvedContentOf,
  checkRequestContent,
  hasContent,
  type RequestContent,
  sameContent,
} from "./request-content.ts";

export interface RequestService {
  /** A certificate request: any signed-in user; the request starts pending. */
  submit(input: SubmitRequestInput, caller: RequestCaller): Promise<RequestRecord>;
  /** A change to a profile: admins only, validated now as an update would be (see profile-change-requests.ts). */
  submitProfileChange(input: SubmitProfileChangeInput, caller: RequestCaller): Promise<RequestRecord>;
  /** The deletion of a profile: admins only, refused while certificates issued under it exist. */
  submitProfileDeletion(input: SubmitProfileDeletionInput, caller: RequestCaller): Promise<RequestRecord>;
  /**
   * A certificate request from a protocol front end (an ACME order whose
   * profile requires approval): a system call, checked now as an issuance
   * would be (see protocol-requests.ts), then pending.
   */
  submitFromProtocol(input: SubmitProtocolRequestInput): Promise<RequestRecord>;
  /** A system read for the front end polling its request; not_found unless it is a protocol request. */
  getProtocolRequest(id: string): Promise<ProtocolRequestStatus>;
  /** not_found for a request the caller may not see. */
  get(id: string, caller: RequestCaller): Promise<RequestRecord>;
  /** Oldest first (queue order), among the requests the caller may see. */
  list(
    options: {
      state?: RequestState | undefined;
      kind?: RequestKind | undefined;
      pageSize?: number | undefined;
      pageToken?: string | undefined;
    },
    caller: RequestCaller,
  ): Promise<RequestPage>;
  counts(caller: RequestCaller): Promise<Record<RequestState, number>>;
  /**
   * Records the caller's approval, and issues (or applies the profile
   * change) once the profile's number of distinct approvers is reached.
   */
  approve(id: string, input: ApproveRequestInput, caller: RequestCaller): Promise<RequestRecord>;
  /** Final. */
  reject(id: string, reason: string, caller: RequestCaller): Promise<RequestRecord>;
  /** DER PKCS#12 of the server-generated key, the certificate and its chain. The requester and admins. */
  exportPkcs12(id: string, passphrase: string, caller: RequestCaller): Promise<Buffer>;
}

const maxCommentLength = 2000;
const maxReasonLength = 1000;
const minPassphraseLength = 8;

/**
 * The approval queue (the admin plane's requests and approvals).
 *
 * Who sees what: a user their own requests; an operator their own, the
 * certificate requests no one has chosen a CA for yet (pending, or rejected
 * before any approval), and those going through a CA assigned to them; an
 * admin everything, profile changes included. A request or CA the caller
 * may not see is not_found, as in the CA and certificate services.
 *
 * Profile changes and deletions (admins only) follow the same rules of
 * distinct approvers; profile-change-requests.ts has their own steps. So do
 * certificate requests a protocol front end submitted (an ACME order whose
 * profile requires approval): their CA, profile and content are fixed at
 * submission and their requester is the protocol client, so operators see
 * them through their CAs; protocol-requests.ts has their steps.
 *
 * Approving: operators and admins, never the requester (refused and
 * audited). The first approver chooses CA (operators only among theirs) and
 * profile, and for a free-form request the content; these are then fixed,
 * and a later approver naming others is refused. A profile with
 * requiresApproval {required: true, approvers: N} issues after N distinct
 * approvers (the count is read from the profile at each approval); any
 * other issues on the first approval. Each approval runs in one transaction
 * holding the request row lock (SELECT ... FOR UPDATE), and the final one
 * issues inside it, so two approvers at the same moment queue on the lock
 * and the certificate is issued once. A final approval whose issuance fails
 * (policy, disabled CA) rolls back whole: the approval is not recorded.
 *
 * A server-generated key is generated at issuance, used for a CSR signed
 * with it, and stored sealed under the KEK bound to the request id, never
 * in plaintext.
 */
export function createRequestService(deps: {
  pool: DatabasePool;
  audit: AuditLog;
  clock: Clock;
  logger: Logger;
  keyEncryption: KeyEncryption;
  cas: CaService;
  profiles: ProfileService;
  /** The approver's choice is checked against the profile with its registry references resolved. */
  registry: Pick<RegistryService, "snapshot">;
  issuance: IssuanceService;
}): RequestService {
  const { pool, audit, clock, keyEncryption } = deps;
  const changes = createProfileChangeRequests({ pool, audit, clock, profiles: deps.profiles });
  const protocol = createProtocolRequests(deps);
  // A request names a CSR's otherNames by the registry as it is now (no TTL): the admin plane is no hot path,
  // and an admin who has just registered an otherName entry expects the next request to carry it.
  const sanReader = createCsrSanReader({ db: pool, clock, ttlMs: 0 });

  function scopeOf(caller: RequestCaller): RequestScope {
    if (caller.role === "admin") return { kind: "all" };
    if (caller.role === "operator")
      return { kind: "own-unassigned-or-cas", userId: caller.userId, caIds: caller.assignedCaIds };
    return { kind: "own", userId: caller.userId };
  }

  function canSee(caller: RequestCaller, row: RequestRow): boolean {
    if (caller.role === "admin" || row.requester_id === caller.userId) return true;
    return (
      caller.role === "operator" &&
      row.kind === "certificate" &&
      (row.ca_id === null || caller.assignedCaIds.includes(row.ca_id))
    );
  }

  async function visible(id: string, caller: RequestCaller): Promise<RequestRow> {
    const row = isUuid(id) ? await findRequestById(pool, id) : null;
    if (!row || !canSee(caller, row)) throw notFound(id);
    return row;
  }

  const actorOf = (caller: RequestCaller) => ({ actor: `user:${caller.userId}`, sourceIp: caller.sourceIp });

  /** The CSR for a server-generated key: made with a software signer over the fresh key (RFC 2986). */
  async function csrForNewKey(
    algorithm: KeyAlgorithm,
    commonName: string | null,
  ): Promise<{ csrDer: Uint8Array; privateKeyPkcs8: Buffer }> {
    const pair = await generateKeyPairAsync(algorithm);
    const signer = createSoftwareSigner(pair.privateKeyPkcs8);
    const csrDer = await createCertificateSigningRequest({
      signer,
      subject: commonName !== null ? [{ type: "CN", value: commonName }] : [],
    });
    return { csrDer, privateKeyPkcs8: pair.privateKeyPkcs8 };
  }

  /**
   * Whether the chosen CA and profile could issue this content, checked when
   * the first of several approvers fixes them: a choice the profile refuses
   * would otherwise surface only at the last approval and leave the request
   * stuck. A server-generated key is stood in for by a throwaway key of the
   * same algorithm.
   */
  async function checkChoiceCanIssue(
    tx: CommonQueryMethods,
    ca: CertificateAuthority,
    stored: StoredProfile,
    content: RequestContent,
  ) {
    let csrDer: Uint8Array;
    if (content.csrDer) csrDer = content.csrDer;
    else {
      const made = await csrForNewKey(content.keyAlgorithm!, content.commonName);
      made.privateKeyPkcs8.fill(0);
      csrDer = made.csrDer;
    }
    // The signature was checked when the CSR entered the request (or we made it just now).
    const { csr } = readCsr(csrDer);
    const issuer = readCertificate(ca.certificateDer!);
    const resolved = resolveProfile(stored.profile, await deps.registry.snapshot(tx), "failed_precondition");
    createPolicyChecker(resolved).check({
      csr,
      request: { approved: approvedContentOf(content) },
      issuer: { notBefore: issuer.notBefore, notAfter: issuer.notAfter, publicKeySpki: issuer.publicKey.der },
      now: clock.now(),
    });
  }

  return {
    async submit(input, caller) {
      const comment = checkComment(input.comment ?? "");
      let content: RequestContent;
      if (input.freeForm) {
        if (hasContent(input))
          throw new ChanceryError(
            "invalid_argument",
            "a free-form request carries only a comment; the approver fills in common name, SANs and key",
          );
        if (comment.trim() === "")
          throw new ChanceryError("invalid_argument", "a free-form request needs a comment saying what is wanted");
        content = { commonName: null, sans: [], keyAlgorithm: null, csrDer: null };
      } else {
        content = await checkRequestContent(input, sanReader);
      }
      const id = randomUUID();
      const now = clock.now();
      await pool.transaction(async (tx) => {
        await insertRequest(tx, {
          id,
          kind: "certificate",
          requesterId: caller.userId,
          freeForm: Boolean(input.freeForm),
          commonName: content.commonName,
          sans: content.sans,
          keyAlgorithm: content.keyAlgorithm,
          csrDer: content.csrDer,
          comment,
          profileName: null,
          requiredApprovals: null,
          payload: null,
          createdAt: now,
        });
        await audit.appendInTransaction(tx, [
          {
            ...actorOf(caller),
            action: "request.submit",
            target: `request:${id}`,
            occurredAt: now,
            details: {
              freeForm: Boolean(input.freeForm),
              commonName: content.commonName,
              sans: content.sans.map(subjectAltNameKey),
              key: content.keyAlgorithm ?? (content.csrDer ? "csr" : null),
            },
          },
        ]);
      });
      return toRecord(await visible(id, caller));
    },

    async submitProfileChange(input, caller) {
      const comment = checkComment(input.comment ?? "");
      return toRecord(await visible(await changes.submitChange(input, comment, caller), caller));
    },

    async submitProfileDeletion(input, caller) {
      const comment = checkComment(input.comment ?? "");
      return toRecord(await visible(await changes.submitDeletion(input, comment, caller), caller));
    },

    async submitFromProtocol(input) {
      const id = await protocol.submit(input);
      const row = await findRequestById(pool, id);
      if (!row) throw new ChanceryError("internal", `request ${id} vanished after submission`);
      return toRecord(row);
    },

    async getProtocolRequest(id) {
      return protocol.status(id);
    },

    async get(id, caller) {
      return toRecord(await visible(id, caller));
    },

    async list(options, caller) {
      const pageSize = checkPageSize(options.pageSize);
      const state = options.state ?? null;
      const kind = options.kind ?? null;
      const cursor = options.pageToken ? decodePageToken(options.pageToken, state, kind) : null;
      const rows = await listRequests(pool, {
        scope: scopeOf(caller),
        status: state,
        kind,
        after: cursor ? { createdAt: cursor.t, id: cursor.i } : null,
        limit: pageSize + 1,
      });
      const { shown, nextPageToken } = keysetPage(rows, pageSize, (last) =>
        encodePageToken({ s: state ?? "", k: kind ?? "", t: last.cursor_time, i: last.id }),
      );
      return { requests: shown.map(toRecord), nextPageToken };
    },

    async counts(caller) {
      return countRequestsByStatus(pool, scopeOf(caller));
    },

    async approve(id, input, caller) {
      requireRole(caller, "operator", "approve requests");
      // Parse what the caller sent before taking any lock.
      const offered = hasContent(input.content) ? await checkRequestContent(input.content!, sanReader) : null;
      const by = actorOf(caller);
      // The CA, the profile and the issuance are read and written through
      // their own connections while this transaction holds the request row:
      // the issuance commits in a transaction of its own (the group
      // committer) before this one records its serial. slonik refuses pool
      // queries inside a transaction's async context (they would not see its
      // uncommitted writes), so those calls run in the context from before it.
      const outside = AsyncLocalStorage.snapshot();
      let refusedSelfApproval = false;
      // A profile change that could not be applied: committed as failed, then answered.
      let failure: ChanceryError | null = null;
      try {
        await pool.transaction(async (tx) => {
          const row = isUuid(id) ? await lockRequestById(tx, id) : null;
          if (!row || !canSee(caller, row)) throw notFound(id);
          if (row.requester_id === caller.userId) {
            refusedSelfApproval = true;
            throw new ChanceryError("permission_denied", "the requester cannot approve their own request");
          }
          if (row.status !== "pending")
            throw new ChanceryError(
              "failed_precondition",
              `request requests/${id} is ${row.status}; only pending requests can be approved`,
            );
          if (row.approvals.some((a) => a.approver_id === caller.userId))
            throw new ChanceryError(
              "already_exists",
              "you have already approved this request; it needs a different approver",
            );
          if (row.kind !== "certificate") {
            failure = await changes.approveLocked(tx, row, input, caller, outside);
            return;
          }
          if (row.protocol_requester !== null) {
            await protocol.approveLocked(tx, row, input, caller, outside);
            return;
          }

          const first = row.ca_id === null;
          let caId: string;
          let profileName: string;
          let content: RequestContent;
          if (first) {
            if (!input.caId || !input.profileName)
              throw new ChanceryError(
                "invalid_argument",
                "the first approver chooses the certificate authority and the profile",
              );
            caId = input.caId;
            profileName = input.profileName;
            // A CA an operator may not use is hidden as not_found, as the CA and certificate services hide it.
            if (!isUuid(caId) || !canUseCa(caller, caId)) throw caNotFound(caId);
            if (row.free_form) {
              if (!offered)
                throw new ChanceryError(
                  "invalid_argument",
                  "a free-form request needs its content from the first approver: common_name and/or " +
                    "subject_alt_names, and key_algorithm or csr_pem",
                );
              content = offered;
            } else {
              if (offered)
                throw new ChanceryError(
                  "invalid_argument",
                  "the requester set this request's content; only free-form requests take it from the approver",
                );
              content = contentOf(row);
            }
          } else {
            caId = row.ca_id!;
            profileName = row.profile_name!;
            if (input.caId && input.caId !== caId)
              throw new ChanceryError(
                "failed_precondition",
                `the first approver chose CA certificateAuthorities/${caId}; approve that choice or reject the request`,
              );
            if (input.profileName && input.profileName !== profileName)
              throw new ChanceryError(
                "failed_precondition",
                `the first approver chose profile "${profileName}"; approve that choice or reject the request`,
              );
            // Unreachable through canSee, kept so the rule stands on its own.
            if (!canUseCa(caller, caId)) throw notFound(id);
            content = contentOf(row);
            if (offered && !row.free_form)
              throw new ChanceryError(
                "invalid_argument",
                "the requester set this request's content; only free-form requests take it from the approver",
              );
            if (offered && !sameContent(offered, content))
              throw new ChanceryError(
                "failed_precondition",
                "the first approver fixed this request's content; approve it as it is or reject the request",
              );
          }

          const ca = await outside(() => deps.cas.get(caId));
          if (ca.status !== "active" || !ca.certificateDer)
            throw new ChanceryError("failed_precondition", `CA ${ca.name} is ${ca.status} and cannot issue`);
          const stored = await outside(() => deps.profiles.get(profileName));
          const rule = stored.profile.requiresApproval;
          const required = rule.required ? rule.approvers : 1;
          const count = row.approvals.length + 1;
          const now = clock.now();

          await insertApproval(tx, {
            requestId: id,
            requesterId: row.requester_id,
            approverId: caller.userId,
            approvedAt: now,
          });
          await updateRequestChoice(
            tx,
            id,
            {
              caId,
              profileName,
              requiredApprovals: required,
              commonName: content.commonName,
              sans: content.sans,
              keyAlgorithm: content.keyAlgorithm,
              csrDer: content.csrDer,
            },
            now,
          );
          const events: AuditEventInput[] = [
            {
              ...by,
              action: "request.approve",
              target: `request:${id}`,
              occurredAt: now,
              details: { caId, profile: profileName, approvals: count, requiredApprovals: required },
            },
          ];

          if (count < required) {
            if (first) await checkChoiceCanIssue(tx, ca, stored, content);
          } else {
            // No audit event may be appended before this call: the issuance
            // commits in its own transaction and needs the audit head, which
            // this one would otherwise hold while waiting for it.
            let privateKeyPkcs8: Buffer | null = null;
            let csrDer: Uint8Array;
            if (content.csrDer) csrDer = content.csrDer;
            else {
              const made = await csrForNewKey(content.keyAlgorithm!, content.commonName);
              csrDer = made.csrDer;
              privateKeyPkcs8 = made.privateKeyPkcs8;
            }
            const issued = await outside(() =>
              deps.issuance.issue({
                caId,
                profileName,
                csrDer,
                approved: approvedContentOf(content),
                requester: `user:${row.requester_id}`,
                sourceProtocol: "admin",
                sourceIp: caller.sourceIp,
              }),
            );
            try {
              const sealed = privateKeyPkcs8 ? keyEncryption.seal(privateKeyPkcs8, requestKeyBinding(id)) : null;
              privateKeyPkcs8?.fill(0);
              await markRequestIssued(tx, id, {
                serialHex: issued.serialHex,
                sealedPrivateKey: sealed,
                updatedAt: now,
              });
              events.push({
                ...by,
                action: "request.issue",
                target: `request:${id}`,
                occurredAt: now,
                details: {
                  serialHex: issued.serialHex,
                  caId,
                  profile: profileName,
                  requester: `user:${row.requester_id}`,
                  serverKey: sealed !== null,
                  approvers: [...row.approvals.map((a) => a.approver_id), caller.userId],
                },
              });
              await audit.appendInTransaction(tx, events);
            } catch (err) {
              // The certificate is committed (with its own certificate.issue
              // event); only the request's record of it failed.
              deps.logger.error(
                { err, requestId: id, serialHex: issued.serialHex },
                "certificate issued for a request, but the request could not be marked issued",
              );
              throw err;
            }
            return;
          }
          await audit.appendInTransaction(tx, events);
        });
      } catch (err) {
        if (refusedSelfApproval)
          await audit.append([
            {
              ...by,
              action: "request.approve_denied",
              target: `request:${id}`,
              details: { reason: "the requester cannot approve their own request" },
            },
          ]);
        if (isUniqueViolation(err))
          throw new ChanceryError("already_exists", "you have already approved this request", { cause: err });
        throw err;
      }
      if (failure) throw failure;
      return toRecord(await visible(id, caller));
    },

    async reject(id, reason, caller) {
      requireRole(caller, "operator", "reject requests");
      const text = typeof reason === "string" ? reason.trim() : "";
      if (text === "") throw new ChanceryError("invalid_argument", "reason is required to reject a request");
      if (text.length > maxReasonLength)
        throw new ChanceryError("invalid_argument", `reason must be at most ${maxReasonLength} characters`);
      await pool.transaction(async (tx) => {
        const row = isUuid(id) ? await lockRequestById(tx, id) : null;
        if (!row || !canSee(caller, row)) throw notFound(id);
        if (row.status !== "pending")
          throw new ChanceryError(
            "failed_precondition",
            `request requests/${id} is ${row.status}; only pending requests can be rejected`,
          );
        // Both unreachable through canSee, kept so the rules stand on their own.
        if (row.ca_id !== null && !canUseCa(caller, row.ca_id)) throw notFound(id);
        if (row.kind !== "certificate" && caller.role !== "admin")
          throw new ChanceryError("permission_denied", "only admins reject profile changes");
        const now = clock.now();
        await markRequestRejected(tx, id, { reason: text, rejectedBy: caller.userId, updatedAt: now });
        await audit.appendInTransaction(tx, [
          {
            ...actorOf(caller),
            action: "request.reject",
            target: `request:${id}`,
            occurredAt: now,
            details: { kind: row.kind, reason: text, approvals: row.approvals.length },
          },
        ]);
      });
      return toRecord(await visible(id, caller));
    },

    async exportPkcs12(id, passphrase, caller) {
      const row = await visible(id, caller);
      if (row.requester_id !== caller.userId && caller.role !== "admin")
        throw new ChanceryError("permission_denied", "only the requester and admins can export the key");
      if (row.status !== "issued")
        throw new ChanceryError("failed_precondition", `request requests/${id} is ${row.status}, not issued`);
      if (!row.has_server_key)
        throw new ChanceryError(
          "failed_precondition",
          "the requester holds this certificate's key (the request came with a CSR); there is nothing to export",
        );
      if (typeof passphrase !== "string" || passphrase.length < minPassphraseLength)
        throw new ChanceryError(
          "invalid_argument",
          `passphrase must be at least ${minPassphraseLength} characters; it is all that protects the exported key`,
        );
      const sealed = await findSealedRequestKey(pool, id);
      if (!sealed) throw new ChanceryError("internal", "the request's sealed key is missing");
      const certificate = await deps.issuance.getBySerial(row.certificate_serial_hex!);
      const ca = await deps.cas.get(row.ca_id!);
      const privateKeyPkcs8 = keyEncryption.open(sealed, requestKeyBinding(id));
      let pkcs12: Buffer;
      try {
        pkcs12 = await buildPkcs12({
          privateKeyPkcs8,
          certificateDer: certificate.der,
          chainDer: ca.certificateDer ? [ca.certificateDer, ...ca.chainDer] : [...ca.chainDer],
          passphrase,
          friendlyName: row.common_name ?? undefined,
        });
      } finally {
        privateKeyPkcs8.fill(0);
      }
      await audit.append([
        {
          ...actorOf(caller),
          action: "request.export_pkcs12",
          target: `request:${id}`,
          details: { serialHex: row.certificate_serial_hex },
        },
      ]);
      return pkcs12;
    },
  };
}

/** The associated data a request's sealed key is bound to: it opens only for this request. */
export function requestKeyBinding(requestId: string): string {
  return `chancery/request-key/${requestId}`;
}

function requireRole(caller: RequestCaller, needed: Role, what: string): void {
  if (!atLeast(caller.role, needed)) throw new ChanceryError("permission_denied", `only operators and admins ${what}`);
}

/** Operators act only through the CAs assigned to them; admins through any. */
function canUseCa(caller: RequestCaller, caId: string): boolean {
  return caller.role === "admin" || (caller.role === "operator" && caller.assignedCaIds.includes(caId));
}

function contentOf(row: RequestRow): RequestContent {
  return {
    commonName: row.common_name,
    sans: row.sans,
    keyAlgorithm: row.key_algorithm as KeyAlgorithm | null,
    csrDer: row.csr_der,
  };
}

function toRecord(row: RequestRow): RequestRecord {
  return {
    id: row.id,
    kind: row.kind,
    requesterId: row.requester_id,
    protocolRequester: row.protocol_requester,
    sourceProtocol: row.source_protocol,
    sourceIp: row.source_ip,
    notBefore: row.not_before === null ? null : new Date(row.not_before),
    notAfter: row.not_after === null ? null : new Date(row.not_after),
    subject: row.subject,
    state: row.status,
    freeForm: row.free_form,
    commonName: row.common_name,
    sans: row.sans,
    keyAlgorithm: row.key_algorithm as KeyAlgorithm | null,
    csrDer: row.csr_der,
    comment: row.comment,
    caId: row.ca_id,
    profileName: row.profile_name,
    profileChange: proposalOf(row),
    requiredApprovals: row.required_approvals,
    approvals: row.approvals.map((a) => ({ approverId: a.approver_id, approvedAt: new Date(a.approved_at) })),
    rejectionReason: row.rejection_reason,
    rejectedBy: row.rejected_by,
    failureReason: row.failure_reason,
    certificateSerialHex: row.certificate_serial_hex,
    certificateDer: row.certificate_der,
    hasServerKey: row.has_server_key,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

function checkComment(comment: string): string {
  if (typeof comment !== "string") throw new ChanceryError("invalid_argument", "comment must be text");
  if (comment.length > maxCommentLength)
    throw new ChanceryError("invalid_argument", `comment must be at most ${maxCommentLength} characters`);
  return comment;
}

/** AIP-158: 0 or absent means 100; more than 1000 is cut to 1000; negative is an error. */
function checkPageSize(value: number | undefined): number {
  if (value === undefined || value === 0) return 100;
  if (!Number.isInteger(value) || value < 0)
    throw new ChanceryError("invalid_argument", "page_size must be a non-negative integer");
  return Math.min(value, 1000);
}

function isUuid(value: string): boolean {
  return typeof value === "string" && lowerCaseUuidPattern.test(value);
}

function notFound(id: string): ChanceryError {
  return new ChanceryError("not_found", `no request requests/${id}`);
}

function caNotFound(caId: string): ChanceryError {
  return new ChanceryError("not_found", `no CA certificateAuthorities/${caId}`);
}

const pageCursor = z
  .object({
    s: z.enum(["", ...requestStates]),
    // Absent in tokens from before request kinds: every kind.
    k: z.enum(["", ...requestKinds]).optional(),
    t: z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/),
    i: z.string().regex(lowerCaseUuidPattern),
  })
  .strict();

type PageCursor = z.infer<typeof pageCursor>;

function encodePageToken(cursor: PageCursor): string {
  return Buffer.from(JSON.stringify(cursor), "utf8").toString("base64url");
}

function decodePageToken(token: string, state: RequestState | null, kind: RequestKind | null): PageCursor {
  let parsed: z.SafeParseReturnType<unknown, PageCursor> | undefined;
  try {
    parsed = pageCursor.safeParse(JSON.parse(Buffer.from(token, "base64url").toString("utf8")));
  } catch {
    parsed = undefined;
  }
  if (!parsed?.success) throw new ChanceryError("invalid_argument", "page_token is not one this list returned");
  if (parsed.data.s !== (state ?? ""))
    throw new ChanceryError("invalid_argument", "page_token belongs to a listing with a different state filter");
  if ((parsed.data.k ?? "") !== (kind ?? ""))
    throw new ChanceryError("invalid_argument", "page_token belongs to a listing with a different kind filter");
  return parsed.data;
}
