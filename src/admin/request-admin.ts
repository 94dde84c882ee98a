import { create } from "@bufbuild/protobuf";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import type { CaService } from "../core/ca/ca-service.ts";
import { ChanceryError } from "../core/errors.ts";
import type { TotpService } from "../core/identity/totp-service.ts";
import type {
  ProfileChangeProposal,
  RequestCaller,
  RequestContentInput,
  RequestKind,
  RequestRecord,
  RequestState,
} from "../core/requests/request.ts";
import type { RequestService as CoreRequestService } from "../core/requests/request-service.ts";
import type { SubjectAltName as CoreSubjectAltName } from "../core/x509/general-name.ts";
import { pemEncode } from "../core/x509/pem.ts";
import { KeyAlgorithm } from "../gen/chancery/admin/v1/certificate_authority_pb.js";
import { ProfileSchema } from "../gen/chancery/admin/v1/profile_pb.js";
import {
  ExportRequestPkcs12ResponseSchema,
  ListRequestsResponseSchema,
  type Request,
  Request_ApprovalSchema,
  Request_Kind,
  Request_ProfileChangeSchema,
  Request_ProfileDeletionSchema,
  Request_State,
  Request_SubjectAltNameSchema,
  RequestCountsSchema,
  RequestSchema,
  type RequestService,
  type Request_SubjectAltName as SubjectAltName,
} from "../gen/chancery/admin/v1/request_pb.js";
import { idFromName, keyAlgorithmFromProto, keyAlgorithmToProto, timestamp } from "./conversions.ts";
import { requireOtpForCa } from "./otp.ts";
import { actorOf, canUseCa, type Principal, requireRole } from "./principal.ts";
import { mergeProfileUpdate } from "./profile-admin.ts";
import { profileCollection, profileDefinitionToProto } from "./profile-conversions.ts";
import { sanFromProto, sanToProto } from "./san-conversions.ts";

const collection = "requests";
const caCollection = "certificateAuthorities";

/**
 * chancery.admin.v1.RequestService: proto ↔ core, nothing more. The queue's
 * rules (who sees, approves, rejects, exports) live in the core request
 * service; this file names the caller and checks the least role per call.
 */
export function createRequestAdmin(deps: {
  requests: CoreRequestService;
  cas: CaService;
  totp: TotpService;
}): ServiceImpl<typeof RequestService> {
  const { requests } = deps;

  function callerOf(context: HandlerContext, principal: Principal): RequestCaller {
    return {
      userId: principal.userId,
      role: principal.role,
      assignedCaIds: principal.assignedCaIds,
      sourceIp: actorOf(context, principal).sourceIp,
    };
  }

  return {
    async createRequest(request, context) {
      const caller = callerOf(context, requireRole(context, "user"));
      const input = request.request;
      if (!input) throw new ChanceryError("invalid_argument", "request is required");
      const change = input.change;
      if (change.case === undefined)
        return toProto(
          await requests.submit(
            { ...contentFromProto(input), freeForm: input.freeForm, comment: input.comment },
            caller,
          ),
        );
      // Profile changes are for admins (the core checks it too), refused before anything else is looked at.
      requireRole(context, "admin");
      if (
        input.freeForm ||
        input.commonName ||
        input.subjectAltNames.length > 0 ||
        input.keyAlgorithm !== KeyAlgorithm.UNSPECIFIED ||
        input.csrPem
      )
        throw new ChanceryError(
          "invalid_argument",
          `request.${change.case === "profileChange" ? "profile_change" : "profile_deletion"} takes no certificate ` +
            "fields (free_form, common_name, subject_alt_names, key_algorithm, csr_pem)",
        );
      if (change.case === "profileDeletion") {
        const profileName = idFromName(change.value.name, profileCollection, "request.profile_deletion.name");
        return toProto(await requests.submitProfileDeletion({ profileName, comment: input.comment }, caller));
      }
      const patch = change.value.profile ?? create(ProfileSchema);
      const profileName = idFromName(patch.name, profileCollection, "request.profile_change.profile.name");
      const updateMask = change.value.updateMask;
      return toProto(
        await requests.submitProfileChange(
          {
            profileName,
            updateMask,
            // The same merge and conversion as UpdateProfile, against the definition current at submission.
            change: (current) => mergeProfileUpdate(current, patch, updateMask, profileName),
            comment: input.comment,
          },
          caller,
        ),
      );
    },

    async getRequest(request, context) {
      const caller = callerOf(context, requireRole(context, "user"));
      return toProto(await requests.get(idFromName(request.name, collection), caller));
    },

    async listRequests(request, context) {
      const caller = callerOf(context, requireRole(context, "user"));
      if (request.pageSize < 0) throw new ChanceryError("invalid_argument", "page_size must not be negative");
      const page = await requests.list(
        {
          state: stateFromProto(request.state),
          kind: kindFromProto(request.kind),
          pageSize: request.pageSize,
          pageToken: request.pageToken || undefined,
        },
        caller,
      );
      return create(ListRequestsResponseSchema, {
        requests: page.requests.map(toProto),
        nextPageToken: page.nextPageToken,
      });
    },

    async approveRequest(request, context) {
      const principal = requireRole(context, "operator");
      const caller = callerOf(context, principal);
      const id = idFromName(request.name, collection);
      const caId = request.certificateAuthority
        ? idFromName(request.certificateAuthority, caCollection, "certificate_authority")
        : undefined;
      const profileName = request.profile ? idFromName(request.profile, profileCollection, "profile") : undefined;
      // A CA the operator may not use is not_found, as in the CA and certificate services, and is
      // answered before the TOTP check below could say anything about it.
      if (caId && !canUseCa(principal, caId))
        throw new ChanceryError("not_found", `no CA ${request.certificateAuthority}`);
      // A CA that demands a TOTP code for approvals gets it from the "chancery-otp" header.
      const throughCa = caId ?? (await requests.get(id, caller)).caId;
      if (throughCa) {
        const ca = await deps.cas.get(throughCa).catch(() => null);
        if (ca) await requireOtpForCa(context, principal, ca, deps.totp, "approve");
      }
      return toProto(
        await requests.approve(
          id,
          {
            caId,
            profileName,
            content: contentFromProto({
              commonName: request.commonName,
              subjectAltNames: request.subjectAltNames,
              keyAlgorithm: request.keyAlgorithm,
              csrPem: request.csrPem,
            }),
          },
          caller,
        ),
      );
    },

    async rejectRequest(request, context) {
      const caller = callerOf(context, requireRole(context, "operator"));
      return toProto(await requests.reject(idFromName(request.name, collection), request.reason, caller));
    },

    async getRequestCounts(_request, context) {
      const caller = callerOf(context, requireRole(context, "user"));
      const counts = await requests.counts(caller);
      return create(RequestCountsSchema, {
        pending: BigInt(counts.pending),
        issued: BigInt(counts.issued),
        rejected: BigInt(counts.rejected),
        applied: BigInt(counts.applied),
        failed: BigInt(counts.failed),
      });
    },

    async exportRequestPkcs12(request, context) {
      const caller = callerOf(context, requireRole(context, "user"));
      const pkcs12 = await requests.exportPkcs12(idFromName(request.name, collection), request.passphrase, caller);
      return create(ExportRequestPkcs12ResponseSchema, { pkcs12 });
    },
  };
}

function contentFromProto(input: {
  commonName: string;
  subjectAltNames: SubjectAltName[];
  keyAlgorithm: KeyAlgorithm;
  csrPem: string;
}): RequestContentInput {
  return {
    commonName: input.commonName || undefined,
    sans: input.subjectAltNames.map(sanFromProto),
    keyAlgorithm:
      input.keyAlgorithm === KeyAlgorithm.UNSPECIFIED ? undefined : keyAlgorithmFromProto(input.keyAlgorithm),
    csr: input.csrPem || undefined,
  };
}

function requestSanToProto(san: CoreSubjectAltName): SubjectAltName {
  return create(Request_SubjectAltNameSchema, sanToProto(san));
}

const states: ReadonlyArray<[Request_State, RequestState]> = [
  [Request_State.PENDING, "pending"],
  [Request_State.ISSUED, "issued"],
  [Request_State.REJECTED, "rejected"],
  [Request_State.APPLIED, "applied"],
  [Request_State.FAILED, "failed"],
];

function stateFromProto(state: Request_State): RequestState | undefined {
  if (state === Request_State.UNSPECIFIED) return undefined;
  const found = states.find(([proto]) => proto === state)?.[1];
  if (!found) throw new ChanceryError("invalid_argument", "state must be PENDING, ISSUED, REJECTED, APPLIED or FAILED");
  return found;
}

const kinds: ReadonlyArray<[Request_Kind, RequestKind]> = [
  [Request_Kind.CERTIFICATE, "certificate"],
  [Request_Kind.PROFILE_CHANGE, "profile_change"],
  [Request_Kind.PROFILE_DELETION, "profile_deletion"],
];

function kindFromProto(kind: Request_Kind): RequestKind | undefined {
  if (kind === Request_Kind.UNSPECIFIED) return undefined;
  const found = kinds.find(([proto]) => proto === kind)?.[1];
  if (!found)
    throw new ChanceryError("invalid_argument", "kind must be CERTIFICATE, PROFILE_CHANGE or PROFILE_DELETION");
  return found;
}

function changeToProto(proposal: ProfileChangeProposal | null): Request["change"] {
  if (!proposal) return { case: undefined };
  if (proposal.kind === "profile_deletion")
    return {
      case: "profileDeletion",
      value: create(Request_ProfileDeletionSchema, {
        name: `${profileCollection}/${proposal.base.name}`,
        baseProfile: profileDefinitionToProto(proposal.base),
      }),
    };
  return {
    case: "profileChange",
    value: create(Request_ProfileChangeSchema, {
      profile: profileDefinitionToProto(proposal.proposed),
      updateMask: [...proposal.updateMask],
      baseProfile: profileDefinitionToProto(proposal.base),
    }),
  };
}

function toProto(record: RequestRecord): Request {
  return create(RequestSchema, {
    name: `${collection}/${record.id}`,
    kind: kinds.find(([, core]) => core === record.kind)?.[0] ?? Request_Kind.UNSPECIFIED,
    change: changeToProto(record.profileChange),
    failureReason: record.failureReason ?? "",
    // A protocol front end's request has no user behind it: protocol_requester names its client instead.
    requester: record.requesterId === null ? "" : `users/${record.requesterId}`,
    protocolRequester: record.protocolRequester ?? "",
    sourceProtocol: record.sourceProtocol ?? "",
    sourceIp: record.sourceIp ?? "",
    requestedNotBefore: timestamp(record.notBefore),
    requestedNotAfter: timestamp(record.notAfter),
    state: states.find(([, core]) => core === record.state)?.[0] ?? Request_State.UNSPECIFIED,
    freeForm: record.freeForm,
    commonName: record.commonName ?? "",
    subjectAltNames: record.sans.map(requestSanToProto),
    keyAlgorithm: record.keyAlgorithm ? keyAlgorithmToProto(record.keyAlgorithm) : KeyAlgorithm.UNSPECIFIED,
    csrPem: record.csrDer ? pemEncode("CERTIFICATE REQUEST", record.csrDer) : "",
    comment: record.comment,
    certificateAuthority: record.caId ? `${caCollection}/${record.caId}` : "",
    profile: record.profileName ? `${profileCollection}/${record.profileName}` : "",
    requiredApprovals: record.requiredApprovals ?? 0,
    approvals: record.approvals.map((a) =>
      create(Request_ApprovalSchema, { approver: `users/${a.approverId}`, approveTime: timestamp(a.approvedAt) }),
    ),
    rejectionReason: record.rejectionReason ?? "",
    rejectedBy: record.rejectedBy ? `users/${record.rejectedBy}` : "",
    certificate: record.certificateSerialHex ? `certificates/${record.certificateSerialHex}` : "",
    certificateSerialHex: record.certificateSerialHex ?? "",
    certificatePem: record.certificateDer ? pemEncode("CERTIFICATE", record.certificateDer) : "",
    hasServerKey: record.hasServerKey,
    createTime: timestamp(record.createdAt),
    updateTime: timestamp(record.updatedAt),
  });
}
