import type { Logger } from "pino";
import type { AcmeAccountService } from "../../src/core/acme/account-service.ts";
import type { AcmeCertificateService } from "../../src/core/acme/acme-certificates.ts";
import type { AcmeAuthorizationService } from "../../src/core/acme/authorization-service.ts";
import type { ChallengeWorker } from "../../src/core/acme/challenge-worker.ts";
import type { AcmeDirectoryService } from "../../src/core/acme/directory-service.ts";
import type { AcmeEabKeyService } from "../../src/core/acme/eab-key-service.ts";
import type { NonceService } from "../../src/core/acme/nonce-service.ts";
import type { AcmeOrderService } from "../../src/core/acme/order-service.ts";
import type { ProfileService } from "../../src/core/profiles/profile-service.ts";

/** What the ACME front end needs: the core ACME services, nothing of SQL or keys (DESIGN rule 1). */
export interface AcmeFrontEndDeps {
  /** config acme.baseUrl: the HTTPS origin every URL in responses is built on. */
  readonly baseUrl: string;
  readonly directories: Pick<AcmeDirectoryService, "getByName">;
  readonly profiles: Pick<ProfileService, "get">;
  readonly accounts: AcmeAccountService;
  readonly orders: AcmeOrderService;
  readonly authorizations: AcmeAuthorizationService;
  readonly certificates: AcmeCertificateService;
  readonly challengeWorker: Pick<ChallengeWorker, "validateSoon">;
  readonly nonces: NonceService;
  readonly eabKeys: Pick<AcmeEabKeyService, "hmacKeyForBinding">;
  readonly logger: Logger;
}
