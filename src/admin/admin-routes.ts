import type { ConnectRouter } from "@connectrpc/connect";
import type { AuditLog } from "../core/audit/audit-log.ts";
import type { CaService } from "../core/ca/ca-service.ts";
import type { TokenService as CoreTokenService } from "../core/identity/token-service.ts";
import type { UserService as CoreUserService } from "../core/identity/user-service.ts";
import { AuditService } from "../gen/chancery/admin/v1/audit_pb.js";
import { CertificateAuthorityService } from "../gen/chancery/admin/v1/certificate_authority_pb.js";
import { TokenService } from "../gen/chancery/admin/v1/token_pb.js";
import { UserService } from "../gen/chancery/admin/v1/user_pb.js";
import { Health } from "../gen/health/v1/health_pb.js";
import { createAuditAdmin } from "./audit-admin.ts";
import { createCertificateAuthorityAdmin } from "./certificate-authority-admin.ts";
import { createHealthService } from "./health-service.ts";
import { registerReflection } from "./reflection-service.ts";
import { createTokenAdmin } from "./token-admin.ts";
import { createUserAdmin } from "./user-admin.ts";

/** Every service of the admin listener: the chancery.admin.v1 API plus gRPC health and reflection. */
export function createAdminRoutes(deps: {
  audit: AuditLog;
  cas: CaService;
  users: CoreUserService;
  tokens: CoreTokenService;
  /** Readiness for grpc.health.v1 (database reachable). */
  checkReady: () => Promise<boolean>;
}): (router: ConnectRouter) => void {
  const adminServices = [UserService, TokenService, CertificateAuthorityService, AuditService];
  return (router) => {
    router.service(UserService, createUserAdmin({ users: deps.users }));
    router.service(TokenService, createTokenAdmin({ tokens: deps.tokens }));
    router.service(CertificateAuthorityService, createCertificateAuthorityAdmin({ cas: deps.cas }));
    router.service(AuditService, createAuditAdmin({ audit: deps.audit }));
    router.service(
      Health,
      createHealthService({ services: adminServices.map((s) => s.typeName), check: deps.checkReady }),
    );
    registerReflection(router);
  };
}
