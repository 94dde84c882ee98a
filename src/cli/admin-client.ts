import { existsSync, readFileSync } from "node:fs";
import { createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
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

export interface ClientSettings {
  /** https://host:port of the admin listener. */
  server: string;
  token: string | undefined;
  /** PEM file of the CA that issued the admin listener's certificate. */
  caFile: string | undefined;
}

/**
 * The generated Connect clients of the admin API over one HTTP/2 session,
 * with the bearer token on every call (when there is one: redeeming an
 * enrollment code needs none).
 */
export function createAdminClients(settings: ClientSettings) {
  const authorization: Interceptor = (next) => async (request) => {
    if (settings.token) request.header.set("authorization", `Bearer ${settings.token}`);
    return next(request);
  };
  const url = new URL(settings.server);
  const transport = createConnectTransport({
    baseUrl: settings.server,
    httpVersion: "2",
    interceptors: [authorization],
    nodeOptions: {
      ...(settings.caFile ? { ca: readFileSync(settings.caFile) } : {}),
      // RFC 6066 §3: no IP addresses as SNI; the certificate carries the IP as a SAN anyway.
      ...(/^[\d.]+$|:/.test(url.hostname) ? {} : { servername: url.hostname }),
    },
  });
  return {
    users: createClient(UserService, transport),
    tokens: createClient(TokenService, transport),
    cas: createClient(CertificateAuthorityService, transport),
    audit: createClient(AuditService, transport),
    profiles: createClient(ProfileService, transport),
    certs: createClient(CertificateService, transport),
    requests: createClient(RequestService, transport),
    registry: createClient(RegistryService, transport),
    acme: createClient(AcmeService, transport),
    scep: createClient(ScepService, transport),
    est: createClient(EstService, transport),
    secrets: createClient(EnrollmentSecretService, transport),
  };
}

export type AdminClients = ReturnType<typeof createAdminClients>;

/** Flags win over CHANCERY_SERVER / CHANCERY_TOKEN / CHANCERY_CA_FILE; ./data/root-ca.pem is the default CA. */
export function clientSettings(
  flags: { server?: string | undefined; token?: string | undefined; "ca-file"?: string | undefined },
  env: NodeJS.ProcessEnv,
): ClientSettings {
  const defaultCa = existsSync("data/root-ca.pem") ? "data/root-ca.pem" : undefined;
  return {
    server: flags.server ?? env["CHANCERY_SERVER"] ?? "https://localhost:9443",
    token: flags.token ?? env["CHANCERY_TOKEN"],
    caFile: flags["ca-file"] ?? env["CHANCERY_CA_FILE"] ?? defaultCa,
  };
}
