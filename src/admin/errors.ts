import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import type { Logger } from "pino";
import { type ChanceryError, type ErrorCode, isChanceryError } from "../core/errors.ts";
import { ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.js";

/** The one place core error codes become Connect codes (DESIGN rule 2). */
const connectCodes: Record<ErrorCode, Code> = {
  invalid_argument: Code.InvalidArgument,
  bad_csr: Code.InvalidArgument,
  policy_violation: Code.FailedPrecondition,
  not_found: Code.NotFound,
  already_exists: Code.AlreadyExists,
  failed_precondition: Code.FailedPrecondition,
  unauthenticated: Code.Unauthenticated,
  permission_denied: Code.PermissionDenied,
  unavailable: Code.Unavailable,
  internal: Code.Internal,
};

/**
 * google.rpc.ErrorInfo.domain of every admin error (AIP-193: the logical
 * owner of the reasons, stable across releases and deployments, so it names
 * the product rather than a host).
 */
export const errorDomain = "chancery.dev";

/**
 * The only ChanceryError.detail keys a client may see, per core code; every
 * other detail (authentication failure reasons, KEK ids, CSR internals)
 * stays in the log (DESIGN rule 2). `rule` is the profile rule a
 * policy_violation broke ("validity", "san.patterns", "nameConstraints"...),
 * which the message names already; here it is machine-readable.
 */
const clientSafeDetail: Partial<Record<ErrorCode, readonly string[]>> = {
  policy_violation: ["rule"],
};

/** AIP-193 reason for a core code: the code in UPPER_SNAKE_CASE ("policy_violation" -> "POLICY_VIOLATION"). */
export function errorReason(code: ErrorCode): string {
  return code.toUpperCase();
}

/**
 * A ConnectError carrying a google.rpc.ErrorInfo detail. Connect JSON puts it
 * in the error body's "details"; gRPC and gRPC-Web in the
 * grpc-status-details-bin trailer (a google.rpc.Status).
 */
export function connectErrorWithReason(
  message: string,
  code: Code,
  reason: string,
  metadata: Record<string, string> = {},
): ConnectError {
  return new ConnectError(message, code, undefined, [
    { desc: ErrorInfoSchema, value: { reason, domain: errorDomain, metadata } },
  ]);
}

/** The wire form of a core error: mapped code, safe message, ErrorInfo with allow-listed metadata. */
export function toConnectError(err: ChanceryError): ConnectError {
  const metadata: Record<string, string> = {};
  for (const key of clientSafeDetail[err.code] ?? []) {
    const value = err.detail?.[key];
    if (typeof value === "string") metadata[key] = value;
  }
  return connectErrorWithReason(err.message, connectCodes[err.code], errorReason(err.code), metadata);
}

/**
 * Turns whatever a handler throws into a ConnectError: a ChanceryError keeps
 * its safe message and gets its mapped code plus a google.rpc.ErrorInfo
 * whose reason is the core code (README, Admin API); anything else is logged
 * with its details and reaches the client as a bare Internal error. A
 * ConnectError passes unchanged (connect's own, or one made with
 * connectErrorWithReason).
 */
export function createErrorInterceptor(logger: Logger): Interceptor {
  const translate = (err: unknown, procedure: string): ConnectError => {
    if (err instanceof ConnectError) return err;
    if (isChanceryError(err)) {
      if (err.code === "internal" || err.code === "unavailable") logger.error({ err, procedure }, "admin call failed");
      return toConnectError(err);
    }
    logger.error({ err, procedure }, "admin call failed unexpectedly");
    return connectErrorWithReason("internal error", Code.Internal, errorReason("internal"));
  };
  // A server-streaming handler is a generator: it runs (and throws) while
  // the response is read, after next() has returned, so its messages are
  // wrapped too (regression: ExportAuditEvents answered Internal instead of
  // PermissionDenied to a non-admin).
  async function* translateStream<T>(messages: AsyncIterable<T>, procedure: string): AsyncIterable<T> {
    try {
      yield* messages;
    } catch (err) {
      throw translate(err, procedure);
    }
  }
  return (next) => async (request) => {
    try {
      const response = await next(request);
      if (!response.stream) return response;
      return { ...response, message: translateStream(response.message, request.method.name) };
    } catch (err) {
      throw translate(err, request.method.name);
    }
  };
}
