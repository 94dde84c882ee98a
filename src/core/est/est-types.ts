import type { CommonQueryMethods } from "slonik";
import type { Actor } from "../actor.ts";

/**
 * The EST (RFC 7030) model shared by the core services, the admin API and
 * the protocol front end. Wire forms (base64, multipart) live in protocols/est.
 */

/** How a label authenticates clients (migrations/0019 est_labels.auth_mode). */
export const authModes = ["certificate", "basic", "either", "both"] as const;
export type AuthMode = (typeof authModes)[number];

export interface EstLabel {
  readonly id: string;
  /** 1-63 of [a-z0-9-]: the path segment, /.well-known/est/<name>/. */
  readonly name: string;
  /** Also served at /.well-known/est/ without a label; at most one label is. */
  readonly isDefault: boolean;
  readonly caId: string;
  readonly profileName: string;
  readonly authMode: AuthMode;
  /** Our CAs whose certificates a client certificate may chain to. */
  readonly clientCaIds: readonly string[];
  /** External trust anchors for client certificates (e.g. a manufacturer CA), DER. */
  readonly externalAnchorsDer: readonly Buffer[];
  /** RFC 7030 §3.5: the CSR's challengePassword must carry the TLS channel binding. */
  readonly channelBindingRequired: boolean;
  readonly serverKeygenAllowed: boolean;
  /** RFC 7030 §4.2.2: a re-enrollment may change the subject and SANs. */
  readonly reenrollSubjectChangeAllowed: boolean;
  readonly secretLifetimeSeconds: number;
  readonly enabled: boolean;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** A new label; omitted fields take the defaults noted. */
export interface NewEstLabel {
  readonly name: string;
  readonly caId: string;
  readonly profileName: string;
  readonly authMode: AuthMode;
  /** Default false. */
  readonly isDefault?: boolean | undefined;
  /** Default: none. */
  readonly clientCaIds?: readonly string[] | undefined;
  /** PEM or DER certificates; default none. */
  readonly externalAnchorsDer?: readonly Uint8Array[] | undefined;
  /** Default false. */
  readonly channelBindingRequired?: boolean | undefined;
  /** Default false. */
  readonly serverKeygenAllowed?: boolean | undefined;
  /** Default false. */
  readonly reenrollSubjectChangeAllowed?: boolean | undefined;
  /** Default 86400 (one day). */
  readonly secretLifetimeSeconds?: number | undefined;
  /** Default true. */
  readonly enabled?: boolean | undefined;
}

/** A partial update: each field given replaces the stored one (the name never changes). */
export type EstLabelChange = Partial<Omit<NewEstLabel, "name">>;

/** Admin-managed labels (src/core/est/label-service.ts). Every change is audited as est.label.*. */
export interface EstLabelService {
  create(input: NewEstLabel, by: Actor): Promise<EstLabel>;
  get(id: string): Promise<EstLabel>;
  /** not_found for an unknown name; a disabled label is returned (the front end refuses it). */
  getByName(name: string): Promise<EstLabel>;
  /** The label marked default, or not_found when none is. */
  getDefault(): Promise<EstLabel>;
  list(page: { pageSize: number; pageToken?: string | undefined }): Promise<{
    labels: EstLabel[];
    nextPageToken: string;
  }>;
  update(id: string, change: EstLabelChange, by: Actor): Promise<EstLabel>;
  /** Deletes the label with its enrollment secrets and remembered enrollments; certificates stay. */
  delete(id: string, by: Actor): Promise<void>;
  /**
   * A fresh gateway's "default" label (made once across replicas): the given
   * CA, the device profile, client certificates from that CA or HTTP Basic.
   * Null when a label named "default" or a default label exists already.
   */
  ensureDefaultLabel(input: { caId: string }): Promise<EstLabel | null>;
}

/** A minted one-time enrollment secret; the secret itself is returned once, at creation. */
export interface EstEnrollmentSecret {
  readonly id: string;
  readonly labelId: string;
  readonly boundSubject: string | null;
  readonly boundSans: readonly string[] | null;
  readonly createdBy: string;
  readonly createdAt: Date;
  readonly expiresAt: Date;
  readonly usedAt: Date | null;
  /** "certificate:<serial>" or "est-enrollment:<id>" (waiting for approval). */
  readonly usedBy: string | null;
  readonly revokedAt: Date | null;
}

export interface MintEstSecretInput {
  readonly labelId: string;
  /** Default: the label's secretLifetimeSeconds. */
  readonly lifetimeSeconds?: number | undefined;
  /** RFC 4514 subject the CSR must carry exactly, e.g. "CN=device-42,O=Example". */
  readonly boundSubject?: string | undefined;
  /** SANs the CSR must carry exactly, as "dns:x", "ip:x", "email:x", "uri:x". */
  readonly boundSans?: readonly string[] | undefined;
}

export type SecretRefusal = "unknown" | "expired" | "used" | "revoked" | "binding_mismatch";

/** One-time enrollment secrets (src/core/est/secret-service.ts). */
export interface EstSecretService {
  /** Audited as est.secret.create; the secret is returned here only. */
  mint(input: MintEstSecretInput, by: Actor): Promise<{ secret: string; record: EstEnrollmentSecret }>;
  get(id: string): Promise<EstEnrollmentSecret>;
  list(
    labelId: string,
    page: { pageSize: number; pageToken?: string | undefined },
  ): Promise<{ secrets: EstEnrollmentSecret[]; nextPageToken: string }>;
  /** Audited as est.secret.revoke. */
  revoke(id: string, by: Actor): Promise<EstEnrollmentSecret>;
  /** The unspent, unexpired secret of the label with this value, checked against the CSR's binding; nothing is written. */
  check(input: {
    labelId: string;
    secret: string;
    csrSubject: string;
    csrSans: readonly string[];
  }): Promise<{ ok: true; secretId: string } | { ok: false; reason: SecretRefusal }>;
  /**
   * The secret with this value, whatever its state (a retry after approval
   * presents a secret its first attempt spent). Null when unknown.
   */
  find(labelId: string, secret: string): Promise<EstEnrollmentSecret | null>;
  /** Spends it, once across replicas (false when another request spent it first). Audited by the caller's event. */
  spend(id: string, usedBy: string): Promise<boolean>;
  /** Gives a secret back after the enrollment it was spent on was refused, so a corrected request can use it. */
  unspend(id: string, usedBy: string): Promise<void>;
  /**
   * Records what a spent secret ended up as ("certificate:<serial>"), in `tx`
   * when given (the issuance commit), else on its own.
   */
  settle(id: string, from: string, to: string, tx?: CommonQueryMethods): Promise<void>;
}
