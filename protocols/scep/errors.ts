import type { Middleware } from "koa";
import type { Logger } from "pino";
import { isChanceryError } from "../../src/core/errors.ts";
import { ScepMessageError } from "../../src/core/scep/pki-message/pki-message.ts";
import { ScepHttpError } from "./codec.ts";

/**
 * The SCEP front end's one error mapping (DESIGN rule 2). A message that was
 * identified is answered inside the protocol, as a FAILURE CertRep with a
 * failInfo (src/core/scep/scep-service.ts); what reaches here had no
 * message to answer and becomes an HTTP status with a plain-text reason:
 * 400 unreadable message or query, 404 unknown or disabled endpoint,
 * 413 too large, 503 a dependency down, 500 anything else (logged).
 */
export function scepErrors(logger: Logger): Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      let status = 500;
      let message = "internal error";
      if (err instanceof ScepHttpError) {
        status = err.status;
        message = err.message;
      } else if (err instanceof ScepMessageError) {
        status = 400;
        message = `not a SCEP pkiMessage: ${err.message}`;
      } else if (isChanceryError(err, "not_found")) {
        status = 404;
        message = err.message;
      } else if (isChanceryError(err, "unavailable")) {
        status = 503;
        message = err.message;
      } else {
        logger.error({ err, path: ctx.path }, "SCEP request failed");
      }
      if (status < 500) logger.info({ status, reason: message, path: ctx.path, ip: ctx.ip }, "SCEP request refused");
      ctx.status = status;
      ctx.type = "text/plain";
      ctx.body = `${message}\n`;
    }
  };
}
