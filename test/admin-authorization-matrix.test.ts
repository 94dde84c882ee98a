import { create, type DescMethod, type DescService, fromBinary, type Message, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { grpcUnary } from "../src/admin/testing/grpc-test-client.ts";
import { pemEncode } from "../src/core/x509/pem.ts";
import { opensslCsr } from "../src/core/x509/testing/openssl.ts";
import type { Gateway } from "../src/gateway.ts";
import { AcmeDirectory_ChallengeType, AcmeService } from "../src/gen/chancery/admin/v1/acme_pb.js";
import { AuditService } from "../src/gen/chancery/admin/v1/audit_pb.js";
import { CertificateAuthorityService, KeyAlgorithm } from "../src/gen/chancery/admin/v1/certificate_authority_pb.js";
import { CertificateService, SubjectAltName_Type } from "../src/gen/chancery/admin/v1/certificate_pb.js";
import { EnrollmentSecretService } from "../src/gen/chancery/admin/v1/enrollment_secret_pb.js";
import { EstLabel_AuthMode, EstService } from "../src/gen/chancery/admin/v1/est_pb.js";
import { ProfileService } from "../src/gen/chancery/admin/v1/profile_pb.js";
import {
  ObjectIdentifier_Placement,
  ObjectIdentifier_ValueType,
  RegistryService,
} from "../src/gen/chancery/admin/v1/registry_pb.js";
import { Request_SubjectAltName_Type, RequestService } from "../src/gen/chancery/admin/v1/request_pb.js";
import { ScepEndpoint_ChallengeMode, ScepService } from "../src/gen/chancery/admin/v1/scep_pb.js";
import { TokenService } from "../src/gen/chancery/admin/v1/token_pb.js";
import { UserService } from "../src/gen/chancery/admin/v1/user_pb.js";
import { bearer, startTestGateway, type TestGateway } from "./support/test-gateway.ts";

/**
 * The authorization matrix of the admin API: every RPC of every
 * chancery.admin.v1 service, called by every kind of caller, over real gRPC.
 *
 * The RPCs come from the generated descriptors, so an RPC added to a proto
 * fails this file until it has an entry in `matrix` (and in `requests`).
 *
 * Callers that fail authentication or the subnet check are refused alike for
 * every RPC (UNAUTHENTICATED / PERMISSION_DENIED) and get the request the
 * admin sends, so a missing check would show up as a success (the one RPC
 * whose credential is in the request, RedeemTokenEnrollment, gets a bad
 * credential there instead: see requestCredentials). For the role
 * cases the table spells the rule out per RPC:
 *
 * - "OK": the call passes authorization. It may still fail on the minimal
 *   request (INVALID_ARGUMENT, FAILED_PRECONDITION, ALREADY_EXISTS), but
 *   never with UNAUTHENTICATED, PERMISSION_DENIED or NOT_FOUND: each request
 *   names resources the caller may see, so NOT_FOUND would be a denial.
 * - A code: the exact denial, NOT_FOUND where the API hides a resource the
 *   caller may not use (an operator's unassigned CA, another user's
 *   certificate or request).
 */

const services: readonly DescService[] = [
  UserService,
  TokenService,
  CertificateAuthorityService,
  CertificateService,
  ProfileService,
  RequestService,
  AuditService,
  RegistryService,
  AcmeService,
  ScepService,
  EstService,
  EnrollmentSecretService,
];

type Code = "OK" | keyof typeof grpc.status;

/**
 * Role callers. `operatorUnassigned` is the operator acting on a CA (or a
 * resource of a CA) not assigned to them; `userForeign` a user acting on
 * another user's resource. Both appear only where the RPC is scoped that way.
 */
type RoleKind = "user" | "userForeign" | "operator" | "operatorUnassigned" | "admin";
type Expectation = { user: Code; operator: Code; admin: Code; userForeign?: Code; operatorUnassigned?: Code };

const PD = "PERMISSION_DENIED";
const NF = "NOT_FOUND";
const adminOnly: Expectation = { user: PD, operator: PD, admin: "OK" };
const operatorUp: Expectation = { user: PD, operator: "OK", admin: "OK" };
const everyone: Expectation = { user: "OK", operator: "OK", admin: "OK" };

const matrix: Record<string, Expectation> = {
  // UserService: admin-only management; anyone reads their own account and manages their own TOTP.
  "chancery.admin.v1.UserService/CreateUser": adminOnly,
  "chancery.admin.v1.UserService/GetUser": adminOnly,
  "chancery.admin.v1.UserService/ListUsers": adminOnly,
  "chancery.admin.v1.UserService/UpdateUser": adminOnly,
  "chancery.admin.v1.UserService/GetCurrentUser": everyone,
  "chancery.admin.v1.UserService/EnrollTotp": everyone,
  "chancery.admin.v1.UserService/ConfirmTotp": everyone,
  "chancery.admin.v1.UserService/ResetTotp": adminOnly,

  // TokenService: each user makes/replaces/reads their own token; someone else's is for admins.
  "chancery.admin.v1.TokenService/CreateToken": everyone,
  "chancery.admin.v1.TokenService/RegenerateToken": everyone,
  "chancery.admin.v1.TokenService/GetToken": { user: "OK", userForeign: PD, operator: PD, admin: "OK" },
  "chancery.admin.v1.TokenService/RevokeToken": { user: PD, operator: PD, admin: "OK" },
  // Enrollment codes are handed out by admins; redeeming one needs no token (see requestCredentials).
  "chancery.admin.v1.TokenService/CreateTokenEnrollment": adminOnly,
  "chancery.admin.v1.TokenService/GetTokenEnrollment": adminOnly,
  "chancery.admin.v1.TokenService/DeleteTokenEnrollment": adminOnly,
  "chancery.admin.v1.TokenService/RedeemTokenEnrollment": everyone,

  // CertificateAuthorityService: admins manage CAs; operators read the CAs assigned to them.
  "chancery.admin.v1.CertificateAuthorityService/CreateRootCertificateAuthority": adminOnly,
  "chancery.admin.v1.CertificateAuthorityService/CreateIntermediateCertificateAuthority": adminOnly,
  "chancery.admin.v1.CertificateAuthorityService/CreateExternalCertificateAuthority": adminOnly,
  "chancery.admin.v1.CertificateAuthorityService/ImportSignedCertificate": adminOnly,
  "chancery.admin.v1.CertificateAuthorityService/ImportCertificateAuthority": adminOnly,
  "chancery.admin.v1.CertificateAuthorityService/GetCertificateAuthority": {
    user: PD,
    operator: "OK",
    operatorUnassigned: NF,
    admin: "OK",
  },
  "chancery.admin.v1.CertificateAuthorityService/ListCertificateAuthorities": operatorUp,
  "chancery.admin.v1.CertificateAuthorityService/DisableCertificateAuthority": adminOnly,
  "chancery.admin.v1.CertificateAuthorityService/EnableCertificateAuthority": adminOnly,
  "chancery.admin.v1.CertificateAuthorityService/UpdateCertificateAuthority": adminOnly,
  "chancery.admin.v1.CertificateAuthorityService/GetCrl": {
    user: PD,
    operator: "OK",
    operatorUnassigned: NF,
    admin: "OK",
  },
  // Even on a CA assigned to the operator.
  "chancery.admin.v1.CertificateAuthorityService/RegenerateCrl": adminOnly,
  "chancery.admin.v1.CertificateAuthorityService/GetOcspResponder": {
    user: PD,
    operator: "OK",
    operatorUnassigned: NF,
    admin: "OK",
  },

  // CertificateService: operators issue/revoke through assigned CAs, admins through any; users read their own.
  "chancery.admin.v1.CertificateService/IssueCertificate": {
    user: PD,
    operator: "OK",
    operatorUnassigned: NF,
    admin: "OK",
  },
  "chancery.admin.v1.CertificateService/GetCertificate": {
    user: "OK",
    userForeign: NF,
    operator: "OK",
    operatorUnassigned: NF,
    admin: "OK",
  },
  "chancery.admin.v1.CertificateService/ListCertificates": { ...everyone, operatorUnassigned: "OK" },
  "chancery.admin.v1.CertificateService/GetCertificateChain": {
    user: "OK",
    userForeign: NF,
    operator: "OK",
    operatorUnassigned: NF,
    admin: "OK",
  },
  "chancery.admin.v1.CertificateService/RevokeCertificate": {
    user: PD,
    operator: "OK",
    operatorUnassigned: NF,
    admin: "OK",
  },

  // ProfileService: operators and admins read; only admins change.
  "chancery.admin.v1.ProfileService/CreateProfile": adminOnly,
  "chancery.admin.v1.ProfileService/GetProfile": operatorUp,
  "chancery.admin.v1.ProfileService/ListProfiles": operatorUp,
  "chancery.admin.v1.ProfileService/UpdateProfile": adminOnly,
  "chancery.admin.v1.ProfileService/DeleteProfile": adminOnly,
  // RegistryService: operators and admins read; only admins change.
  "chancery.admin.v1.RegistryService/ListObjectIdentifiers": operatorUp,
  "chancery.admin.v1.RegistryService/GetObjectIdentifier": operatorUp,
  "chancery.admin.v1.RegistryService/CreateObjectIdentifier": adminOnly,
  "chancery.admin.v1.RegistryService/UpdateObjectIdentifier": adminOnly,
  "chancery.admin.v1.RegistryService/DeleteObjectIdentifier": adminOnly,
  "chancery.admin.v1.RegistryService/ListCertificatePolicies": operatorUp,
  "chancery.admin.v1.RegistryService/GetCertificatePolicy": operatorUp,
  "chancery.admin.v1.RegistryService/CreateCertificatePolicy": adminOnly,
  "chancery.admin.v1.RegistryService/UpdateCertificatePolicy": adminOnly,
  "chancery.admin.v1.RegistryService/DeleteCertificatePolicy": adminOnly,

  // AcmeService: admins only, reads included (directories hold issuance policy and are not CA-scoped).
  "chancery.admin.v1.AcmeService/CreateAcmeDirectory": adminOnly,
  "chancery.admin.v1.AcmeService/GetAcmeDirectory": adminOnly,
  "chancery.admin.v1.AcmeService/ListAcmeDirectories": adminOnly,
  "chancery.admin.v1.AcmeService/UpdateAcmeDirectory": adminOnly,
  "chancery.admin.v1.AcmeService/DeleteAcmeDirectory": adminOnly,
  "chancery.admin.v1.AcmeService/CreateExternalAccountKey": adminOnly,
  "chancery.admin.v1.AcmeService/ListExternalAccountKeys": adminOnly,
  "chancery.admin.v1.AcmeService/RevokeExternalAccountKey": adminOnly,

  // ScepService: endpoints and RA rotation are admin only (issuance policy, reads included).
  "chancery.admin.v1.ScepService/CreateScepEndpoint": adminOnly,
  "chancery.admin.v1.ScepService/GetScepEndpoint": adminOnly,
  "chancery.admin.v1.ScepService/ListScepEndpoints": adminOnly,
  "chancery.admin.v1.ScepService/UpdateScepEndpoint": adminOnly,
  "chancery.admin.v1.ScepService/DeleteScepEndpoint": adminOnly,
  "chancery.admin.v1.ScepService/RotateScepRaCertificate": adminOnly,

  // EstService: labels are admin only (issuance policy, reads included).
  "chancery.admin.v1.EstService/CreateEstLabel": adminOnly,
  "chancery.admin.v1.EstService/GetEstLabel": adminOnly,
  "chancery.admin.v1.EstService/ListEstLabels": adminOnly,
  "chancery.admin.v1.EstService/UpdateEstLabel": adminOnly,
  "chancery.admin.v1.EstService/DeleteEstLabel": adminOnly,

  // EnrollmentSecretService: one-time secrets of SCEP endpoints and EST labels, for admins and operators
  // assigned the endpoint's or label's CA (MDM and provisioning tools); another CA's scope and its secrets hidden.
  "chancery.admin.v1.EnrollmentSecretService/CreateEnrollmentSecret": {
    user: PD,
    operator: "OK",
    operatorUnassigned: NF,
    admin: "OK",
  },
  "chancery.admin.v1.EnrollmentSecretService/GetEnrollmentSecret": {
    user: PD,
    operator: "OK",
    operatorUnassigned: NF,
    admin: "OK",
  },
  "chancery.admin.v1.EnrollmentSecretService/ListEnrollmentSecrets": {
    user: PD,
    operator: "OK",
    operatorUnassigned: NF,
    admin: "OK",
  },
  "chancery.admin.v1.EnrollmentSecretService/RevokeEnrollmentSecret": {
    user: PD,
    operator: "OK",
    operatorUnassigned: NF,
    admin: "OK",
  },

  // RequestService: everyone submits and reads their own; operators approve/reject through assigned CAs and
  // see unapproved requests, those through their CAs and their own; admins everything.
  "chancery.admin.v1.RequestService/CreateRequest": everyone,
  "chancery.admin.v1.RequestService/GetRequest": {
    user: "OK",
    userForeign: NF,
    operator: "OK",
    operatorUnassigned: NF,
    admin: "OK",
  },
  "chancery.admin.v1.RequestService/ListRequests": everyone,
  "chancery.admin.v1.RequestService/ApproveRequest": {
    user: PD,
    operator: "OK",
    // The request (not yet approved) is visible; the unassigned CA it names is hidden, as in the CA and
    // certificate services.
    operatorUnassigned: NF,
    admin: "OK",
  },
  "chancery.admin.v1.RequestService/RejectRequest": {
    user: PD,
    operator: "OK",
    // A request issued through an unassigned CA is invisible to the operator.
    operatorUnassigned: NF,
    admin: "OK",
  },
  "chancery.admin.v1.RequestService/GetRequestCounts": everyone,
  "chancery.admin.v1.RequestService/ExportRequestPkcs12": {
    user: "OK",
    userForeign: NF,
    // Visible (issued through the operator's CA) but not theirs: the requester and admins only.
    operator: PD,
    operatorUnassigned: NF,
    admin: "OK",
  },

  // AuditService: admins only.
  "chancery.admin.v1.AuditService/ListAuditEvents": adminOnly,
  "chancery.admin.v1.AuditService/ExportAuditEvents": adminOnly,
  "chancery.admin.v1.AuditService/VerifyAuditChain": adminOnly,
};

/** Failures that still mean the call got past authorization (the minimal request is not valid). */
const passedAuthorization = new Set<Code>(["OK", "INVALID_ARGUMENT", "FAILED_PRECONDITION", "ALREADY_EXISTS"]);

const codeName = (code: number): Code => grpc.status[code] as Code;

const key = (method: DescMethod) => `${method.parent.typeName}/${method.name}`;

const allMethods: DescMethod[] = services.flatMap((service) => service.methods);

type Request = Record<string, unknown>;

interface Fixtures {
  adminId: string;
  userId: string;
  victimId: string;
  issuingCa: string;
  otherCa: string;
  spareCa: string;
  certIssuing: string;
  certOther: string;
  userCert: string;
  userRequestIssuing: string;
  userRequestOther: string;
  victimRequestIssuing: string;
}

describe("admin API authorization matrix", () => {
  let env: TestGateway;
  let gateway: Gateway;
  let client: grpc.Client;
  let f: Fixtures;
  const tokens: Record<"admin" | "user" | "operator" | "victim" | "revoked" | "subnet", string> = {
    admin: "",
    user: "",
    operator: "",
    victim: "",
    revoked: "",
    subnet: "",
  };
  let unique = 0;
  const next = (prefix: string) => `${prefix}-${++unique}`;

  function call(method: DescMethod, request: Request, metadata: grpc.Metadata): Promise<Code> {
    const outcome = (promise: Promise<unknown>) =>
      promise.then(
        () => "OK" as Code,
        (err: grpc.ServiceError) => {
          if (typeof err?.code !== "number") throw err;
          return codeName(err.code);
        },
      );
    if (method.methodKind === "unary") return outcome(grpcUnary(client, method as never, request as never, metadata));
    if (method.methodKind !== "server_streaming") throw new Error(`${key(method)}: ${method.methodKind} not handled`);
    // Server streaming: the first message (or the end of the stream) is success, an error the outcome.
    return outcome(
      new Promise<void>((resolve, reject) => {
        const stream = client.makeServerStreamRequest(
          `/${method.parent.typeName}/${method.name}`,
          (message: Message) => Buffer.from(toBinary(method.input, message)),
          (bytes: Buffer) => fromBinary(method.output, bytes),
          create(method.input, request as never),
          metadata,
          { deadline: Date.now() + 10_000 },
        );
        let settled = false;
        stream.on("data", () => {
          settled = true;
          resolve();
          stream.cancel();
        });
        stream.on("error", (err) => {
          if (!settled) reject(err);
        });
        stream.on("end", () => resolve());
      }),
    );
  }

  const admin = () => bearer(tokens.admin);

  async function account(role: "user" | "operator" | "admin", assignedCaIds: string[] = [], allowedSubnets?: string[]) {
    const user = await gateway.users.create(
      { username: next(role), role, apiAccess: true, ...(allowedSubnets ? { allowedSubnets } : {}) },
      { actor: "test" },
    );
    if (assignedCaIds.length > 0) await gateway.users.update(user.id, { assignedCaIds }, { actor: "test" });
    const token = await gateway.tokens.create(user.id, { actor: "test" });
    return { id: user.id, token: token.secret };
  }

  const caId = (name: string) => name.slice("certificateAuthorities/".length);

  async function issue(parent: string): Promise<string> {
    const cn = `${next("host")}.example.com`;
    const cert = await grpcUnary(
      client,
      CertificateService.method.issueCertificate,
      {
        parent,
        profile: "profiles/tls-server",
        csrPem: pemEncode("CERTIFICATE REQUEST", opensslCsr({ subject: `/CN=${cn}` })),
        subjectAltNames: [{ type: SubjectAltName_Type.DNS, value: cn }],
      },
      admin(),
    );
    return cert.name;
  }

  /** A pending request with server-side key generation, submitted by `token`'s owner. */
  async function pendingRequest(token: string): Promise<string> {
    const cn = `${next("req")}.example.com`;
    const made = await grpcUnary(
      client,
      RequestService.method.createRequest,
      {
        request: {
          commonName: cn,
          subjectAltNames: [{ type: Request_SubjectAltName_Type.DNS, value: cn }],
          keyAlgorithm: KeyAlgorithm.ECDSA_P256,
        },
      },
      bearer(token),
    );
    return made.name;
  }

  /** A request by `token`'s owner, approved (and issued) by the admin through `ca`. */
  async function issuedRequest(token: string, ca: string) {
    const name = await pendingRequest(token);
    const approved = await grpcUnary(
      client,
      RequestService.method.approveRequest,
      { name, certificateAuthority: ca, profile: "profiles/tls-server" },
      admin(),
    );
    if (!approved.certificate) throw new Error(`request ${name} was not issued`);
    return { name, certificate: approved.certificate };
  }

  /**
   * The minimal request each role caller sends. Callers that fail
   * authentication send the admin's. `fresh` RPCs run with a new account
   * of the caller's role, as they change the caller's own token.
   */
  const fresh = new Set(["chancery.admin.v1.TokenService/RegenerateToken"]);
  const subject = (cn: string) => [{ type: "CN", value: cn }];
  const requests: Record<string, (kind: RoleKind) => Request | Promise<Request>> = {
    "chancery.admin.v1.UserService/CreateUser": () => ({ user: { username: next("created"), apiAccess: false } }),
    "chancery.admin.v1.UserService/GetUser": () => ({ name: `users/${f.victimId}` }),
    "chancery.admin.v1.UserService/ListUsers": () => ({}),
    "chancery.admin.v1.UserService/UpdateUser": () => ({
      user: { name: `users/${f.victimId}`, displayName: next("Victor") },
      updateMask: ["display_name"],
    }),
    "chancery.admin.v1.UserService/GetCurrentUser": () => ({}),
    "chancery.admin.v1.UserService/EnrollTotp": () => ({}),
    // A wrong code: INVALID_ARGUMENT once enrolled (EnrollTotp runs first), FAILED_PRECONDITION otherwise.
    "chancery.admin.v1.UserService/ConfirmTotp": () => ({ code: "000000" }),
    "chancery.admin.v1.UserService/ResetTotp": () => ({ name: `users/${f.victimId}` }),

    // Everyone already has a token: ALREADY_EXISTS, past authorization.
    "chancery.admin.v1.TokenService/CreateToken": () => ({}),
    "chancery.admin.v1.TokenService/RegenerateToken": () => ({}),
    "chancery.admin.v1.TokenService/GetToken": (kind) => ({
      name: kind === "user" ? `users/${f.userId}/token` : `users/${f.victimId}/token`,
    }),
    // Someone else's token: the admin revokes a fresh account's, the others are refused before any change.
    "chancery.admin.v1.TokenService/RevokeToken": async (kind) => ({
      name: `users/${kind === "admin" ? (await account("user")).id : f.victimId}/token`,
    }),
    "chancery.admin.v1.TokenService/CreateTokenEnrollment": () => ({ parent: `users/${f.victimId}` }),
    // An outstanding code to read: made first, so the admin's call cannot be NOT_FOUND.
    "chancery.admin.v1.TokenService/GetTokenEnrollment": async () => {
      await gateway.tokens.createEnrollment(f.victimId, { actor: "test" });
      return { name: `users/${f.victimId}/tokenEnrollment` };
    },
    "chancery.admin.v1.TokenService/DeleteTokenEnrollment": () => ({ name: `users/${f.victimId}/tokenEnrollment` }),
    // A fresh code for a fresh account of the caller's role; the caller's own token is ignored.
    "chancery.admin.v1.TokenService/RedeemTokenEnrollment": async (kind) => ({
      code: await enrollmentCode(kind === "operator" || kind === "admin" ? kind : "user"),
    }),

    "chancery.admin.v1.CertificateAuthorityService/CreateRootCertificateAuthority": () => ({
      displayName: next("root"),
      subject: subject("Matrix Root"),
      keyAlgorithm: KeyAlgorithm.ECDSA_P256,
      validityDays: 1,
    }),
    "chancery.admin.v1.CertificateAuthorityService/CreateIntermediateCertificateAuthority": () => ({
      displayName: next("intermediate"),
      parent: f.otherCa,
      subject: subject("Matrix Intermediate"),
      keyAlgorithm: KeyAlgorithm.ECDSA_P256,
      validityDays: 1,
    }),
    "chancery.admin.v1.CertificateAuthorityService/CreateExternalCertificateAuthority": () => ({
      displayName: next("external"),
      subject: subject("Matrix External"),
      keyAlgorithm: KeyAlgorithm.ECDSA_P256,
    }),
    // The spare CA is assigned to the operator: still admin-only. An empty chain is invalid for the admin.
    "chancery.admin.v1.CertificateAuthorityService/ImportSignedCertificate": () => ({
      name: f.spareCa,
      certificateChainPem: "",
    }),
    "chancery.admin.v1.CertificateAuthorityService/ImportCertificateAuthority": () => ({ displayName: next("import") }),
    "chancery.admin.v1.CertificateAuthorityService/GetCertificateAuthority": (kind) => ({
      name: kind === "operatorUnassigned" || kind === "admin" ? f.otherCa : f.issuingCa,
    }),
    "chancery.admin.v1.CertificateAuthorityService/ListCertificateAuthorities": () => ({}),
    "chancery.admin.v1.CertificateAuthorityService/DisableCertificateAuthority": () => ({ name: f.spareCa }),
    "chancery.admin.v1.CertificateAuthorityService/EnableCertificateAuthority": () => ({ name: f.spareCa }),
    "chancery.admin.v1.CertificateAuthorityService/UpdateCertificateAuthority": () => ({
      certificateAuthority: { name: f.spareCa, otpRequired: false },
      updateMask: ["otp_required"],
    }),
    "chancery.admin.v1.CertificateAuthorityService/GetCrl": (kind) => ({
      name: kind === "operatorUnassigned" || kind === "admin" ? f.otherCa : f.issuingCa,
    }),
    "chancery.admin.v1.CertificateAuthorityService/RegenerateCrl": () => ({ name: f.issuingCa }),
    "chancery.admin.v1.CertificateAuthorityService/GetOcspResponder": (kind) => ({
      name: kind === "operatorUnassigned" || kind === "admin" ? f.otherCa : f.issuingCa,
    }),

    "chancery.admin.v1.CertificateService/IssueCertificate": (kind) => {
      const cn = `${next("issue")}.example.com`;
      return {
        parent: kind === "operatorUnassigned" || kind === "admin" ? f.otherCa : f.issuingCa,
        profile: "profiles/tls-server",
        csrPem: pemEncode("CERTIFICATE REQUEST", opensslCsr({ subject: `/CN=${cn}` })),
        subjectAltNames: [{ type: SubjectAltName_Type.DNS, value: cn }],
      };
    },
    "chancery.admin.v1.CertificateService/GetCertificate": (kind) => ({ name: certificateFor(kind) }),
    "chancery.admin.v1.CertificateService/ListCertificates": (kind) => ({
      filter: kind === "operatorUnassigned" ? `ca = "${f.otherCa}"` : "",
    }),
    "chancery.admin.v1.CertificateService/GetCertificateChain": (kind) => ({ name: certificateFor(kind) }),
    "chancery.admin.v1.CertificateService/RevokeCertificate": async (kind) => ({
      name:
        kind === "operator"
          ? await issue(f.issuingCa)
          : kind === "admin"
            ? await issue(f.otherCa)
            : kind === "operatorUnassigned"
              ? f.certOther
              : f.certIssuing,
    }),

    "chancery.admin.v1.ProfileService/CreateProfile": () => ({
      profileId: next("matrix"),
      profile: { description: "matrix" },
    }),
    "chancery.admin.v1.ProfileService/GetProfile": () => ({ name: "profiles/tls-server" }),
    "chancery.admin.v1.ProfileService/ListProfiles": () => ({}),
    "chancery.admin.v1.ProfileService/UpdateProfile": () => ({
      profile: { name: "profiles/device", description: next("edited") },
      updateMask: ["description"],
    }),
    // Certificates exist under tls-server: FAILED_PRECONDITION for the admin, nothing is deleted.
    "chancery.admin.v1.ProfileService/DeleteProfile": () => ({ name: "profiles/tls-server" }),

    "chancery.admin.v1.RegistryService/ListObjectIdentifiers": () => ({}),
    "chancery.admin.v1.RegistryService/GetObjectIdentifier": () => ({ name: "objectIdentifiers/upn" }),
    "chancery.admin.v1.RegistryService/CreateObjectIdentifier": () => {
      const id = next("matrix-oid");
      return {
        objectIdentifierId: id,
        objectIdentifier: {
          oid: `1.3.6.1.4.1.99999.77.${unique}`,
          displayName: id,
          valueType: ObjectIdentifier_ValueType.UTF8_STRING,
          placement: ObjectIdentifier_Placement.EXTENSION,
        },
      };
    },
    // Built-ins cannot change: FAILED_PRECONDITION for the admin, nothing changes.
    "chancery.admin.v1.RegistryService/UpdateObjectIdentifier": () => ({
      objectIdentifier: { name: "objectIdentifiers/upn", displayName: "edited" },
      updateMask: ["display_name"],
    }),
    "chancery.admin.v1.RegistryService/DeleteObjectIdentifier": () => ({ name: "objectIdentifiers/upn" }),
    "chancery.admin.v1.RegistryService/ListCertificatePolicies": () => ({}),
    "chancery.admin.v1.RegistryService/GetCertificatePolicy": () => ({ name: "certificatePolicies/qes-individual" }),
    "chancery.admin.v1.RegistryService/CreateCertificatePolicy": () => {
      const id = next("matrix-policy");
      return {
        certificatePolicyId: id,
        certificatePolicy: { oid: `1.3.6.1.4.1.99999.78.${unique}`, displayName: id },
      };
    },
    "chancery.admin.v1.RegistryService/UpdateCertificatePolicy": () => ({
      certificatePolicy: { name: "certificatePolicies/qes-individual", displayName: "edited" },
      updateMask: ["display_name"],
    }),
    "chancery.admin.v1.RegistryService/DeleteCertificatePolicy": () => ({
      name: "certificatePolicies/qes-individual",
    }),

    "chancery.admin.v1.AcmeService/CreateAcmeDirectory": () => ({
      acmeDirectory: {
        displayName: next("matrix-acme"),
        certificateAuthority: f.issuingCa,
        allowedProfiles: ["profiles/tls-server"],
        challengeTypes: [AcmeDirectory_ChallengeType.HTTP_01],
      },
    }),
    // The default directory every fresh gateway makes.
    "chancery.admin.v1.AcmeService/GetAcmeDirectory": async () => ({ name: await acmeDirectory() }),
    "chancery.admin.v1.AcmeService/ListAcmeDirectories": () => ({}),
    "chancery.admin.v1.AcmeService/UpdateAcmeDirectory": async () => ({
      acmeDirectory: { name: await acmeDirectory(), enabled: true },
      updateMask: ["enabled"],
    }),
    // A fresh, account-less directory each time: the admin's delete succeeds.
    "chancery.admin.v1.AcmeService/DeleteAcmeDirectory": async () => ({ name: await acmeDirectory(next("gone")) }),
    "chancery.admin.v1.AcmeService/CreateExternalAccountKey": async () => ({ parent: await acmeDirectory() }),
    "chancery.admin.v1.AcmeService/ListExternalAccountKeys": async () => ({ parent: await acmeDirectory() }),
    "chancery.admin.v1.AcmeService/RevokeExternalAccountKey": async () => {
      const parent = await acmeDirectory();
      const made = await gateway.acmeEabKeys.create(parent.slice("acmeDirectories/".length), {}, { actor: "test" });
      return { name: `${parent}/externalAccountKeys/${made.keyId}` };
    },

    "chancery.admin.v1.ScepService/CreateScepEndpoint": () => ({
      scepEndpoint: {
        endpointName: next("matrix-scep"),
        certificateAuthority: f.issuingCa,
        profile: "profiles/device",
        challengeMode: ScepEndpoint_ChallengeMode.DYNAMIC,
      },
    }),
    "chancery.admin.v1.ScepService/GetScepEndpoint": async () => ({ name: await scepEndpoint(f.issuingCa) }),
    "chancery.admin.v1.ScepService/ListScepEndpoints": () => ({}),
    "chancery.admin.v1.ScepService/UpdateScepEndpoint": async () => ({
      scepEndpoint: { name: await scepEndpoint(f.issuingCa), enabled: true },
      updateMask: ["enabled"],
    }),
    // A fresh endpoint each time: the admin's delete succeeds.
    "chancery.admin.v1.ScepService/DeleteScepEndpoint": async () => ({
      name: await scepEndpoint(f.issuingCa, next("gone-scep")),
    }),
    // On the operator's own CA: still admin only.
    "chancery.admin.v1.ScepService/RotateScepRaCertificate": async () => ({ name: await scepEndpoint(f.issuingCa) }),

    "chancery.admin.v1.EstService/CreateEstLabel": () => ({
      estLabel: {
        label: next("matrix-est"),
        certificateAuthority: f.issuingCa,
        profile: "profiles/device",
        authMode: EstLabel_AuthMode.BASIC,
      },
    }),
    "chancery.admin.v1.EstService/GetEstLabel": async () => ({ name: await estLabel(f.issuingCa) }),
    "chancery.admin.v1.EstService/ListEstLabels": () => ({}),
    "chancery.admin.v1.EstService/UpdateEstLabel": async () => ({
      estLabel: { name: await estLabel(f.issuingCa), enabled: true },
      updateMask: ["enabled"],
    }),
    // A fresh label each time: the admin's delete succeeds.
    "chancery.admin.v1.EstService/DeleteEstLabel": async () => ({
      name: await estLabel(f.issuingCa, next("gone-est")),
    }),

    // Assigned CA (operator), unassigned CA (operatorUnassigned, admin); a SCEP endpoint for some RPCs and an
    // EST label for the others, so both scope kinds go through the check.
    "chancery.admin.v1.EnrollmentSecretService/CreateEnrollmentSecret": async (kind) => ({
      enrollmentSecret: { scope: { case: "scepEndpoint", value: await scepEndpoint(caFor(kind)) } },
    }),
    "chancery.admin.v1.EnrollmentSecretService/ListEnrollmentSecrets": async (kind) => ({
      scope: { case: "estLabel", value: await estLabel(caFor(kind)) },
    }),
    // A fresh secret minted by the admin in a scope of the CA in question.
    "chancery.admin.v1.EnrollmentSecretService/GetEnrollmentSecret": async (kind) => ({
      name: await enrollmentSecret({ case: "estLabel", value: await estLabel(caFor(kind)) }),
    }),
    "chancery.admin.v1.EnrollmentSecretService/RevokeEnrollmentSecret": async (kind) => ({
      name: await enrollmentSecret({ case: "scepEndpoint", value: await scepEndpoint(caFor(kind)) }),
    }),

    "chancery.admin.v1.RequestService/CreateRequest": () => ({ request: { freeForm: true, comment: "please" } }),
    "chancery.admin.v1.RequestService/GetRequest": (kind) => ({
      name:
        kind === "userForeign"
          ? f.victimRequestIssuing
          : kind === "operator"
            ? f.userRequestIssuing
            : f.userRequestOther,
    }),
    "chancery.admin.v1.RequestService/ListRequests": () => ({}),
    // A fresh pending request of another user (no CA chosen yet: visible to every operator).
    "chancery.admin.v1.RequestService/ApproveRequest": async (kind) => ({
      name: await pendingRequest(tokens.victim),
      certificateAuthority: kind === "operatorUnassigned" || kind === "admin" ? f.otherCa : f.issuingCa,
      profile: "profiles/tls-server",
    }),
    "chancery.admin.v1.RequestService/RejectRequest": async (kind) => ({
      name: kind === "operatorUnassigned" ? f.userRequestOther : await pendingRequest(tokens.victim),
      reason: "matrix",
    }),
    "chancery.admin.v1.RequestService/GetRequestCounts": () => ({}),
    "chancery.admin.v1.RequestService/ExportRequestPkcs12": (kind) => ({
      name:
        kind === "userForeign"
          ? f.victimRequestIssuing
          : kind === "operator" || kind === "admin"
            ? f.userRequestIssuing
            : f.userRequestOther,
      passphrase: "matrix passphrase",
    }),

    "chancery.admin.v1.AuditService/ListAuditEvents": () => ({}),
    "chancery.admin.v1.AuditService/ExportAuditEvents": () => ({}),
    "chancery.admin.v1.AuditService/VerifyAuditChain": () => ({}),
  };

  /** "acmeDirectories/{id}" of the default directory, or of a new one named `create`. */
  async function acmeDirectory(create?: string): Promise<string> {
    const directory = create
      ? await gateway.acmeDirectories.create(
          { name: create, caId: caId(f.issuingCa), allowedProfiles: ["tls-server"] },
          { actor: "test" },
        )
      : await gateway.acmeDirectories.getByName("default");
    return `acmeDirectories/${directory.id}`;
  }

  const scepEndpoints = new Map<string, string>();

  /**
   * "scepEndpoints/{id}" of a dynamic-challenge endpoint on `ca` (made once per CA), or of a new one
   * named `create`. Made through the API, as the admin.
   */
  async function scepEndpoint(ca: string, create?: string): Promise<string> {
    const known = create ? undefined : scepEndpoints.get(ca);
    if (known) return known;
    const made = await grpcUnary(
      client,
      ScepService.method.createScepEndpoint,
      {
        scepEndpoint: {
          endpointName: create ?? next("matrix-scep"),
          certificateAuthority: ca,
          profile: "profiles/device",
          challengeMode: ScepEndpoint_ChallengeMode.DYNAMIC,
        },
      },
      admin(),
    );
    if (!create) scepEndpoints.set(ca, made.name);
    return made.name;
  }

  const estLabels = new Map<string, string>();

  /**
   * "estLabels/{id}" of a Basic-auth label on `ca` (made once per CA), or of a new one named `create`.
   * Made through the API, as the admin.
   */
  async function estLabel(ca: string, create?: string): Promise<string> {
    const known = create ? undefined : estLabels.get(ca);
    if (known) return known;
    const made = await grpcUnary(
      client,
      EstService.method.createEstLabel,
      {
        estLabel: {
          label: create ?? next("matrix-est"),
          certificateAuthority: ca,
          profile: "profiles/device",
          authMode: EstLabel_AuthMode.BASIC,
        },
      },
      admin(),
    );
    if (!create) estLabels.set(ca, made.name);
    return made.name;
  }

  /** Assigned CA (operator), unassigned CA (operatorUnassigned, admin). */
  function caFor(kind: RoleKind): string {
    return kind === "operatorUnassigned" || kind === "admin" ? f.otherCa : f.issuingCa;
  }

  /** "enrollmentSecrets/{id}" of a fresh one-time secret in `scope`, minted by the admin. */
  async function enrollmentSecret(scope: { case: "scepEndpoint" | "estLabel"; value: string }): Promise<string> {
    const made = await grpcUnary(
      client,
      EnrollmentSecretService.method.createEnrollmentSecret,
      { enrollmentSecret: { scope } },
      admin(),
    );
    return made.enrollmentSecret!.name;
  }

  /** A valid enrollment code for a new account of `role` (allowed only from `allowedSubnets`, when given). */
  async function enrollmentCode(role: "user" | "operator" | "admin", allowedSubnets?: string[]): Promise<string> {
    const { id } = await account(role, [], allowedSubnets);
    return (await gateway.tokens.createEnrollment(id, { actor: "test" })).code;
  }

  /**
   * RPCs that take no bearer token because the credential is in the
   * request (authentication.ts lets exactly these through). Their refused
   * callers present a bad credential in the request, whatever they send as a
   * token, and must be refused exactly as a bad token is elsewhere.
   */
  const requestCredentials: Record<string, Record<string, () => Promise<Request>>> = {
    "chancery.admin.v1.TokenService/RedeemTokenEnrollment": {
      "no token": async () => ({ code: "" }),
      "malformed token": async () => ({ code: "chancery_enr_not-an-enrollment-code" }),
      // Withdrawn by an admin: as dead as a revoked token.
      "revoked token": async () => {
        const user = await account("user");
        const { code } = await gateway.tokens.createEnrollment(user.id, { actor: "test" });
        await gateway.tokens.revokeEnrollment(user.id, { actor: "test" });
        return { code };
      },
      "disallowed subnet": async () => ({ code: await enrollmentCode("admin", ["10.0.0.0/8"]) }),
    },
  };

  /** Own (user), another's (userForeign), assigned CA (operator), unassigned CA (operatorUnassigned, admin). */
  function certificateFor(kind: RoleKind): string {
    switch (kind) {
      case "user":
        return f.userCert;
      case "userForeign":
      case "operator":
        return f.certIssuing;
      case "operatorUnassigned":
      case "admin":
        return f.certOther;
    }
  }

  beforeAll(async () => {
    env = await startTestGateway();
    gateway = env.gateway;
    client = env.client;
    tokens.admin = env.adminToken;
    const adminId = (await grpcUnary(client, UserService.method.getCurrentUser, {}, admin())).name.slice(
      "users/".length,
    );
    const cas = await grpcUnary(client, CertificateAuthorityService.method.listCertificateAuthorities, {}, admin());
    const issuingCa = cas.certificateAuthorities.find((ca) => ca.displayName === "issuing")!.name;
    const newRoot = async (displayName: string) =>
      (
        await grpcUnary(
          client,
          CertificateAuthorityService.method.createRootCertificateAuthority,
          { displayName, subject: subject(displayName), keyAlgorithm: KeyAlgorithm.ECDSA_P256, validityDays: 30 },
          admin(),
        )
      ).name;
    const otherCa = await newRoot("other-root");
    const spareCa = await newRoot("spare-root");

    const user = await account("user");
    const victim = await account("user");
    const operator = await account("operator", [caId(issuingCa), caId(spareCa)]);
    const revoked = await account("user");
    await gateway.tokens.revoke(revoked.id, { actor: "test" });
    // An admin, even, refused: calls come from 127.0.0.1.
    const subnet = await account("admin", [], ["10.0.0.0/8"]);
    Object.assign(tokens, {
      user: user.token,
      victim: victim.token,
      operator: operator.token,
      revoked: revoked.token,
      subnet: subnet.token,
    });

    const userRequestOther = await issuedRequest(user.token, otherCa);
    const userRequestIssuing = await issuedRequest(user.token, issuingCa);
    const victimRequestIssuing = await issuedRequest(victim.token, issuingCa);
    f = {
      adminId,
      userId: user.id,
      victimId: victim.id,
      issuingCa,
      otherCa,
      spareCa,
      certIssuing: await issue(issuingCa),
      certOther: await issue(otherCa),
      userCert: userRequestOther.certificate,
      userRequestIssuing: userRequestIssuing.name,
      userRequestOther: userRequestOther.name,
      victimRequestIssuing: victimRequestIssuing.name,
    };
  });
  afterAll(async () => env?.stop());

  it("has an expectation and a request for every RPC of every admin service, and none for RPCs that do not exist", () => {
    const rpcs = allMethods.map(key).sort();
    expect(rpcs.length).toBeGreaterThan(0);
    expect(Object.keys(matrix).sort()).toEqual(rpcs);
    expect(Object.keys(requests).sort()).toEqual(rpcs);
  });

  for (const method of allMethods) {
    const rpc = key(method);
    it(rpc, async () => {
      const expected = matrix[rpc];
      const build = requests[rpc];
      if (!expected || !build) throw new Error(`${rpc} has no entry in the authorization matrix: add one`);

      // Callers that are not let in at all, each sending the admin's request.
      const refused: Record<string, Code> = {};
      const anonymous: Record<string, grpc.Metadata> = {
        "no token": new grpc.Metadata(),
        "malformed token": bearer("not-a-personal-access-token"),
        "revoked token": bearer(tokens.revoked),
        "disallowed subnet": bearer(tokens.subnet),
      };
      const inRequest = requestCredentials[rpc];
      for (const [caller, metadata] of Object.entries(anonymous))
        refused[caller] = await call(method, await (inRequest?.[caller] ?? (() => build("admin")))(), metadata);
      expect(refused).toEqual({
        "no token": "UNAUTHENTICATED",
        "malformed token": "UNAUTHENTICATED",
        "revoked token": "UNAUTHENTICATED",
        "disallowed subnet": "PERMISSION_DENIED",
      });

      // Role callers, with the documented outcome.
      const actual: Partial<Record<RoleKind, Code>> = {};
      const raw: Partial<Record<RoleKind, Code>> = {};
      for (const kind of Object.keys(expected) as RoleKind[]) {
        const role = kind === "userForeign" ? "user" : kind === "operatorUnassigned" ? "operator" : kind;
        let token = tokens[role];
        if (fresh.has(rpc))
          token = (await account(role, role === "operator" ? [caId(f.issuingCa), caId(f.spareCa)] : [])).token;
        const code = await call(method, await build(kind), bearer(token));
        raw[kind] = code;
        actual[kind] = passedAuthorization.has(code) ? "OK" : code;
      }
      expect(actual, `actual codes: ${JSON.stringify(raw)}`).toEqual(expected);
    });
  }
});
