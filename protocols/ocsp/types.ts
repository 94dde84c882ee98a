import type { Logger } from "pino";
import type { CaService } from "../../src/core/ca/ca-service.ts";
import type { Clock } from "../../src/core/clock.ts";
import type { CrlService } from "../../src/core/crl/crl-service.ts";
import type { OcspService } from "../../src/core/ocsp/ocsp-service.ts";

/** What the revocation listener (OCSP, CRLs, CA certificates) needs from the core. */
export interface RevocationListenerDeps {
  readonly ocsp: Pick<OcspService, "respond" | "cached">;
  readonly crls: Pick<CrlService, "latest" | "refresh">;
  readonly cas: Pick<CaService, "get">;
  readonly clock: Clock;
  readonly logger: Logger;
}

/** One representation of a published object, with what its validators and cache headers are made of. */
export interface Publication {
  readonly body: Buffer;
  readonly contentType: string;
  /** Strong entity tag, already quoted. */
  readonly etag: string;
  readonly lastModified: Date;
  /** Absent: no Expires header (a CA certificate has no natural expiry for caches). */
  readonly expires?: Date | undefined;
  readonly maxAgeSeconds: number;
}
