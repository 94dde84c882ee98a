import type { Logger } from "pino";
import { AcmeProblem, type ProblemDocument, problemDocument } from "../../src/core/acme/acme-problem.ts";
import { type ChanceryError, isChanceryError } from "../../src/core/errors.ts";

/** An error as the ACME front end writes it: status, application/problem+json body, and Retry-After when set. */
export interface AcmeErrorResponse {
  readonly status: number;
  readonly body: ProblemDocument;
  readonly retryAfterSeconds?: number;
}

/** RFC 8555 §6.6 lets a server say when to retry; the store or HSM is usually back within this. */
const unavailableRetryAfterSeconds = 30;
const genericDetail = "the server could not complete the request";

/**
 * Any error → the problem document the client gets (RFC 8555 §6.7; DESIGN
 * rule 2). An AcmeProblem goes out as it is. A ChanceryError code maps to
 * the ACME type that tells the client what to fix, with its message (which
 * the core keeps safe to show). Anything else is a server fault: logged with
 * everything, answered with a generic detail that names no internals.
 */
export function acmeErrorResponse(err: unknown, logger: Logger): AcmeErrorResponse {
  if (err instanceof AcmeProblem) {
    if (err.status >= 500) logger.error({ err }, "ACME request failed");
    return {
      status: err.status,
      body: err.toDocument(),
      ...(err.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: err.retryAfterSeconds }),
    };
  }
  if (isChanceryError(err)) return fromChanceryError(err, logger);
  // Koa/http-errors 4xx the framework marks as safe to show (a body too large, undecodable JSON):
  // the client's fault, so malformed with that status, never a 500.
  const httpError = err as { status?: unknown; expose?: unknown; message?: unknown } | null;
  if (
    typeof httpError?.status === "number" &&
    httpError.status >= 400 &&
    httpError.status < 500 &&
    httpError.expose === true &&
    typeof httpError.message === "string"
  )
    return problem("malformed", httpError.message, httpError.status);
  logger.error({ err }, "ACME request failed");
  return problem("serverInternal", genericDetail, 500);
}

function fromChanceryError(err: ChanceryError, logger: Logger): AcmeErrorResponse {
  switch (err.code) {
    case "invalid_argument":
      return problem("malformed", err.message, 400);
    case "bad_csr":
      return problem("badCSR", err.message, 400);
    case "policy_violation":
      // RFC 8555 §6.7: badCSR covers an unacceptable CSR ("e.g., due to a short key"): a refused key
      // or subject is the CSR's fault. Anything else policy refuses concerns the names asked for.
      return problem(csrRule(err) ? "badCSR" : "rejectedIdentifier", err.message, 400);
    case "not_found":
      return problem("malformed", err.message, 404);
    case "already_exists":
      return problem("malformed", err.message, 409);
    case "failed_precondition":
      // The object's state forbids it (a disabled CA, a finished request). orderNotReady is for an
      // order finalized too early only, and the ACME core throws that one itself as an AcmeProblem.
      return problem("malformed", err.message, 403);
    case "unauthenticated":
      return problem("unauthorized", err.message, 401);
    case "permission_denied":
      return problem("unauthorized", err.message, 403);
    case "unavailable":
      logger.warn({ err }, "ACME request failed: a dependency is unavailable");
      return { ...problem("serverInternal", err.message, 503), retryAfterSeconds: unavailableRetryAfterSeconds };
    case "internal":
      logger.error({ err, detail: err.detail }, "ACME request failed");
      return problem("serverInternal", genericDetail, 500);
    default: {
      const unknownCode: never = err.code;
      logger.error({ err, code: unknownCode }, "ACME request failed with an unmapped error code");
      return problem("serverInternal", genericDetail, 500);
    }
  }
}

/** policy-check.ts names the broken rule in detail.rule: keyAlgorithms.*, keyUsage, key, subject.*, san.*, ... */
function csrRule(err: ChanceryError): boolean {
  const rule = err.detail?.rule;
  return typeof rule === "string" && (rule.startsWith("key") || rule.startsWith("subject"));
}

function problem(type: Parameters<typeof problemDocument>[0], detail: string, status: number): AcmeErrorResponse {
  return { status, body: problemDocument(type, detail, { status }) };
}
