/**
 * The one error type the core throws. Its code is from a closed set; each
 * protocol front end owns one file that maps a code to its wire form (ACME
 * problem document, SCEP failInfo, EST HTTP status, OCSP responseStatus,
 * Connect code). `message` is safe to show to a client; `cause` and `detail`
 * are for the log only.
 */
export const errorCodes = [
  /** The caller sent something malformed (bad PEM, bad field value). */
  "invalid_argument",
  /** A CSR that cannot be parsed or whose signature does not verify. */
  "bad_csr",
  /** Well-formed, but the profile or CA policy forbids it. */
  "policy_violation",
  "not_found",
  "already_exists",
  /** The object is not in a state that allows the operation. */
  "failed_precondition",
  "unauthenticated",
  "permission_denied",
  /** A dependency (database, HSM) is not reachable right now; retry later. */
  "unavailable",
  "internal",
] as const;

export type ErrorCode = (typeof errorCodes)[number];

export class ChanceryError extends Error {
  readonly code: ErrorCode;
  /** Extra facts for the log; never sent to a client. */
  readonly detail: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; detail?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ChanceryError";
    this.code = code;
    this.detail = options?.detail;
  }
}

export function isChanceryError(err: unknown, code?: ErrorCode): err is ChanceryError {
  return err instanceof ChanceryError && (code === undefined || err.code === code);
}
