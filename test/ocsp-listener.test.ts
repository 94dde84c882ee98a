import { execFile } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { grpcUnary } from "../src/admin/testing/grpc-test-client.ts";
import { configSchema } from "../src/config/config-schema.ts";
import { maxOcspRequestBytes } from "../src/core/ocsp/ocsp-request.ts";
import { ocspErrorResponse } from "../src/core/ocsp/ocsp-response-status.ts";
import { pemEncode } from "../src/core/x509/pem.ts";
import { createScratchDir, opensslCsr } from "../src/core/x509/testing/openssl.ts";
import { type Gateway, startGateway } from "../src/gateway.ts";
import { CertificateAuthorityService } from "../src/gen/chancery/admin/v1/certificate_authority_pb.js";
import {
  CertificateService,
  RevocationReason,
  SubjectAltName_Type,
} from "../src/gen/chancery/admin/v1/certificate_pb.js";
import { loopbackListeners } from "./support/loopback-listeners.ts";
import { testLogger } from "./support/test-core.ts";
import { bearer, startTestGateway, type TestGateway } from "./support/test-gateway.ts";

const run = promisify(execFile);

/**
 * The OCSP responder end to end: a real gateway, `openssl ocsp` as the
 * client over POST (its -url) and the GET form through fetch, a revocation
 * through the admin API, and a second gateway on the same database that
 * learns of it through LISTEN/NOTIFY.
 */
describe("OCSP responder on the revocation listener", () => {
  let env: TestGateway;
  let base: string;
  let issuingName: string;
  let issuerFile: string;
  let chainFile: string;
  const scratch = createScratchDir();
  const admin = () => bearer(env.adminToken);

  /** openssl ocsp, asynchronously: the gateway answering it runs in this process. */
  async function opensslOcsp(args: string[]): Promise<{ ok: boolean; out: string }> {
    try {
      const { stdout, stderr } = await run("openssl", ["ocsp", ...args], { timeout: 20_000 });
      return { ok: true, out: stdout + stderr };
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string };
      return { ok: false, out: `${e.stdout ?? ""}${e.stderr ?? ""}` };
    }
  }

  async function issue(cn: string): Promise<{ name: string; file: string }> {
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
    return { name: cert.name, file: scratch.file(`${cn}.pem`, cert.certificatePem) };
  }

  const query = (leafFile: string, url: string, extra: string[] = []) =>
    opensslOcsp(["-issuer", issuerFile, "-cert", leafFile, "-url", url, "-CAfile", chainFile, "-resp_text", ...extra]);

  async function getRequestDer(leafFile: string): Promise<Buffer> {
    const out = path.join(scratch.dir, `req-${Math.random().toString(36).slice(2)}.der`);
    const made = await opensslOcsp(["-issuer", issuerFile, "-cert", leafFile, "-no_nonce", "-reqout", out]);
    expect(made.ok, made.out).toBe(true);
    return readFileSync(out);
  }

  beforeAll(async () => {
    env = await startTestGateway();
    base = `http://${env.gateway.listeners["ocsp"]!.address}`;
    const cas = await grpcUnary(env.client, CertificateAuthorityService.method.listCertificateAuthorities, {}, admin());
    issuingName = cas.certificateAuthorities.find((ca) => ca.displayName === "issuing")!.name;
    chainFile = env.gateway.caChainFile!;
    const issuing = await env.gateway.cas.findByName("issuing");
    issuerFile = scratch.file("issuer.pem", pemEncode("CERTIFICATE", issuing!.certificateDer!));
  });
  afterAll(async () => {
    await env?.stop();
    scratch.cleanup();
  });

  it("answers openssl over POST, with and without a nonce, verified against the chain", async () => {
    const leaf = await issue("good.ocsp.example");
    for (const nonce of ["-nonce", "-no_nonce"]) {
      const result = await query(leaf.file, `${base}/ocsp`, [nonce]);
      expect(result.ok, result.out).toBe(true);
      expect(result.out).toContain("Response verify OK");
      expect(result.out).toMatch(/good\.ocsp\.example\.pem: good/);
      expect(result.out).toContain("Responder Id: ");
      if (nonce === "-nonce") expect(result.out).toContain("OCSP Nonce:");
      else expect(result.out).not.toContain("OCSP Nonce:");
    }
  });

  it("serves the GET form with RFC 9919 cache headers, 304 on If-None-Match; encoded or raw base64", async () => {
    const leaf = await issue("get.ocsp.example");
    const der = await getRequestDer(leaf.file);
    const b64 = der.toString("base64");
    const response = await fetch(`${base}/ocsp/${encodeURIComponent(b64)}`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/ocsp-response");
    const body = Buffer.from(await response.arrayBuffer());
    const etag = response.headers.get("etag")!;
    expect(etag).toMatch(/^"[0-9a-f]{64}"$/);
    const cacheControl = response.headers.get("cache-control")!;
    expect(cacheControl).toMatch(/^public, no-transform, must-revalidate, max-age=\d+$/);
    const maxAge = Number(/max-age=(\d+)/.exec(cacheControl)![1]);
    expect(maxAge).toBeGreaterThan(86_400 - 120);
    expect(maxAge).toBeLessThanOrEqual(86_400);
    const lastModified = Date.parse(response.headers.get("last-modified")!);
    const expires = Date.parse(response.headers.get("expires")!);
    expect(expires - lastModified).toBe(86_400_000);

    const respFile = scratch.file("get-resp.der", body);
    const read = await opensslOcsp([
      "-respin",
      respFile,
      "-issuer",
      issuerFile,
      "-cert",
      leaf.file,
      "-CAfile",
      chainFile,
      "-no_nonce",
    ]);
    expect(read.out).toContain("Response verify OK");
    expect(read.out).toMatch(/get\.ocsp\.example\.pem: good/);

    const notModified = await fetch(`${base}/ocsp/${encodeURIComponent(b64)}`, { headers: { "If-None-Match": etag } });
    expect(notModified.status).toBe(304);
    // Raw "+" and "/" and no padding: the same pre-signed bytes.
    const raw = await fetch(`${base}/ocsp/${b64.replace(/=+$/, "")}`);
    expect(Buffer.from(await raw.arrayBuffer()).equals(body)).toBe(true);
  });

  it("answers malformedRequest (HTTP 200) for garbage, empty and oversized bodies; 405 for other methods", async () => {
    const malformed = Buffer.from(ocspErrorResponse("malformedRequest"));
    const bodies = [Buffer.from("hello"), Buffer.alloc(0), Buffer.alloc(maxOcspRequestBytes + 1, 0x30)];
    for (const body of bodies) {
      const response = await fetch(`${base}/ocsp`, {
        method: "POST",
        headers: { "content-type": "application/ocsp-request" },
        body,
      });
      expect(response.status).toBe(200);
      expect(response.headers.get("cache-control")).toBe("no-cache, no-store");
      expect(Buffer.from(await response.arrayBuffer())).toEqual(malformed);
    }
    const bad = await fetch(`${base}/ocsp/%%%not-base64`);
    expect(Buffer.from(await bad.arrayBuffer())).toEqual(malformed);
    expect((await fetch(`${base}/ocsp`, { method: "PUT", body: "x" })).status).toBe(405);
  });

  it("reads revoked with the reason after an admin API revocation, here and on a second gateway", async () => {
    const leaf = await issue("revoked.ocsp.example");
    let second: Gateway | undefined;
    const dataDir = mkdtempSync(path.join(tmpdir(), "chancery-replica-"));
    try {
      // A second replica: its own data directory and listeners, the same database and KEK.
      second = await startGateway(
        configSchema.parse({
          dataDir,
          database: { url: env.db.url },
          keyEncryptionKeyFile: path.join(env.dataDir, "kek"),
          listen: loopbackListeners,
          log: { level: "silent" },
        }),
        testLogger,
      );
      const secondBase = `http://${second.listeners["ocsp"]!.address}`;
      const der = await getRequestDer(leaf.file);
      const get = (url: string) => fetch(`${url}/ocsp/${encodeURIComponent(der.toString("base64"))}`);
      // Both replicas cache "good" and share one responder.
      const [a, b] = await Promise.all([get(base), get(secondBase)]);
      expect(a.status).toBe(200);
      expect(b.status).toBe(200);
      await Promise.all([a.arrayBuffer(), b.arrayBuffer()]);
      expect((await query(leaf.file, `${secondBase}/ocsp`, ["-no_nonce"])).out).toMatch(/: good/);

      await grpcUnary(
        env.client,
        CertificateService.method.revokeCertificate,
        { name: leaf.name, reason: RevocationReason.KEY_COMPROMISE },
        admin(),
      );
      const here = await query(leaf.file, `${base}/ocsp`, ["-no_nonce"]);
      expect(here.out).toMatch(/revoked\.ocsp\.example\.pem: revoked/);
      expect(here.out).toContain("Reason: keyCompromise");
      const started = Date.now();
      await expect
        .poll(async () => (await query(leaf.file, `${secondBase}/ocsp`, ["-no_nonce"])).out, {
          timeout: 5_000,
          interval: 100,
        })
        .toContain("Reason: keyCompromise");
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      await second?.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it("GetOcspResponder shows the responder certificate and this replica's cache; /metrics counts answers", async () => {
    const leaf = await issue("admin-view.ocsp.example");
    const der = await getRequestDer(leaf.file);
    for (let i = 0; i < 2; i++) expect((await fetch(`${base}/ocsp/${der.toString("base64")}`)).status).toBe(200);

    const responder = await grpcUnary(
      env.client,
      CertificateAuthorityService.method.getOcspResponder,
      { name: issuingName },
      admin(),
    );
    expect(responder.name).toBe(`${issuingName}/ocspResponder`);
    const certificate = new X509Certificate(responder.certificatePem);
    expect(certificate.serialNumber.toLowerCase().replace(/^0+/, "")).toBe(responder.serial.replace(/^0+/, ""));
    expect(certificate.keyUsage).toContain("1.3.6.1.5.5.7.3.9");
    expect(certificate.checkIssued(new X509Certificate(readFileSync(issuerFile)))).toBe(true);
    expect(Number(responder.notAfter!.seconds)).toBeGreaterThan(Date.now() / 1000);
    expect(responder.cache!.entries).toBeGreaterThanOrEqual(1n);
    expect(responder.cache!.hits).toBeGreaterThanOrEqual(1n);
    expect(responder.cache!.misses).toBeGreaterThanOrEqual(1n);
    expect(responder.cache!.oldestThisUpdate).toBeDefined();
    expect(responder.cache!.replicaCapacity).toBe(50_000n);

    const missing = grpcUnary(
      env.client,
      CertificateAuthorityService.method.getOcspResponder,
      { name: "certificateAuthorities/00000000-0000-4000-8000-000000000000" },
      admin(),
    );
    await expect(missing).rejects.toMatchObject({ code: 5 });

    const metrics = await (await fetch(`http://${env.gateway.listeners["metrics"]!.address}/metrics`)).text();
    expect(metrics).toMatch(/chancery_ocsp_responses_total\{outcome="good",source="cache"\} [1-9]/);
    expect(metrics).toMatch(/chancery_ocsp_responses_total\{outcome="good",source="signed"\} [1-9]/);
    expect(metrics).toMatch(/chancery_ocsp_responses_total\{outcome="malformed",source="none"\} [1-9]/);
    expect(metrics).toMatch(/chancery_crl_number\{ca="[0-9a-f-]+"\} [1-9]/);
  });
});
