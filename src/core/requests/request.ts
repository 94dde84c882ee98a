import type { Role } from "../identity/role.ts";
import type { ApprovedContent, SourceProtocol } from "../issuance/issuance-request.ts";
import type { KeyAlgorithm } from "../keys/key-algorithm.ts";
import type { Profile } from "../profiles/profile-schema.ts";
import type { SubjectAltName } from "../x509/general-name.ts";
import type { NameAttribute } from "../x509/name.ts";

/**
 * pending: waiting for (more) approvals; issued: a certificate request
 * approved by enough distinct approvers and issued, in one step; applied: the
 * same for a profile change; rejected: final; failed: a profile change
 * approved by enough approvers that could not be applied (final).
 */
export const requestStates = ["pending", "issued", "rejected", "applied", "failed"] as const;
export type RequestState = (typeof requestStates)[number];

/** One queue, several kinds of request: a certificate, or a change to (or the deletion of) a profile. */
export const requestKinds = ["certificate", "profile_change", "profile_deletion"] as const;
export type RequestKind = (typeof requestKinds)[number];

/** What a profile change request proposes, against which definition. */
export type ProfileChangeProposal =
  | {
      readonly kind: "profile_change";
      /** The whole definition the profile is to have. */
      readonly proposed: Profile;
      /** The paths the requester named (AIP-134), for approvers to read. */
      readonly updateMask: readonly string[];
      /** The definition at submission: the change applies only while the profile still has it. */
      readonly base: Profile;
    }
  | { readonly kind: "profile_deletion"; readonly base: Profile };

export interface RequestApproval {
  readonly approverId: string;
  readonly approvedAt: Date;
}

/** The protocol front ends whose enrollments can wait in the approval queue. */
export const protocolSources = ["acme", "scep", "est"] as const satisfies readonly SourceProtocol[];
export type ProtocolSource = (typeof protocolSources)[number];

/** A request in the approval queue, as the admin API shows it. The sealed key never appears here. */
export interface RequestRecord {
  readonly id: string;
  readonly kind: RequestKind;
  /** The gateway user who submitted it; null for a request a protocol front end submitted. */
  readonly requesterId: string | null;
  /**
   * Set for a request a protocol front end submitted (protocol-requests.ts):
   * the protocol client that asked, e.g. "acme-account:<uuid>". Its CSR, CA,
   * profile and content were fixed at submission.
   */
  readonly protocolRequester: string | null;
  readonly sourceProtocol: ProtocolSource | null;
  /** The protocol client's address at submission. */
  readonly sourceIp: string | null;
  /** The validity the protocol client asked for; the profile caps it. */
  readonly notBefore: Date | null;
  readonly notAfter: Date | null;
  /** The subject the front end approved; null: the CSR's (the profile filters either). */
  readonly subject: readonly NameAttribute[] | null;
  readonly state: RequestState;
  /** The requester wrote only `comment`; the first approver fills in the content. */
  readonly freeForm: boolean;
  readonly commonName: string | null;
  readonly sans: readonly SubjectAltName[];
  /** Set: the key is generated here at issuance. */
  readonly keyAlgorithm: KeyAlgorithm | null;
  /** Set: the requester's own key, DER PKCS#10. */
  readonly csrDer: Buffer | null;
  readonly comment: string;
  /** Chosen by the first approver, then fixed. */
  readonly caId: string | null;
  /** Certificate requests: chosen by the first approver. Profile changes: the profile changed, from submission. */
  readonly profileName: string | null;
  /** Profile changes only. */
  readonly profileChange: ProfileChangeProposal | null;
  readonly requiredApprovals: number | null;
  /** Oldest first. */
  readonly approvals: readonly RequestApproval[];
  readonly rejectionReason: string | null;
  readonly rejectedBy: string | null;
  /** Set when failed. */
  readonly failureReason: string | null;
  readonly certificateSerialHex: string | null;
  /** The issued certificate, DER, when issued. */
  readonly certificateDer: Buffer | null;
  /** The gateway holds the (sealed) private key of the issued certificate. */
  readonly hasServerKey: boolean;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/**
 * Who is calling, as the core needs it for the queue's rules: role and
 * assigned CAs decide what they may see and approve, the id who they are
 * (self-approval), the source IP goes into the audit chain.
 */
export interface RequestCaller {
  readonly userId: string;
  readonly role: Role;
  /** CA ids an operator may use. */
  readonly assignedCaIds: readonly string[];
  readonly sourceIp?: string | undefined;
}

/** What a requester (or, for a free-form request, the first approver) says the certificate should hold. */
export interface RequestContentInput {
  readonly commonName?: string | undefined;
  readonly sans?: readonly SubjectAltName[] | undefined;
  /** Exactly one of keyAlgorithm and csr. */
  readonly keyAlgorithm?: KeyAlgorithm | undefined;
  /** PKCS#10, DER or PEM. */
  readonly csr?: Uint8Array | string | undefined;
}

export interface SubmitRequestInput extends RequestContentInput {
  /** Only `comment`, no content: an approver fills it in. */
  readonly freeForm?: boolean | undefined;
  readonly comment?: string | undefined;
}

export interface ApproveRequestInput {
  /** Required from the first approver; later approvers may repeat it, not change it. */
  readonly caId?: string | undefined;
  readonly profileName?: string | undefined;
  /** Free-form requests only, from the first approver (later ones may repeat it unchanged). */
  readonly content?: RequestContentInput | undefined;
}

/**
 * A proposed profile change, shaped like ProfileService.update: `change`
 * makes the new definition (unvalidated input) from the current one.
 */
export interface SubmitProfileChangeInput {
  readonly profileName: string;
  readonly change: (current: Profile) => unknown;
  /** Recorded for approvers; `change` already applied it. */
  readonly updateMask: readonly string[];
  readonly comment?: string | undefined;
}

export interface SubmitProfileDeletionInput {
  readonly profileName: string;
  readonly comment?: string | undefined;
}

/**
 * A certificate request a protocol front end puts in the queue because its
 * profile requires approval (an ACME order at finalize, a SCEP PENDING, an
 * EST 202): everything the issuance will use is fixed here.
 */
export interface SubmitProtocolRequestInput {
  readonly caId: string;
  readonly profileName: string;
  /** DER PKCS#10, its signature checked at submission. */
  readonly csrDer: Uint8Array;
  /** What the front end validated (ACME: the order's identifiers); approvers cannot change it. */
  readonly approved: ApprovedContent;
  readonly validity?: { readonly notBefore?: Date | undefined; readonly notAfter?: Date | undefined } | undefined;
  /** The protocol client, "<protocol>[-...]:<id>", e.g. "acme-account:<uuid>" or "scep:<endpoint>:<transactionId>". */
  readonly requester: string;
  readonly sourceProtocol: ProtocolSource;
  readonly sourceIp?: string | undefined;
}

/** What a front end polling its request needs to know. */
export interface ProtocolRequestStatus {
  readonly id: string;
  readonly state: RequestState;
  /** Set once issued: the front end fetches the certificate by serial. */
  readonly certificateSerialHex: string | null;
  readonly rejectionReason: string | null;
}

export interface RequestPage {
  readonly requests: RequestRecord[];
  readonly nextPageToken: string;
}
