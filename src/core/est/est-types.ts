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
