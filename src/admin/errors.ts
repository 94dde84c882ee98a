import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import type { Logger } from "pino";
import { type ErrorCode, isChanceryError } from "../core/errors.ts";

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
 * Turns whatever a handler throws into a ConnectError: a ChanceryError keeps
 * its safe message and gets its mapped code (the core code travels as the
 * "chancery-error" response header for machines); anything else is logged
 * with its details and reaches the client as a bare Internal error.
 */
export function createErrorInterceptor(logger: Logger): Interceptor {
  const translate = (err: unknown, procedure: string): ConnectError => {
    if (err instanceof ConnectError) return err;
    if (isChanceryError(err)) {
      if (err.code === "internal" || err.code === "unavailable") logger.error({ err, procedure }, "admin call failed");
      return new ConnectError(err.message, connectCodes[err.code], { "chancery-error": err.code });
    }
    logger.error({ err, procedure }, "admin call failed unexpectedly");
    return new ConnectError("internal error", Code.Internal);
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
