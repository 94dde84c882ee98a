import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { DatabasePool, DatabaseTransactionConnection } from "slonik";
import {
  findRequestById,
  insertApproval,
  insertProtocolRequest,
  markRequestIssued,
  type RequestRow,
  updateRequiredApprovals,
} from "../../store/request-store.ts";
import type { AuditEventInput } from "../audit/audit-event.ts";
import type { AuditLog } from "../audit/audit-log.ts";
import type { CaService } from "../ca/ca-service.ts";
import type { Clock } from "../clock.ts";
import { ChanceryError } from "../errors.ts";
import type { ApprovedContent } from "../issuance/issuance-request.ts";
import type { IssuanceService } from "../issuance/issuance-service.ts";
import { createPolicyChecker } from "../issuance/policy-check.ts";
import type { ProfileService } from "../profiles/profile-service.ts";
import type { RegistryService } from "../registry/registry-service.ts";
import { resolveProfile } from "../registry/resolve-profile.ts";
import { lowerCaseUuidPattern } from "../uuid-pattern.ts";
import { subjectAltNameKey } from "../x509/general-name.ts";
import { readCertificate } from "../x509/parse-certificate.ts";
import { parseCsr } from "../x509/parse-csr.ts";
import { type Outside, requiredApprovalsFor } from "./profile-change-requests.ts";
import {
  type ApproveRequestInput,
  type ProtocolRequestStatus,
  protocolSources,
  type RequestCaller,
  type SubmitProtocolRequestInput,
} from "./request.ts";
import { hasContent } from "./request-content.ts";

export interface ProtocolRequests {
  /** Checks the request as an issuance would, stores it pending and audits it; returns its id. */
  submit(input: SubmitProtocolRequestInput): Promise<string>;
  /** not_found unless `id` is a protocol request. */
  status(id: string): Promise<ProtocolRequestStatus>;
  /**
   * One operator's or admin's approval of a protocol request, inside
   * approve()'s transaction with the request row locked and the queue's
   * common checks made (visible to the caller, pending, not yet approved by
   * them). Issues on the approval that reaches the profile's number.
   */
  approveLocked(
    tx: DatabaseTransactionConnection,
    row: RequestRow,
    input: ApproveRequestInput,
    caller: RequestCaller,
    outside: Outside,
  ): Promise<void>;
}

/** As migrations/0017 checks it: "<scheme>:<printable ASCII>", at most 512 characters. */
const requesterPattern = /^([a-z][a-z0-9-]*):[\x21-\x7e]+$/;
const maxRequesterLength = 512;
const maxSourceIpLength = 64;

/**
 * Certificate requests that protocol front ends put in the approval queue:
 * an ACME order whose profile requires approval (later a SCEP PENDING or an
 * EST 202 enrollment). Their requester is the protocol client
 * ("acme-account:<uuid>"), not a gateway user.
 *
 * Everything the issuance will use is fixed at submission: CA, profile, CSR,
 * the content the front end validated (ACME: the order's identifiers), and
 * the requested validity. The whole issuance policy is checked then (CSR
 * signature, CA state, the CA's allowed profiles, the profile's rules), so a
 * request that could never be issued is refused at once with the code an
 * issuance would answer (bad_csr, not_found, failed_precondition,
 * policy_violation) and nothing is stored.
 *
 * Approvers (operators through their CAs, admins) only approve or reject:
 * naming another CA or profile, or giving content, is refused. The approval
 * that reaches the profile's number of distinct approvers issues through the
 * issuance service with the stored CSR and content, as the protocol client
 * over its protocol (the certificate's requester and source protocol), under
 * approve()'s row lock and transaction (see request-service.ts).
 */
export function createProtocolRequests(deps: {
  pool: DatabasePool;
  audit: AuditLog;
  clock: Clock;
  cas: CaService;
  profiles: ProfileService;
  registry: Pick<RegistryService, "snapshot">;
  issuance: IssuanceService;
  logger: Logger;
}): ProtocolRequests {
  const { pool, audit, clock } = deps;

  /**
   * What the issuance service checks before signing, checked now (loadContext
   * and the policy check in issuance-service.ts). Returns the common name the
   * certificate would carry, for approvers to read, and the approvals the
   * profile asks for now (each approval reads the rule again: it may change
   * while the request waits).
   */
  async function checkCanIssue(
    input: SubmitProtocolRequestInput,
  ): Promise<{ commonName: string | null; required: number }> {
    // RFC 2986 §3: the proof of possession, before anything from the CSR is used.
    const csr = parseCsr(input.csrDer);
    if (!lowerCaseUuidPattern.test(input.caId))
      throw new ChanceryError("not_found", `no CA certificateAuthorities/${input.caId}`);
    const ca = await deps.cas.get(input.caId);
    if (ca.status !== "active" || !ca.certificateDer)
      throw new ChanceryError("failed_precondition", `CA ${ca.name} is ${ca.status} and cannot issue`);
    if (ca.allowedProfiles.length > 0 && !ca.allowedProfiles.includes(input.profileName))
      throw new ChanceryError(
        "policy_violation",
        `profile ${input.profileName} is not allowed on CA ${ca.name} (allowed: ${ca.allowedProfiles.join(", ")})`,
      );
    const stored = await deps.profiles.get(input.profileName);
    if (stored.profile.basicConstraints.ca && !ca.allowedProfiles.includes(input.profileName))
      throw new ChanceryError(
        "policy_violation",
        `profile ${input.profileName} makes CA certificates and must be listed in CA ${ca.name}'s allowed profiles`,
      );
    const resolved = resolveProfile(stored.profile, await deps.registry.snapshot(), "failed_precondition");
    const issuer = readCertificate(ca.certificateDer);
    const content = createPolicyChecker(resolved).check({
      csr,
      request: { approved: input.approved, validity: input.validity },
      issuer: { notBefore: issuer.notBefore, notAfter: issuer.notAfter, publicKeySpki: issuer.publicKey.der },
      now: clock.now(),
    });
    return {
      commonName: content.subject.find((a) => a.type === "CN")?.value ?? null,
      required: requiredApprovalsFor(stored.profile),
    };
  }

  return {
    async submit(input) {
      checkRequester(input);
      const { commonName, required } = await checkCanIssue(input);
      const id = randomUUID();
      const now = clock.now();
      const notBefore = input.validity?.notBefore ?? null;
      const notAfter = input.validity?.notAfter ?? null;
      await pool.transaction(async (tx) => {
        await insertProtocolRequest(tx, {
          id,
          protocolRequester: input.requester,
          sourceProtocol: input.sourceProtocol,
          sourceIp: input.sourceIp ?? null,
          caId: input.caId,
          profileName: input.profileName,
          requiredApprovals: required,
          csrDer: input.csrDer,
          subject: input.approved.subject ?? null,
          commonName,
          sans: input.approved.sans,
          notBefore,
          notAfter,
          createdAt: now,
        });
        await audit.appendInTransaction(tx, [
          {
            actor: input.requester,
            sourceIp: input.sourceIp,
            action: "request.submit",
            target: `request:${id}`,
            occurredAt: now,
            details: {
              protocol: input.sourceProtocol,
              caId: input.caId,
              profile: input.profileName,
              commonName,
              sans: input.approved.sans.map(subjectAltNameKey),
              notBefore: notBefore?.toISOString() ?? null,
              notAfter: notAfter?.toISOString() ?? null,
              requiredApprovals: required,
            },
          },
        ]);
      });
      return id;
    },

    async status(id) {
      const row = typeof id === "string" && lowerCaseUuidPattern.test(id) ? await findRequestById(pool, id) : null;
      if (!row || row.protocol_requester === null) throw new ChanceryError("not_found", `no request requests/${id}`);
      return {
        id: row.id,
        state: row.status,
        certificateSerialHex: row.certificate_serial_hex,
        rejectionReason: row.rejection_reason,
      };
    },

    async approveLocked(tx, row, input, caller, outside) {
      const id = row.id;
      const caId = row.ca_id!;
      const profileName = row.profile_name!;
      const requester = row.protocol_requester!;
      const protocol = row.source_protocol!;
      // Unreachable through the queue's visibility rule (the CA is set), kept so the rule stands on its own.
      if (caller.role !== "admin" && !caller.assignedCaIds.includes(caId))
        throw new ChanceryError("not_found", `no request requests/${id}`);
      if ((input.caId && input.caId !== caId) || (input.profileName && input.profileName !== profileName))
        throw new ChanceryError(
          "failed_precondition",
          `this request came over ${protocol} for CA certificateAuthorities/${caId} and profile "${profileName}", ` +
            "fixed at submission; approve it as it is or reject it",
        );
      if (hasContent(input.content))
        throw new ChanceryError(
          "invalid_argument",
          `the ${protocol} front end fixed this request's content; approve it as it is or reject it`,
        );

      const ca = await outside(() => deps.cas.get(caId));
      if (ca.status !== "active" || !ca.certificateDer)
        throw new ChanceryError("failed_precondition", `CA ${ca.name} is ${ca.status} and cannot issue`);
      const stored = await outside(() => deps.profiles.get(profileName));
      const required = requiredApprovalsFor(stored.profile);
      const count = row.approvals.length + 1;
      const now = clock.now();
      const by = { actor: `user:${caller.userId}`, sourceIp: caller.sourceIp };

      await insertApproval(tx, { requestId: id, requesterId: null, approverId: caller.userId, approvedAt: now });
      await updateRequiredApprovals(tx, id, required, now);
      const events: AuditEventInput[] = [
        {
          ...by,
          action: "request.approve",
          target: `request:${id}`,
          occurredAt: now,
          details: { caId, profile: profileName, approvals: count, requiredApprovals: required, protocol },
        },
      ];
      if (count < required) {
        await audit.appendInTransaction(tx, events);
        return;
      }

      // As in approve(): no audit event is appended before this call, since
      // the issuance commits in its own transaction and needs the audit head.
      const issued = await outside(() =>
        deps.issuance.issue({
          caId,
          profileName,
          csrDer: row.csr_der!,
          approved: approvedOf(row),
          validity: {
            notBefore: row.not_before === null ? undefined : new Date(row.not_before),
            notAfter: row.not_after === null ? undefined : new Date(row.not_after),
          },
          // The certificate is the protocol client's, asked for over its protocol, from where it asked.
          requester,
          sourceProtocol: protocol,
          sourceIp: row.source_ip ?? undefined,
        }),
      );
      try {
        await markRequestIssued(tx, id, { serialHex: issued.serialHex, sealedPrivateKey: null, updatedAt: now });
        events.push({
          ...by,
          action: "request.issue",
          target: `request:${id}`,
          occurredAt: now,
          details: {
            serialHex: issued.serialHex,
            caId,
            profile: profileName,
            requester,
            protocol,
            serverKey: false,
            approvers: [...row.approvals.map((a) => a.approver_id), caller.userId],
          },
        });
        await audit.appendInTransaction(tx, events);
      } catch (err) {
        // The certificate is committed (with its own certificate.issue event); only the request's record failed.
        deps.logger.error(
          { err, requestId: id, serialHex: issued.serialHex },
          "certificate issued for a protocol request, but the request could not be marked issued",
        );
        throw err;
      }
    },
  };
}

/** The content the front end approved, as stored. */
function approvedOf(row: RequestRow): ApprovedContent {
  return row.subject === null ? { sans: row.sans } : { subject: row.subject, sans: row.sans };
}

/**
 * The requester is recorded as the certificate's requester and the audit
 * actor, so it must name its protocol ("acme-account:...", "scep:...") and
 * can never pass for a user ("user:...") or the system.
 */
function checkRequester(input: SubmitProtocolRequestInput): void {
  if (!(protocolSources as readonly string[]).includes(input.sourceProtocol))
    throw new ChanceryError("invalid_argument", `source protocol must be one of ${protocolSources.join(", ")}`);
  const scheme = typeof input.requester === "string" ? requesterPattern.exec(input.requester)?.[1] : undefined;
  if (
    scheme === undefined ||
    input.requester.length > maxRequesterLength ||
    (scheme !== input.sourceProtocol && !scheme.startsWith(`${input.sourceProtocol}-`))
  )
    throw new ChanceryError(
      "invalid_argument",
      `requester must be "${input.sourceProtocol}[-kind]:<id>" (printable ASCII, at most ${maxRequesterLength} characters)`,
    );
  if (input.sourceIp !== undefined && (typeof input.sourceIp !== "string" || input.sourceIp.length > maxSourceIpLength))
    throw new ChanceryError("invalid_argument", "source IP must be an address");
}
