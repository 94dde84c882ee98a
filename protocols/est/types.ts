import type { Logger } from "pino";
import type { EstService } from "../../src/core/est/est-service.ts";

export interface EstAppDeps {
  readonly est: EstService;
  readonly logger: Logger;
}

/** RFC 7030 §3.2.2 operation path segments. */
export const estOperations = [
  "cacerts",
  "simpleenroll",
  "simplereenroll",
  "fullcmc",
  "serverkeygen",
  "csrattrs",
] as const;
export type EstOperationName = (typeof estOperations)[number];

/** RFC 7030 §4 media types (RFC 8951: bodies are base64 whatever Content-Transfer-Encoding says). */
export const estContentTypes = {
  certsOnly: "application/pkcs7-mime; smime-type=certs-only",
  serverGeneratedKey: "application/pkcs7-mime; smime-type=server-generated-key",
  pkcs8: "application/pkcs8",
  csrAttributes: "application/csrattrs",
  pkcs10: "application/pkcs10",
  text: "text/plain; charset=utf-8",
} as const;
