import { ChanceryError, isChanceryError } from "../errors.ts";

/**
 * Why an OCSP request was refused. Every one of them is answered with the
 * OCSPResponseStatus malformedRequest (RFC 6960 §4.2.1, the status for a
 * request that does not conform to the OCSP syntax or to what this responder
 * accepts); the problem is for logs and metrics, never sent to the client.
 * Whether an issuer is ours (unauthorized otherwise) is the caller's decision.
 */
export const ocspRequestProblems = [
  /** No bytes at all (an empty POST body, an empty GET path). */
  "empty",
  /** Larger than maxOcspRequestBytes. */
  "too_large",
  /** The GET path is not base64 (after URL decoding). */
  "bad_base64",
  /** Not DER, or not an OCSPRequest. */
  "malformed",
  /** TBSRequest.version other than v1. */
  "unsupported_version",
  /** An empty requestList. */
  "no_cert_ids",
  /** More CertIDs than maxOcspRequestCertIds. */
  "too_many_cert_ids",
  /** A CertID hash algorithm other than SHA-1 or SHA-256. */
  "unsupported_hash_algorithm",
  /** A Nonce of 0 or more than 128 octets, or not an OCTET STRING (RFC 9654 §2.1). */
  "bad_nonce",
  /** The same extension twice (RFC 5280 §4.2, which RFC 6960 §4.4 follows). */
  "duplicate_extension",
  /** A critical extension we do not implement (RFC 6960 §4.4, RFC 5280 §4.2). */
  "unsupported_critical_extension",
] as const;

export type OcspRequestProblem = (typeof ocspRequestProblems)[number];

/**
 * A refusal as the core's one error type: code invalid_argument (which the
 * OCSP front end maps to malformedRequest), the problem in `detail`.
 */
export function ocspRequestProblem(problem: OcspRequestProblem, message: string, cause?: unknown): ChanceryError {
  return new ChanceryError("invalid_argument", `OCSP request refused: ${message}`, {
    detail: { ocspRequestProblem: problem },
    ...(cause === undefined ? {} : { cause }),
  });
}

/** The problem carried by an error from ocspRequestProblem, or "malformed" for any other error. */
export function problemOf(err: unknown): OcspRequestProblem {
  if (isChanceryError(err)) {
    const problem = err.detail?.ocspRequestProblem;
    if (typeof problem === "string" && (ocspRequestProblems as readonly string[]).includes(problem))
      return problem as OcspRequestProblem;
  }
  return "malformed";
}

/** What a parse step returns instead of throwing: hostile input must never become an exception. */
export type OcspParseResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly problem: OcspRequestProblem; readonly error: ChanceryError };

/** A refusal decided without parsing (empty or oversized input). */
export function refusal(problem: OcspRequestProblem, message: string): OcspParseResult<never> {
  return { ok: false, problem, error: ocspRequestProblem(problem, message) };
}

/** Runs `parse` and turns any exception into a typed refusal. */
export function parseSafely<T>(parse: () => T): OcspParseResult<T> {
  try {
    return { ok: true, value: parse() };
  } catch (cause) {
    const problem = problemOf(cause);
    const error = isChanceryError(cause)
      ? cause.detail?.ocspRequestProblem === problem
        ? cause
        : ocspRequestProblem(problem, cause.message, cause)
      : // Not one of ours (a bug, or a RangeError deep in a decoder): still a refusal, never a crash.
        ocspRequestProblem(problem, "the request could not be read", cause);
    return { ok: false, problem, error };
  }
}
