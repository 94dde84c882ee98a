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
  return (next) => async (request) => {
    try {
      return await next(request);
    } catch (err) {
      if (err instanceof ConnectError) throw err;
      if (isChanceryError(err)) {
        if (err.code === "internal" || err.code === "unavailable")
          logger.error({ err, procedure: request.method.name }, "admin call failed");
        throw new ConnectError(err.message, connectCodes[err.code], { "chancery-error": err.code });
      }
      logger.error({ err, procedure: request.method.name }, "admin call failed unexpectedly");
      throw new ConnectError("internal error", Code.Internal);
    }
  };
}
