import type { Role } from "../identity/role.ts";
import type { KeyAlgorithm } from "../keys/key-algorithm.ts";
import type { SubjectAltName } from "../x509/general-name.ts";

/**
 * pending: waiting for (more) approvals; issued: approved by enough distinct
 * approvers and issued, in one step; rejected: final.
 */
export const requestStates = ["pending", "issued", "rejected"] as const;
export type RequestState = (typeof requestStates)[number];

export interface RequestApproval {
  readonly approverId: string;
  readonly approvedAt: Date;
}

/** A request in the approval queue, as the admin API shows it. The sealed key never appears here. */
export interface RequestRecord {
  readonly id: string;
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
  readonly profileName: string | null;
  readonly requiredApprovals: number | null;
  /** Oldest first. */
  readonly approvals: readonly RequestApproval[];
  readonly rejectionReason: string | null;
  readonly rejectedBy: string | null;
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

export interface RequestPage {
  readonly requests: RequestRecord[];
  readonly nextPageToken: string;
}
