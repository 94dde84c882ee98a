import type { Middleware } from "koa";
import type { Logger } from "pino";
import { isChanceryError } from "../../src/core/errors.ts";
import type { OcspErrorStatus } from "../../src/core/ocsp/ocsp-response-status.ts";

/**
 * Core error → HTTP status for the revocation listener. Relying parties get
 * a short text body; details go to the log only (DESIGN rule 2). A request
 * Koa or the router cannot make sense of (bad percent-encoding, ...) keeps
 * its own 4xx status: bad input is never a 500.
 */
export function revocationErrors(logger: Logger): Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      const status = statusOf(err);
      if (status >= 500) logger.error({ err, path: ctx.path }, "revocation listener request failed");
      ctx.status = status;
      ctx.set("Cache-Control", "no-store");
      ctx.type = "text/plain";
      ctx.body = status === 404 ? "not found\n" : status === 503 ? "temporarily unavailable\n" : "error\n";
    }
  };
}

function statusOf(err: unknown): number {
  if (isChanceryError(err, "not_found")) return 404;
  if (isChanceryError(err, "unavailable")) return 503;
  if (isChanceryError(err, "invalid_argument")) return 400;
  if (err instanceof URIError) return 400;
  const status = (err as { status?: unknown } | null)?.status;
  if (typeof status === "number" && status >= 400 && status < 500) return status;
  return 500;
}

/**
 * Core error → OCSPResponseStatus (RFC 6960 §4.2.1), for failures while
 * answering an OCSP request: the store out of reach is tryLater, a request
 * the core refuses is malformedRequest, anything else internalError. The
 * error itself goes to the log only (DESIGN rule 2).
 */
export function ocspErrorStatusOf(err: unknown): OcspErrorStatus {
  if (isChanceryError(err, "unavailable")) return "tryLater";
  if (isChanceryError(err, "invalid_argument")) return "malformedRequest";
  return "internalError";
}
