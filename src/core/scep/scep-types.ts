import type { KeyObject } from "node:crypto";
import type { Actor } from "../actor.ts";

/**
 * The SCEP (RFC 8894) model shared by the core services, the admin API and
 * the protocol front end. Wire structures (CMS) live in pki-message/.
 */

/** How an endpoint checks an enrolment's challenge password (migrations/0018). */
export const challengeModes = ["none", "static", "dynamic", "intune", "webhook"] as const;
export type ChallengeMode = (typeof challengeModes)[number];

/** GetCACert answer: RA certificate + CA chain as PKCS#7, or the CA certificate alone as DER. */
export const caCertificateModes = ["chain", "ca"] as const;
export type CaCertificateMode = (typeof caCertificateModes)[number];

/** Microsoft Intune SCEP validation settings (not secret; the client secret is sealed apart). */
export interface IntuneSettings {
  /** The Entra ID tenant, e.g. "contoso.onmicrosoft.com" or its GUID. */
  readonly tenant: string;
  /** The application (client) id registered for the CA. */
  readonly clientId: string;
  /** Identifies this CA and version to Intune ("Chancery/0.1" by default). */
  readonly providerNameAndVersion: string;
  /** Token endpoint host, default https://login.microsoftonline.com. */
  readonly authorityUrl: string;
  /** Microsoft Graph base, default https://graph.microsoft.com. */
  readonly graphUrl: string;
  /** The Intune resource the token is for, default https://api.manage.microsoft.com/. */
  readonly intuneResourceUrl: string;
}

export interface WebhookSettings {
  /** http(s) URL POSTed the CSR facts, HMAC-signed; answers allow or deny. */
  readonly url: string;
}

export interface ScepEndpoint {
  readonly id: string;
  /** 1-63 of [a-z0-9-]: the path segment, /scep/<name>. */
  readonly name: string;
  readonly caId: string;
  readonly profileName: string;
  readonly challengeMode: ChallengeMode;
  /** Only in intune mode. */
  readonly intune: IntuneSettings | null;
  /** Only in webhook mode. */
  readonly webhook: WebhookSettings | null;
  readonly challengeLifetimeSeconds: number;
  readonly caCertificateMode: CaCertificateMode;
  /** GetNextCACert: the CA that takes over at a rollover, or null. */
  readonly nextCaId: string | null;
  /** SHA-1 and DES/3DES accepted and advertised. */
  readonly legacyCrypto: boolean;
  readonly renewalAllowed: boolean;
  readonly enabled: boolean;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** A new endpoint; omitted fields take the defaults noted. */
export interface NewScepEndpoint {
  readonly name: string;
  readonly caId: string;
  readonly profileName: string;
  readonly challengeMode: ChallengeMode;
  /** static mode: the shared challenge (8-255 characters). Stored as a hash. */
  readonly staticChallenge?: string | undefined;
  /** intune mode: settings (defaults for the URLs) and the client secret. */
  readonly intune?: (Partial<IntuneSettings> & { tenant: string; clientId: string }) | undefined;
  readonly intuneClientSecret?: string | undefined;
  /** webhook mode: the URL and the HMAC key (at least 16 characters). */
  readonly webhook?: WebhookSettings | undefined;
  readonly webhookSecret?: string | undefined;
  /** Default 3600. */
  readonly challengeLifetimeSeconds?: number | undefined;
  /** Default chain. */
  readonly caCertificateMode?: CaCertificateMode | undefined;
  readonly nextCaId?: string | null | undefined;
  /** Default false. */
  readonly legacyCrypto?: boolean | undefined;
  /** Default true. */
  readonly renewalAllowed?: boolean | undefined;
  /** Default true. */
  readonly enabled?: boolean | undefined;
}

/**
 * A partial update: each field given replaces the stored one (the name never
 * changes). Changing challengeMode requires the new mode's secret/settings.
 */
export type ScepEndpointChange = Partial<Omit<NewScepEndpoint, "name">>;

/** An endpoint's RA certificate and key, opened for use. */
export interface ScepRaCredential {
  readonly id: string;
  readonly endpointId: string;
  readonly serialHex: string;
  readonly certificateDer: Buffer;
  /** The opened RSA private key (never leaves the process). */
  readonly privateKey: KeyObject;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/** RFC 8894 §3.2.1.2 messageType values. */
export const scepMessageTypes = {
  certRep: 3,
  renewalReq: 17,
  pkcsReq: 19,
  certPoll: 20,
  getCert: 21,
  getCrl: 22,
} as const;
export type ScepMessageType = (typeof scepMessageTypes)[keyof typeof scepMessageTypes];

/** RFC 8894 §3.2.1.3 pkiStatus. */
export const pkiStatuses = { success: 0, failure: 2, pending: 3 } as const;
export type PkiStatus = (typeof pkiStatuses)[keyof typeof pkiStatuses];

/** RFC 8894 §3.2.1.4 failInfo. */
export const failInfos = { badAlg: 0, badMessageCheck: 1, badRequest: 2, badTime: 3, badCertId: 4 } as const;
export type FailInfo = (typeof failInfos)[keyof typeof failInfos];

/** Admin-managed endpoints (src/core/scep/endpoint-service.ts). Every change is audited as scep.endpoint.*. */
export interface ScepEndpointService {
  create(input: NewScepEndpoint, by: Actor): Promise<ScepEndpoint>;
  get(id: string): Promise<ScepEndpoint>;
  /** not_found for an unknown name; a disabled endpoint is returned (the front end refuses it). */
  getByName(name: string): Promise<ScepEndpoint>;
  list(page: { pageSize: number; pageToken?: string | undefined }): Promise<{
    endpoints: ScepEndpoint[];
    nextPageToken: string;
  }>;
  update(id: string, change: ScepEndpointChange, by: Actor): Promise<ScepEndpoint>;
  /** Deletes the endpoint with its RA certificates, one-time challenges (enrollment secrets) and transactions. */
  delete(id: string, by: Actor): Promise<void>;
  /** The sealed Intune client secret or webhook key, opened (null in other modes). */
  validationSecret(endpoint: ScepEndpoint): Promise<string | null>;
  /** Whether `challenge` is the endpoint's static challenge (constant time); false in other modes. */
  matchesStaticChallenge(endpoint: ScepEndpoint, challenge: string): boolean;
}

/**
 * RA keys and certificates per endpoint (src/core/scep/ra-service.ts):
 * RSA, keyEncipherment + digitalSignature, issued by the endpoint's CA,
 * made once across replicas (advisory lock) and rotated before expiry.
 */
export interface ScepRaService {
  /** The newest valid RA credential, made when there is none or it is due. */
  current(endpoint: ScepEndpoint): Promise<ScepRaCredential>;
  /** Every unexpired RA credential, newest first: an envelope may be addressed to an older one. */
  valid(endpoint: ScepEndpoint): Promise<ScepRaCredential[]>;
  /** Makes a new RA certificate now (admin rotation); audited as scep.ra.rotate. */
  rotate(endpoint: ScepEndpoint, by: Actor): Promise<ScepRaCredential>;
}

/** What an external validator (Intune, webhook) is told about an enrolment. */
export interface EnrolmentFacts {
  readonly endpointName: string;
  readonly transactionId: string;
  readonly messageType: 17 | 19;
  readonly csrDer: Uint8Array;
  /** The CSR's challengePassword, or null. */
  readonly challenge: string | null;
  /** RFC 4514 form of the CSR subject. */
  readonly subject: string;
  /** The CSR's SANs as "dns:x", "ip:x", "email:x", "uri:x". */
  readonly sans: readonly string[];
  readonly sourceIp?: string | undefined;
}

export type ValidationVerdict =
  | { readonly allowed: true }
  /** retryable: the validator could not be reached or answered 5xx after its retries (the device may retry). */
  | { readonly allowed: false; readonly reason: string; readonly retryable: boolean };

/** The certificate an enrolment produced, for the validator's success notification. */
export interface IssuedForValidator {
  readonly der: Uint8Array;
  readonly serialHex: string;
  /** SHA-1 thumbprint, upper-case hex, as Windows shows it (Intune's certificateThumbprint). */
  readonly thumbprintSha1: string;
  readonly notAfter: Date;
  /** RFC 4514 form of the issuer name. */
  readonly issuer: string;
}

/**
 * Decides an enrolment outside the gateway (src/core/scep/validation/):
 * Microsoft Intune's ScepActions, or a generic webhook. validate() never
 * throws: an unreachable validator is a refusal with retryable = true.
 * The notifications report the outcome afterwards (Intune requires them);
 * they log their own failures and never throw.
 */
export interface ExternalChallengeValidator {
  validate(facts: EnrolmentFacts): Promise<ValidationVerdict>;
  notifyIssued(facts: EnrolmentFacts, certificate: IssuedForValidator): Promise<void>;
  notifyFailed(facts: EnrolmentFacts, failure: { reason: string }): Promise<void>;
}
