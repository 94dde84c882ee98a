import type { ValidationResult } from "../challenge-validator.ts";

/** A failed validation's problem in short form (type without the ACME URN prefix) for assertions. */
export function problemOf(result: ValidationResult) {
  if (result.valid) throw new Error(`expected a failure, got ${JSON.stringify(result.record)}`);
  return {
    type: result.problem.type.replace("urn:ietf:params:acme:error:", ""),
    detail: result.problem.detail,
    retryable: result.retryable,
  };
}
