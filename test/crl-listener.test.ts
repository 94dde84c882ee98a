import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { grpcUnary } from "../src/admin/testing/grpc-test-client.ts";
import { pemDecode, pemEncode } from "../src/core/x509/pem.ts";
import { createScratchDir, openssl, opensslCsr } from "../src/core/x509/testing/openssl.ts";
import { CertificateAuthorityService, KeyAlgorithm } from "../src/gen/chancery/admin/v1/certificate_authority_pb.js";
import {
  CertificateService,
  RevocationReason,
  SubjectAltName_Type,
} from "../src/gen/chancery/admin/v1/certificate_pb.js";
import { bearer, startTestGateway, type TestGateway } from "./support/test-gateway.ts";

/**
 * The revocation listener end to end: a real gateway, CRLs fetched over
 * plain HTTP and checked by openssl, a revocation through the admin API
 * reaching the published CRL through the scheduler.
 */
describe("revocation listener (CRLs, CA certificates)", () => {
  let env: TestGateway;
  let base: string;
  let issuingName: string;
  let issuingId: string;
  let chainFile: string;
  const scratch = createScratchDir();
  const admin = () => bearer(env.adminToken);

  beforeAll(async () => {
    env = await startTestGateway();
    base = `http://${env.gateway.listeners["ocsp"]!.address}`;
    const cas = await grpcUnary(env.client, CertificateAuthorityService.method.listCertificateAuthorities, {}, admin());
    issuingName = cas.certificateAuthorities.find((ca) => ca.displayName === "issuing")!.name;
    issuingId = issuingName.slice("certificateAuthorities/".length);
    chainFile = env.gateway.caChainFile!;
  });
  afterAll(async () => {
    await env?.stop();
    scratch.cleanup();
  });

  async function fetchCrl(): Promise<{ der: Buffer; number: bigint; response: Response }> {
    const response = await fetch(`${base}/crl/${issuingId}.crl`);
    expect(response.status).toBe(200);
    const der = Buffer.from(await response.arrayBuffer());
    const text = openssl(["crl", "-inform", "DER", "-noout", "-crlnumber"], der);
    expect(text.ok, text.stderr).toBe(true);
    return { der, number: BigInt(`0x${/crlNumber=(?:0x)?([0-9A-F]+)/i.exec(text.stdout)![1]}`), response };
  }

  async function issue(cn: string): Promise<{ name: string; pem: string }> {
    const cert = await grpcUnary(
      env.client,
      CertificateService.method.issueCertificate,
      {
        parent: issuingName,
        profile: "profiles/tls-server",
        csrPem: pemEncode("CERTIFICATE REQUEST", opensslCsr({ subject: `/CN=${cn}` })),
        subjectAltNames: [{ type: SubjectAltName_Type.DNS, value: cn }],
      },
      admin(),
    );
    return { name: cert.name, pem: cert.certificatePem };
  }

  it("serves the issuing CA's CRL as DER that openssl verifies against the CA, with cache headers", async () => {
    const { der, response } = await fetchCrl();
    expect(response.headers.get("content-type")).toBe("application/pkix-crl");
    const verified = openssl(["crl", "-inform", "DER", "-CAfile", chainFile, "-verify", "-noout"], der);
    expect(verified.ok, verified.stderr).toBe(true);
    expect(verified.stderr).toMatch(/verify OK/);
    const etag = response.headers.get("etag")!;
    expect(etag).toMatch(/^"[0-9a-f]{64}"$/);
    expect(Date.parse(response.headers.get("last-modified")!)).not.toBeNaN();
    const expires = Date.parse(response.headers.get("expires")!);
    expect(expires).toBeGreaterThan(Date.now());
    const maxAge = Number(/max-age=(\d+)/.exec(response.headers.get("cache-control")!)![1]);
    expect(response.headers.get("cache-control")).toMatch(/^public, no-transform, must-revalidate, max-age=\d+$/);
    expect(Math.abs(maxAge - (expires - Date.now()) / 1000)).toBeLessThan(5);

    const again = await fetch(`${base}/crl/${issuingId}.crl`, { headers: { "If-None-Match": etag } });
    expect(again.status).toBe(304);
    expect(again.headers.get("etag")).toBe(etag);
    const head = await fetch(`${base}/crl/${issuingId}.crl`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("etag")).toBe(etag);
  });

  it("builds the first CRL of a CA created after start on the first request, not a 404", async () => {
    const root = await grpcUnary(
      env.client,
      CertificateAuthorityService.method.createRootCertificateAuthority,
      {
        displayName: "crl-fresh-root",
        subject: [{ type: "CN", value: "CRL Fresh Root" }],
        keyAlgorithm: KeyAlgorithm.ECDSA_P256,
        validityDays: 30,
      },
      admin(),
    );
    const id = root.name.slice("certificateAuthorities/".length);
    const response = await fetch(`${base}/crl/${id}.crl`);
    expect(response.status).toBe(200);
    const der = Buffer.from(await response.arrayBuffer());
    const rootFile = scratch.file("fresh-root.pem", root.certificateChainPem);
    const verified = openssl(["crl", "-inform", "DER", "-CAfile", rootFile, "-verify", "-noout", "-crlnumber"], der);
    expect(verified.ok, verified.stderr).toBe(true);
    expect(verified.stdout).toMatch(/crlNumber=(0x)?0*1\b/);
  });

  it("serves PEM for /crl/<id>.pem and for Accept: application/x-pem-file", async () => {
    const { der } = await fetchCrl();
    for (const [path, headers] of [
      [`/crl/${issuingId}.pem`, {}],
      [`/crl/${issuingId}.crl`, { Accept: "application/x-pem-file" }],
    ] as const) {
      const response = await fetch(`${base}${path}`, { headers });
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toBe("application/x-pem-file");
      expect(response.headers.get("etag")).toMatch(/\.pem"$/);
      expect(Buffer.from(pemDecode(await response.text(), ["X509 CRL"]))).toEqual(der);
    }
  });

  it("lists a certificate revoked through the admin API on a new CRL within seconds; openssl -crl_check rejects it", async () => {
    const revoked = await issue("revoked.crl.example.com");
    const kept = await issue("kept.crl.example.com");
    const before = (await fetchCrl()).number;
    await grpcUnary(
      env.client,
      CertificateService.method.revokeCertificate,
      { name: revoked.name, reason: RevocationReason.KEY_COMPROMISE },
      admin(),
    );
    let crl = await fetchCrl();
    for (const deadline = Date.now() + 10_000; crl.number <= before && Date.now() < deadline; ) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      crl = await fetchCrl();
    }
    expect(crl.number).toBeGreaterThan(before);
    const crlPemFile = scratch.file("crl.pem", pemEncode("X509 CRL", crl.der));
    const verify = (pem: string, file: string) =>
      openssl(["verify", "-crl_check", "-CAfile", chainFile, "-CRLfile", crlPemFile, scratch.file(file, pem)]);
    const rejected = verify(revoked.pem, "revoked.pem");
    expect(rejected.ok).toBe(false);
    expect(rejected.stdout + rejected.stderr).toMatch(/certificate revoked/);
    const accepted = verify(kept.pem, "kept.pem");
    expect(accepted.ok, accepted.stdout + accepted.stderr).toBe(true);
  });

  it("serves the CA certificate as DER at the caIssuers URL, with an ETag", async () => {
    const response = await fetch(`${base}/ca/${issuingId}.cer`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/pkix-cert");
    const der = Buffer.from(await response.arrayBuffer());
    const firstInChain = pemDecode(readFileSync(chainFile, "utf8"), ["CERTIFICATE"]);
    expect(der).toEqual(Buffer.from(firstInChain));
    const etag = response.headers.get("etag")!;
    const again = await fetch(`${base}/ca/${issuingId}.cer`, { headers: { "If-None-Match": `W/${etag}, "x"` } });
    expect(again.status).toBe(304);
  });

  it("answers 404 for unknown or malformed CA ids and 405 for other methods, never 500", async () => {
    for (const path of [
      "/crl/00000000-0000-4000-8000-000000000000.crl",
      "/ca/00000000-0000-4000-8000-000000000000.cer",
      "/crl/not-a-uuid.crl",
      "/crl/%zz.crl",
      "/crl/..%2f..%2fetc%2fpasswd",
      `/crl/${issuingId}.der`,
      `/crl/${issuingId}`,
      `/ca/${issuingId}.crl`,
      "/nothing",
    ]) {
      const response = await fetch(`${base}${path}`);
      expect([400, 404], path).toContain(response.status);
    }
    const post = await fetch(`${base}/crl/${issuingId}.crl`, { method: "POST", body: "x" });
    expect(post.status).toBe(405);
    expect(post.headers.get("allow")).toMatch(/GET/);
  });

  it("RegenerateCrl returns a higher number each call, and GetCrl the newest", async () => {
    const first = await grpcUnary(
      env.client,
      CertificateAuthorityService.method.regenerateCrl,
      { name: issuingName },
      admin(),
    );
    const second = await grpcUnary(
      env.client,
      CertificateAuthorityService.method.regenerateCrl,
      { name: issuingName },
      admin(),
    );
    expect(second.crlNumber).toBe(first.crlNumber + 1n);
    expect(second.downloadUrl).toBe(`http://localhost:8081/crl/${issuingId}.crl`);
    expect(second.name).toBe(`${issuingName}/crl`);
    const got = await grpcUnary(env.client, CertificateAuthorityService.method.getCrl, { name: issuingName }, admin());
    expect(got.crlNumber).toBe(second.crlNumber);
    const served = await fetchCrl();
    expect(served.number).toBe(second.crlNumber);
    expect(served.response.headers.get("etag")).toBe(`"${second.sha256}"`);
  });
});
