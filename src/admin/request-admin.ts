import { create } from "@bufbuild/protobuf";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import type { CaService } from "../core/ca/ca-service.ts";
import { ChanceryError } from "../core/errors.ts";
import type { TotpService } from "../core/identity/totp-service.ts";
import type { RequestCaller, RequestContentInput, RequestRecord, RequestState } from "../core/requests/request.ts";
import type { RequestService as CoreRequestService } from "../core/requests/request-service.ts";
import type { SubjectAltName as CoreSubjectAltName } from "../core/x509/general-name.ts";
import { pemEncode } from "../core/x509/pem.ts";
import { KeyAlgorithm } from "../gen/chancery/admin/v1/certificate_authority_pb.js";
import {
  ExportRequestPkcs12ResponseSchema,
  ListRequestsResponseSchema,
  type Request,
  Request_ApprovalSchema,
  Request_State,
  Request_SubjectAltName_Type,
  Request_SubjectAltNameSchema,
  RequestCountsSchema,
  RequestSchema,
  type RequestService,
  type Request_SubjectAltName as SubjectAltName,
} from "../gen/chancery/admin/v1/request_pb.js";
import { idFromName, keyAlgorithmFromProto, keyAlgorithmToProto, timestamp } from "./conversions.ts";
import { requireOtpForCa } from "./otp.ts";
import { actorOf, type Principal, requireRole } from "./principal.ts";

const collection = "requests";
const caCollection = "certificateAuthorities";
const profileCollection = "profiles";

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
      return toProto(
        await requests.submit({ ...contentFromProto(input), freeForm: input.freeForm, comment: input.comment }, caller),
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

const sanTypes: ReadonlyArray<[Request_SubjectAltName_Type, CoreSubjectAltName["type"]]> = [
  [Request_SubjectAltName_Type.DNS, "dns"],
  [Request_SubjectAltName_Type.IP, "ip"],
  [Request_SubjectAltName_Type.EMAIL, "email"],
  [Request_SubjectAltName_Type.URI, "uri"],
];

function sanFromProto(san: SubjectAltName, index: number): CoreSubjectAltName {
  const type = sanTypes.find(([proto]) => proto === san.type)?.[1];
  if (!type)
    throw new ChanceryError("invalid_argument", `subject_alt_names[${index}].type must be DNS, IP, EMAIL or URI`);
  return { type, value: san.value };
}

function sanToProto(san: CoreSubjectAltName): SubjectAltName {
  const type = sanTypes.find(([, core]) => core === san.type)?.[0] ?? Request_SubjectAltName_Type.UNSPECIFIED;
  return create(Request_SubjectAltNameSchema, { type, value: san.value });
}

const states: ReadonlyArray<[Request_State, RequestState]> = [
  [Request_State.PENDING, "pending"],
  [Request_State.ISSUED, "issued"],
  [Request_State.REJECTED, "rejected"],
];

function stateFromProto(state: Request_State): RequestState | undefined {
  if (state === Request_State.UNSPECIFIED) return undefined;
  const found = states.find(([proto]) => proto === state)?.[1];
  if (!found) throw new ChanceryError("invalid_argument", "state must be PENDING, ISSUED or REJECTED");
  return found;
}

function toProto(record: RequestRecord): Request {
  return create(RequestSchema, {
    name: `${collection}/${record.id}`,
    requester: `users/${record.requesterId}`,
    state: states.find(([, core]) => core === record.state)?.[0] ?? Request_State.UNSPECIFIED,
    freeForm: record.freeForm,
    commonName: record.commonName ?? "",
    subjectAltNames: record.sans.map(sanToProto),
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
