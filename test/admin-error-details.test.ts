import { fromBinary } from "@bufbuild/protobuf";
import { BinaryReader } from "@bufbuild/protobuf/wire";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { errorDomain } from "../src/admin/errors.ts";
import { grpcUnary } from "../src/admin/testing/grpc-test-client.ts";
import { pemEncode } from "../src/core/x509/pem.ts";
import { opensslCsr } from "../src/core/x509/testing/openssl.ts";
import { CertificateAuthorityService } from "../src/gen/chancery/admin/v1/certificate_authority_pb.js";
import { CertificateService, SubjectAltName_Type } from "../src/gen/chancery/admin/v1/certificate_pb.js";
import { UserService } from "../src/gen/chancery/admin/v1/user_pb.js";
import { type ErrorInfo, ErrorInfoSchema } from "../src/gen/google/rpc/error_details_pb.js";
import { bearer, connectJson, startTestGateway, type TestGateway } from "./support/test-gateway.ts";

/**
 * google.rpc.Status from a grpc-status-details-bin trailer, read field by
 * field (code = 1, message = 2, details = 3 as google.protobuf.Any) so the
 * check shares no decoding code with connect.
 */
function decodeStatus(bytes: Uint8Array): {
  code: number;
  message: string;
  details: { typeUrl: string; value: Uint8Array }[];
} {
  const reader = new BinaryReader(bytes);
  const status = { code: 0, message: "", details: [] as { typeUrl: string; value: Uint8Array }[] };
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === 1) status.code = reader.int32();
    else if (field === 2) status.message = reader.string();
    else if (field === 3) status.details.push(fromBinary(AnySchema, reader.bytes()));
    else reader.skip(wireType);
  }
  return status;
}

describe("admin errors carry google.rpc.ErrorInfo in every protocol", () => {
  let env: TestGateway;
  let issuingCa: string;
  let transports: Record<"connect binary" | "gRPC-Web", Transport>;

  beforeAll(async () => {
    env = await startTestGateway();
    const list = await grpcUnary(
      env.client,
      CertificateAuthorityService.method.listCertificateAuthorities,
      {},
      bearer(env.adminToken),
    );
    issuingCa = list.certificateAuthorities.find((ca) => ca.displayName === "issuing")!.name;
    const common = {
      baseUrl: `https://127.0.0.1:${env.gateway.listeners["admin"]!.port}`,
      nodeOptions: { ca: env.rootCa },
    };
    transports = {
      "connect binary": createConnectTransport({ ...common, httpVersion: "2", useBinaryFormat: true }),
      "gRPC-Web": createGrpcWebTransport({ ...common, httpVersion: "1.1" }),
    };
  });
  afterAll(async () => env?.stop());

  const emailSanRequest = () => ({
    parent: issuingCa,
    profile: "profiles/tls-server",
    csrPem: pemEncode("CERTIFICATE REQUEST", opensslCsr({ subject: "/CN=mail.example.com" })),
    subjectAltNames: [{ type: SubjectAltName_Type.EMAIL, value: "a@example.com" }],
  });

  it("Connect JSON: the error body lists the ErrorInfo under details", async () => {
    const notFound = await connectJson(
      env,
      "chancery.admin.v1.UserService/GetUser",
      { name: "users/00000000-0000-4000-8000-000000000000" },
      env.adminToken,
    );
    expect(notFound.status).toBe(404);
    expect(notFound.json).toMatchObject({ code: "not_found" });
    const details = notFound.json["details"] as { type: string; value: string }[];
    expect(details).toHaveLength(1);
    expect(details[0]!.type).toBe("google.rpc.ErrorInfo");
    expect(fromBinary(ErrorInfoSchema, Buffer.from(details[0]!.value, "base64"))).toMatchObject({
      reason: "NOT_FOUND",
      domain: errorDomain,
      metadata: {},
    });

    // Unauthenticated: the reason is the code, never why the token failed (that stays in the log).
    const anonymous = await connectJson(env, "chancery.admin.v1.UserService/GetCurrentUser", {}, "chancery_pat_wrong");
    expect(anonymous.status).toBe(401);
    const info = fromBinary(
      ErrorInfoSchema,
      Buffer.from((anonymous.json["details"] as { value: string }[])[0]!.value, "base64"),
    );
    expect(info).toMatchObject({ reason: "UNAUTHENTICATED", domain: errorDomain, metadata: {} });
  });

  it("Connect JSON: a policy violation names the broken profile rule in the metadata", async () => {
    const violation = await connectJson(
      env,
      "chancery.admin.v1.CertificateService/IssueCertificate",
      { ...emailSanRequest(), subjectAltNames: [{ type: "TYPE_EMAIL", value: "a@example.com" }] },
      env.adminToken,
    );
    expect(violation.json).toMatchObject({ code: "failed_precondition" });
    const details = violation.json["details"] as { type: string; value: string }[];
    expect(fromBinary(ErrorInfoSchema, Buffer.from(details[0]!.value, "base64"))).toMatchObject({
      reason: "POLICY_VIOLATION",
      domain: errorDomain,
      metadata: { rule: "san.allowedTypes" },
    });
  });

  it("gRPC (@grpc/grpc-js): grpc-status-details-bin holds a google.rpc.Status with the ErrorInfo", async () => {
    const err = (await grpcUnary(
      env.client,
      CertificateService.method.issueCertificate,
      emailSanRequest(),
      bearer(env.adminToken),
    ).catch((e: unknown) => e)) as grpc.ServiceError;
    expect(err.code).toBe(grpc.status.FAILED_PRECONDITION);
    const [trailer] = err.metadata.get("grpc-status-details-bin");
    expect(trailer).toBeInstanceOf(Buffer);
    const status = decodeStatus(trailer as Buffer);
    expect(status.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(status.details.map((d) => d.typeUrl)).toEqual(["type.googleapis.com/google.rpc.ErrorInfo"]);
    expect(fromBinary(ErrorInfoSchema, status.details[0]!.value)).toMatchObject({
      reason: "POLICY_VIOLATION",
      domain: errorDomain,
      metadata: { rule: "san.allowedTypes" },
    });
    // The Status carries the message verbatim. grpc-js reads grpc-message
    // with decodeURI, which leaves the ":" that connect-node escaped with
    // encodeURIComponent as "%3A" (README, Admin API).
    expect(status.message).toMatch(/^san\.allowedTypes: /);
    expect(err.details).toMatch(/^san\.allowedTypes%3A /);
  });

  for (const protocol of ["connect binary", "gRPC-Web"] as const)
    it(`${protocol} (connect-node client): ConnectError.findDetails finds the ErrorInfo`, async () => {
      const users = createClient(UserService, transports[protocol]);
      const err = await users
        .getUser(
          { name: "users/00000000-0000-4000-8000-000000000000" },
          { headers: { authorization: `Bearer ${env.adminToken}` } },
        )
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConnectError);
      expect((err as ConnectError).code).toBe(Code.NotFound);
      const infos: ErrorInfo[] = (err as ConnectError).findDetails(ErrorInfoSchema);
      expect(infos).toEqual([expect.objectContaining({ reason: "NOT_FOUND", domain: errorDomain })]);
    });
});
