import type { FailInfo } from "../scep-types.ts";
import { ScepMessageError } from "./pki-message-types.ts";

/** A message we cannot identify (not CMS, no signer, no transactionID...): the front end answers HTTP 400. */
export function unidentified(message: string): ScepMessageError {
  return new ScepMessageError(null, message);
}

/** An identified message refused with a failInfo, answered by a FAILURE CertRep (RFC 8894 §3.2.1.4). */
export function refused(failInfo: FailInfo, message: string): ScepMessageError {
  return new ScepMessageError(failInfo, message);
}

/**
 * Runs `read` and turns anything it throws other than a ScepMessageError
 * (BerError, the DER reader's ChanceryError, a RangeError on hostile input)
 * into a ScepMessageError with `failInfo`, so the codec's callers only ever
 * see that one type.
 */
export function guarded<T>(failInfo: FailInfo | null, what: string, read: () => T): T {
  try {
    return read();
  } catch (cause) {
    if (cause instanceof ScepMessageError) throw cause;
    const detail = cause instanceof Error ? cause.message : String(cause);
    throw new ScepMessageError(failInfo, `${what}: ${detail}`);
  }
}
