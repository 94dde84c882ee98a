import { problemDocument } from "../acme-problem.ts";
import type { AcmeIdentifier } from "../acme-types.ts";
import type { ValidationResult } from "./challenge-validator.ts";

/**
 * Problem types a challenge can fail with (RFC 8555 §6.7). The validators
 * use them consistently:
 * - connection: nothing answered at the address DNS gave (refused, reset, timeout) — retryable;
 * - dns: the resolver could not answer (SERVFAIL, timeout: retryable) or the name has no address (final);
 * - tls: a TLS handshake failed;
 * - unauthorized: the server answered but holds no proof for this challenge
 *   (HTTP status other than 200, no TXT record, acme-tls/1 not negotiated);
 * - incorrectResponse: a proof was there but is not the one expected
 *   (wrong body, wrong TXT value, wrong validation certificate);
 * - malformed: the challenge cannot apply to this identifier.
 */
export type ValidationProblemType = "connection" | "dns" | "tls" | "unauthorized" | "incorrectResponse" | "malformed";

export function validationFailure(
  type: ValidationProblemType,
  detail: string,
  identifier: AcmeIdentifier,
  record: Record<string, unknown>,
  retryable: boolean,
): ValidationResult {
  return { valid: false, problem: problemDocument(type, detail, { identifier }), record, retryable };
}

/** A remote value quoted for a problem detail: bounded, and printable ASCII only. */
export function quoteRemote(text: string, max = 64): string {
  const clipped = text.length > max ? `${text.slice(0, max)}…` : text;
  return JSON.stringify(clipped.replace(/[^\x20-\x7e…]/g, "?"));
}
