import type { CommonQueryMethods } from "slonik";
import type { Actor } from "../actor.ts";
import type { ChanceryError } from "../errors.ts";

/**
 * One-time enrollment secrets (migrations/0021 enrollment_secrets): what
 * SCEP calls a dynamic challenge password (RFC 8894 §2.2) and EST a one-time
 * HTTP Basic password (RFC 7030 §3.2.3). One concept, whatever protocol
 * spends it (docs/decisions/0013-one-enrollment-secret.md).
 */

/** The protocols a secret can belong to; each is one scope kind with its own rules (EnrollmentSecretScopeRules). */
export const scopeKinds = ["scep_endpoint", "est_label"] as const;
export type ScopeKind = (typeof scopeKinds)[number];

/** Where a secret may be spent: one SCEP endpoint, or one EST label. */
export interface EnrollmentSecretScope {
  readonly kind: ScopeKind;
  /** The endpoint's or label's id. */
  readonly id: string;
}

/** A minted secret; the secret itself is returned once, at creation, and never stored. */
export interface EnrollmentSecret {
  readonly id: string;
  readonly scope: EnrollmentSecretScope;
  readonly boundSubject: string | null;
  readonly boundSans: readonly string[] | null;
  readonly createdBy: string;
  readonly createdAt: Date;
  readonly expiresAt: Date;
  readonly usedAt: Date | null;
  /**
   * What spent it, as its protocol names it: the SCEP transactionID; for EST
   * "certificate:<serial>", or "est-enrollment:<id>" while that enrollment
   * waits for approval.
   */
  readonly usedBy: string | null;
  readonly revokedAt: Date | null;
}

export interface MintEnrollmentSecretInput {
  readonly scope: EnrollmentSecretScope;
  /** Default: the scope's (the endpoint's challenge lifetime, the label's secret lifetime). */
  readonly lifetimeSeconds?: number | undefined;
  /** RFC 4514 subject the CSR must carry exactly, e.g. "CN=device-42,O=Example". */
  readonly boundSubject?: string | undefined;
  /** SANs the CSR must carry exactly, as "dns:x", "ip:x", "email:x", "uri:x". */
  readonly boundSans?: readonly string[] | undefined;
}

export type SecretRefusal = "unknown" | "expired" | "used" | "revoked" | "binding_mismatch";

/** What a protocol says about one of its scopes, read when a secret is minted or its scope is checked. */
export interface ScopeFacts {
  /** The endpoint's or label's name (its path segment), for audit. */
  readonly name: string;
  /** Its CA: operators manage the secrets of the CAs assigned to them. */
  readonly caId: string;
  /** Lifetime of a secret minted without one. */
  readonly defaultLifetimeSeconds: number;
  /** Why secrets cannot be minted here now (failed_precondition), or null when they can. */
  readonly mintRefusal: string | null;
}

/**
 * The one thing a protocol contributes to the shared service: how to read a
 * scope of its kind, and its rule for minting there (SCEP: the endpoint is in
 * dynamic challenge mode; EST: the label accepts HTTP Basic). What spends a
 * secret is named by the protocol when it spends it.
 */
export interface EnrollmentSecretScopeRules {
  /** How messages name a scope of this kind, e.g. "SCEP endpoint". */
  readonly noun: string;
  /**
   * The scope's facts read in `db`, or null when there is none. With `lock`
   * the scope's row is locked FOR UPDATE in that transaction, so a mint
   * waits for a concurrent change of the scope (a delete, a mode change that
   * revokes outstanding secrets) and sees its outcome.
   */
  read(db: CommonQueryMethods, id: string, options: { lock: boolean }): Promise<ScopeFacts | null>;
}

/** One-time enrollment secrets of every protocol (src/core/enrollment-secrets/enrollment-secret-service.ts). */
export interface EnrollmentSecretService {
  /** The scope's name and CA; not_found when it does not exist. */
  describe(scope: EnrollmentSecretScope): Promise<{ name: string; caId: string }>;
  /** What describe throws for a scope that does not exist (the admin API also answers it for one hidden from the caller). */
  scopeNotFound(scope: EnrollmentSecretScope): ChanceryError;
  /** Audited as enrollment_secret.create; the secret is returned here only. */
  mint(input: MintEnrollmentSecretInput, by: Actor): Promise<{ secret: string; record: EnrollmentSecret }>;
  get(id: string): Promise<EnrollmentSecret>;
  /** One scope's secrets, or every secret when `scope` is null; oldest first. not_found for an unknown scope. */
  list(
    scope: EnrollmentSecretScope | null,
    page: { pageSize: number; pageToken?: string | undefined },
  ): Promise<{ secrets: EnrollmentSecret[]; nextPageToken: string }>;
  /** Audited as enrollment_secret.revoke; revoking twice changes nothing; a spent secret cannot be revoked. */
  revoke(id: string, by: Actor): Promise<EnrollmentSecret>;
  /**
   * The scope's secret with this value, whatever its state (an EST retry
   * after approval presents a secret its first attempt spent). Null when unknown.
   */
  find(scope: EnrollmentSecretScope, secret: string): Promise<EnrollmentSecret | null>;
  /**
   * Spends the scope's secret with this value for `usedBy`, once across
   * replicas: ok, or why not. The binding is checked against the CSR's
   * subject (RFC 4514 form) and SANs before spending, so a CSR that does not
   * match leaves the secret for the right one. Spending is audited by the
   * caller, with the enrolment.
   */
  spend(input: {
    scope: EnrollmentSecretScope;
    secret: string;
    usedBy: string;
    csrSubject: string;
    csrSans: readonly string[];
  }): Promise<{ ok: true; secretId: string } | { ok: false; reason: SecretRefusal }>;
  /** Gives a secret back after the enrolment it was spent on was refused, so a corrected request can use it. */
  unspend(id: string, usedBy: string): Promise<void>;
  /**
   * Records what a spent secret ended up as ("certificate:<serial>"), in `tx`
   * when given (the issuance commit), else on its own.
   */
  settle(id: string, from: string, to: string, tx?: CommonQueryMethods): Promise<void>;
}
