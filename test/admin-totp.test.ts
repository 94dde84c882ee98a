import * as grpc from "@grpc/grpc-js";
import { type TOTP, URI } from "otpauth";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { grpcUnary } from "../src/admin/testing/grpc-test-client.ts";
import { pemEncode } from "../src/core/x509/pem.ts";
import { opensslCsr } from "../src/core/x509/testing/openssl.ts";
import { CertificateAuthorityService } from "../src/gen/chancery/admin/v1/certificate_authority_pb.js";
import { CertificateService, SubjectAltName_Type } from "../src/gen/chancery/admin/v1/certificate_pb.js";
import { UserService } from "../src/gen/chancery/admin/v1/user_pb.js";
import { startTestGateway, type TestGateway } from "./support/test-gateway.ts";

describe("TOTP-gated issuance through the admin API", () => {
  let env: TestGateway;
  let client: grpc.Client;
  let token: string;

  beforeAll(async () => {
    env = await startTestGateway();
    client = env.client;
    token = env.adminToken;
  });
  afterAll(async () => env?.stop());

  const metadata = (otp?: string) => {
    const m = new grpc.Metadata();
    m.set("authorization", `Bearer ${token}`);
    if (otp) m.set("chancery-otp", otp);
    return m;
  };

  it("enrolls, marks a CA OTP-required, and issues through it only with a fresh code", async () => {
    const enrollment = await grpcUnary(client, UserService.method.enrollTotp, {}, metadata());
    const phone = URI.parse(enrollment.uri) as TOTP;
    const confirmed = await grpcUnary(client, UserService.method.confirmTotp, { code: phone.generate() }, metadata());
    expect(confirmed.totpEnrolled).toBe(true);

    const cas = await grpcUnary(client, CertificateAuthorityService.method.listCertificateAuthorities, {}, metadata());
    const issuing = cas.certificateAuthorities.find((ca) => ca.displayName === "issuing")!;
    const updated = await grpcUnary(
      client,
      CertificateAuthorityService.method.updateCertificateAuthority,
      { certificateAuthority: { name: issuing.name, otpRequired: true }, updateMask: ["otp_required"] },
      metadata(),
    );
    expect(updated.otpRequired).toBe(true);

    const issue = (otp?: string) =>
      grpcUnary(
        client,
        CertificateService.method.issueCertificate,
        {
          parent: issuing.name,
          profile: "profiles/tls-server",
          csrPem: pemEncode("CERTIFICATE REQUEST", opensslCsr({ subject: "/CN=otp.example.com" })),
          subjectAltNames: [{ type: SubjectAltName_Type.DNS, value: "otp.example.com" }],
        },
        metadata(otp),
      );
    await expect(issue()).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED });
    await expect(issue("000000")).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED });
    // The code the phone shows next (one step ahead is inside the accepted window), used once.
    const code = phone.generate({ timestamp: Date.now() + 30_000 });
    const issued = await issue(code);
    expect(issued.certificatePem).toContain("BEGIN CERTIFICATE");
    await expect(issue(code)).rejects.toMatchObject({
      code: grpc.status.PERMISSION_DENIED,
      details: expect.stringMatching(/already used/),
    });

    // Other CAs do not ask for a code.
    await grpcUnary(
      client,
      CertificateAuthorityService.method.updateCertificateAuthority,
      { certificateAuthority: { name: issuing.name, otpRequired: false }, updateMask: ["otp_required"] },
      metadata(),
    );
    expect((await issue()).certificatePem).toContain("BEGIN CERTIFICATE");
  });
});
