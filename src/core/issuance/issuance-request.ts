import type { SubjectAltName } from "../x509/general-name.ts";
import type { NameAttribute } from "../x509/name.ts";

/** The front ends and internal callers that can ask for a certificate. */
export const sourceProtocols = ["acme", "scep", "est", "admin", "bootstrap"] as const;
export type SourceProtocol = (typeof sourceProtocols)[number];

/**
 * What an approver or a protocol front end decided the certificate may
 * contain. SANs come only from here, never copied from the CSR (DESIGN rule
 * 10): ACME puts the validated order identifiers here, SCEP/EST what their
 * authentication allows, the admin API what the operator approved.
 */
export interface ApprovedContent {
  /** Subject attributes; when absent the CSR's subject is used. Either way the profile filters them. */
  readonly subject?: readonly NameAttribute[] | undefined;
  readonly sans: readonly SubjectAltName[];
}

/** The request every front end hands to the issuance core. */
export interface IssuanceRequest {
  readonly caId: string;
  readonly profileName: string;
  /** DER PKCS#10 (front ends decode PEM/base64 wire forms first). */
  readonly csrDer: Uint8Array;
  readonly approved: ApprovedContent;
  /** Requested validity (e.g. ACME order notBefore/notAfter); policy caps it. */
  readonly validity?: { readonly notBefore?: Date | undefined; readonly notAfter?: Date | undefined } | undefined;
  /** Who asked: an ACME account URL, a SCEP/EST client identity, an admin user. For audit. */
  readonly requester: string;
  readonly sourceProtocol: SourceProtocol;
  readonly sourceIp?: string | undefined;
  /**
   * The caller's idempotency key (AIP-155), stored with the certificate;
   * issueOnce() returns the earlier certificate for a repeated one.
   */
  readonly requestId?: string | undefined;
}
