import type { ConnectRouter } from "@connectrpc/connect";
import type { AcmeDirectoryService } from "../core/acme/directory-service.ts";
import type { AcmeEabKeyService } from "../core/acme/eab-key-service.ts";
import type { AuditLog } from "../core/audit/audit-log.ts";
import type { CaService } from "../core/ca/ca-service.ts";
import type { CrlService } from "../core/crl/crl-service.ts";
import type { EnrollmentSecretService as CoreEnrollmentSecretService } from "../core/enrollment-secrets/enrollment-secret-types.ts";
import type { EstLabelService } from "../core/est/est-types.ts";
import type { TokenService as CoreTokenService } from "../core/identity/token-service.ts";
import type { TotpService } from "../core/identity/totp-service.ts";
import type { UserService as CoreUserService } from "../core/identity/user-service.ts";
import type { IssuanceService } from "../core/issuance/issuance-service.ts";
import type { OcspService } from "../core/ocsp/ocsp-service.ts";
import type { OcspResponderService } from "../core/ocsp/responder-service.ts";
import type { CaUrls } from "../core/profiles/ca-urls.ts";
import type { ProfileService as CoreProfileService } from "../core/profiles/profile-service.ts";
import type { RegistryService as CoreRegistryService } from "../core/registry/registry-service.ts";
import type { RequestService as CoreRequestService } from "../core/requests/request-service.ts";
import type { ScepEndpointService, ScepRaService } from "../core/scep/scep-types.ts";
import { AcmeService } from "../gen/chancery/admin/v1/acme_pb.js";
import { AuditService } from "../gen/chancery/admin/v1/audit_pb.js";
import { CertificateAuthorityService } from "../gen/chancery/admin/v1/certificate_authority_pb.js";
import { CertificateService } from "../gen/chancery/admin/v1/certificate_pb.js";
import { EnrollmentSecretService } from "../gen/chancery/admin/v1/enrollment_secret_pb.js";
import { EstService } from "../gen/chancery/admin/v1/est_pb.js";
import { ProfileService } from "../gen/chancery/admin/v1/profile_pb.js";
import { RegistryService } from "../gen/chancery/admin/v1/registry_pb.js";
import { RequestService } from "../gen/chancery/admin/v1/request_pb.js";
import { ScepService } from "../gen/chancery/admin/v1/scep_pb.js";
import { TokenService } from "../gen/chancery/admin/v1/token_pb.js";
import { UserService } from "../gen/chancery/admin/v1/user_pb.js";
import { Health } from "../gen/health/v1/health_pb.js";
import { createAcmeAdmin } from "./acme-admin.ts";
import { createAuditAdmin } from "./audit-admin.ts";
import { createCertificateAdmin } from "./certificate-admin.ts";
import { createCertificateAuthorityAdmin } from "./certificate-authority-admin.ts";
import { createEnrollmentSecretAdmin } from "./enrollment-secret-admin.ts";
import { createEstAdmin } from "./est-admin.ts";
import { createHealthService } from "./health-service.ts";
import { type IdempotencyOptions, idempotentRouter } from "./idempotency.ts";
import { createProfileAdmin } from "./profile-admin.ts";
import { registerReflection } from "./reflection-service.ts";
import { createRegistryAdmin } from "./registry-admin.ts";
import { createRequestAdmin } from "./request-admin.ts";
import { createScepAdmin } from "./scep-admin.ts";
import { createTokenAdmin } from "./token-admin.ts";
import { createUserAdmin } from "./user-admin.ts";

/** Every service of the admin listener: the chancery.admin.v1 API plus gRPC health and reflection. */
export function createAdminRoutes(deps: {
  audit: AuditLog;
  cas: CaService;
  issuance: IssuanceService;
  profiles: CoreProfileService;
  users: CoreUserService;
  tokens: CoreTokenService;
  totp: TotpService;
  requests: CoreRequestService;
  registry: CoreRegistryService;
  acmeDirectories: AcmeDirectoryService;
  acmeEabKeys: AcmeEabKeyService;
  /** config acme.baseUrl, for each directory's directory_url. */
  acmeBaseUrl: string;
  scepEndpoints: ScepEndpointService;
  scepRa: ScepRaService;
  /** The SCEP listener's public base URL, for each endpoint's url (`${scepBaseUrl}/scep/<name>`). */
  scepBaseUrl: string;
  estLabels: EstLabelService;
  /** The EST listener's public base URL, for each label's url (`${estBaseUrl}/.well-known/est/<label>`). */
  estBaseUrl: string;
  /** One-time enrollment secrets of SCEP endpoints and EST labels. */
  enrollmentSecrets: CoreEnrollmentSecretService;
  crls: CrlService;
  ocsp: OcspService;
  ocspResponders: OcspResponderService;
  /** The published URLs of a CA (CRL download_url). */
  caUrls: (caId: string) => CaUrls;
  /** Readiness for grpc.health.v1 (database reachable). */
  checkReady: () => Promise<boolean>;
  /** AIP-155 request_id storage for every unary RPC whose request has one. */
  idempotency: IdempotencyOptions;
}): (router: ConnectRouter) => void {
  const adminServices = [
    UserService,
    TokenService,
    CertificateAuthorityService,
    AuditService,
    ProfileService,
    CertificateService,
    RequestService,
    RegistryService,
    AcmeService,
    ScepService,
    EstService,
    EnrollmentSecretService,
  ];
  return (plainRouter) => {
    const router = idempotentRouter(plainRouter, deps.idempotency);
    router.service(UserService, createUserAdmin({ users: deps.users, totp: deps.totp }));
    router.service(TokenService, createTokenAdmin({ tokens: deps.tokens }));
    router.service(
      CertificateAuthorityService,
      createCertificateAuthorityAdmin({
        cas: deps.cas,
        crls: deps.crls,
        ocsp: deps.ocsp,
        ocspResponders: deps.ocspResponders,
        caUrls: deps.caUrls,
      }),
    );
    router.service(AuditService, createAuditAdmin({ audit: deps.audit }));
    router.service(
      CertificateService,
      createCertificateAdmin({ issuance: deps.issuance, cas: deps.cas, totp: deps.totp }),
    );
    router.service(ProfileService, createProfileAdmin({ profiles: deps.profiles }));
    router.service(RequestService, createRequestAdmin({ requests: deps.requests, cas: deps.cas, totp: deps.totp }));
    router.service(RegistryService, createRegistryAdmin({ registry: deps.registry }));
    router.service(
      AcmeService,
      createAcmeAdmin({ directories: deps.acmeDirectories, eabKeys: deps.acmeEabKeys, acmeBaseUrl: deps.acmeBaseUrl }),
    );
    router.service(
      ScepService,
      createScepAdmin({
        endpoints: deps.scepEndpoints,
        ra: deps.scepRa,
        scepBaseUrl: deps.scepBaseUrl,
      }),
    );
    router.service(EstService, createEstAdmin({ labels: deps.estLabels, estBaseUrl: deps.estBaseUrl }));
    router.service(EnrollmentSecretService, createEnrollmentSecretAdmin({ secrets: deps.enrollmentSecrets }));
    router.service(
      Health,
      createHealthService({ services: adminServices.map((s) => s.typeName), check: deps.checkReady }),
    );
    registerReflection(router);
  };
}
