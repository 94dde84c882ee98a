import type { Role } from "../identity/role.ts";
import type { KeyAlgorithm } from "../keys/key-algorithm.ts";
import type { Profile } from "../profiles/profile-schema.ts";
import type { SubjectAltName } from "../x509/general-name.ts";

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

/** A request in the approval queue, as the admin API shows it. The sealed key never appears here. */
export interface RequestRecord {
  readonly id: string;
  readonly kind: RequestKind;
  readonly requesterId: string;
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

export interface RequestPage {
  readonly requests: RequestRecord[];
  readonly nextPageToken: string;
}
