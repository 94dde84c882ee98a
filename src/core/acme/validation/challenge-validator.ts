import type { ProblemDocument } from "../acme-problem.ts";
import type { AcmeIdentifier, ChallengeType } from "../acme-types.ts";

/** One attempt at proving control of an identifier (RFC 8555 §8). */
export interface ValidationInput {
  readonly type: ChallengeType;
  /** dns (without "*.") or ip. */
  readonly identifier: AcmeIdentifier;
  readonly token: string;
  /** token "." base64url(JWK thumbprint) (RFC 8555 §8.1). */
  readonly keyAuthorization: string;
}

export type ValidationResult =
  | { readonly valid: true; readonly record: Record<string, unknown> }
  | {
      readonly valid: false;
      /** connection / dns / incorrectResponse / tls / unauthorized / malformed problem for the challenge's error. */
      readonly problem: ProblemDocument;
      readonly record: Record<string, unknown>;
      /** A transient failure (timeout, refused, SERVFAIL) worth another attempt; false = final. */
      readonly retryable: boolean;
    };

export interface ChallengeValidator {
  validate(input: ValidationInput): Promise<ValidationResult>;
}

/** RFC 8659 CAA, checked before issuance for each identifier. */
export interface CaaCheckInput {
  /** dns identifiers only (CAA does not apply to IP addresses). Without "*.". */
  readonly domain: string;
  readonly wildcard: boolean;
  /** RFC 8657 accounturi. */
  readonly accountUri: string;
  /** RFC 8657 validationmethods: the challenge type that validated it, or "eab-trusted" (internal-PKI mode). */
  readonly validationMethod: string;
  /** Our issuer domain names (directory caaIdentities). */
  readonly caaIdentities: readonly string[];
}

export interface CaaChecker {
  /** null: issuance allowed; else a caa (or dns, for a lookup failure) problem for this identifier. */
  check(input: CaaCheckInput): Promise<ProblemDocument | null>;
}
