import type { Logger } from "pino";
import type { ScepService } from "../../src/core/scep/scep-service.ts";

export interface ScepAppDeps {
  readonly scep: ScepService;
  readonly logger: Logger;
}

/** RFC 8894 §4 operations, by their query-string names. */
export const scepOperations = ["GetCACaps", "GetCACert", "GetNextCACert", "PKIOperation"] as const;
export type ScepOperation = (typeof scepOperations)[number];

/** RFC 8894 §4 media types. */
export const scepContentTypes = {
  caps: "text/plain",
  caCertificate: "application/x-x509-ca-cert",
  caRaCertificates: "application/x-x509-ca-ra-cert",
  nextCaCertificates: "application/x-x509-next-ca-cert",
  pkiMessage: "application/x-pki-message",
} as const;
