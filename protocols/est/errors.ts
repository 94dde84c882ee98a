import type { Middleware } from "koa";
import type { Logger } from "pino";
import { type ErrorCode, isChanceryError } from "../../src/core/errors.ts";
import { EstHttpError } from "./codec.ts";
import { estContentTypes } from "./types.ts";

/** Core error codes as EST HTTP statuses (RFC 7030 §4.2.3 and §3.2.3: status code plus a plain-text reason). */
const statusOf: Partial<Record<ErrorCode, number>> = {
  invalid_argument: 400,
  bad_csr: 400,
  policy_violation: 400,
  unauthenticated: 401,
  permission_denied: 403,
  not_found: 404,
  already_exists: 409,
  failed_precondition: 409,
  unavailable: 503,
};

/**
 * The EST front end's one error mapping (DESIGN rule 2). A 401 carries
 * `WWW-Authenticate: Basic` (RFC 7030 §3.2.3, RFC 7617) so a client knows to
 * retry with credentials; the core only says "unauthenticated" where Basic
 * credentials would do. Anything unexpected is a logged 500 with a generic reason.
 */
export function estErrors(logger: Logger): Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      let status = 500;
      let message = "internal error";
      let headers: Readonly<Record<string, string>> = {};
      if (err instanceof EstHttpError) {
        status = err.status;
        message = err.message;
        headers = err.headers;
      } else if (isChanceryError(err) && statusOf[err.code] !== undefined) {
        status = statusOf[err.code]!;
        message = err.message;
      } else {
        logger.error({ err, path: ctx.path }, "EST request failed");
      }
      if (status === 401) {
        const label = (ctx.params as Record<string, string> | undefined)?.["label"] ?? "default";
        headers = { "WWW-Authenticate": `Basic realm="EST ${label}", charset="UTF-8"`, ...headers };
      }
      if (status === 503) headers = { "Retry-After": "30", ...headers };
      if (status < 500)
        logger.info(
          { status, reason: message, path: ctx.path, ip: ctx.req.socket.remoteAddress },
          "EST request refused",
        );
      ctx.status = status;
      ctx.set(headers);
      ctx.type = estContentTypes.text;
      ctx.body = `${message}\n`;
    }
  };
}
