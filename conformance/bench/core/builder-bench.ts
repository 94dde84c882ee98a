/**
 * Throughput of the certificate-building half of the issuance core:
 *   npm run bench:builder
 * Not a test: numbers depend on the machine. Target: >= 10,000 end-entity
 * certificates built and signed per second on one core (ECDSA P-256).
 *
 * "sequential" rows await one operation at a time with the software signer
 * signing inline, so everything runs on this one thread: that is the
 * one-core figure. The "256 in flight" row uses the signer's default
 * thread-pool mode the way the pipeline does, so signing also uses libuv's
 * threads (other cores, when the machine has them).
 */
import type { Signer } from "../../../src/core/ca/signer.ts";
import { createSoftwareSigner } from "../../../src/core/ca/software-signer.ts";
import {
  type CertificateTemplate,
  createCertificateTemplate,
} from "../../../src/core/issuance/build-end-entity-certificate.ts";
import type { CertificateContent } from "../../../src/core/issuance/certificate-content.ts";
import { createPolicyChecker, type PolicyChecker } from "../../../src/core/issuance/policy-check.ts";
import { generateKeyPair } from "../../../src/core/keys/generate-key-pair.ts";
import type { KeyAlgorithm } from "../../../src/core/keys/key-algorithm.ts";
import { buildCaUrls } from "../../../src/core/profiles/ca-urls.ts";
import { createDefaultProfiles } from "../../../src/core/profiles/default-profiles.ts";
import { createRootCertificate } from "../../../src/core/x509/ca-certificate.ts";
import { createCertificateSigningRequest } from "../../../src/core/x509/certificate-signing-request.ts";
import { parseCsr } from "../../../src/core/x509/parse-csr.ts";
import { createSerialGenerator } from "../../../src/core/x509/serial-number.ts";

const day = 86_400_000;
const nextSerial = createSerialGenerator();
const urls = buildCaUrls("http://pki.example.test", "bench");

function report(label: string, count: number, ms: number): void {
  const rate = Math.round((count / ms) * 1000);
  console.log(
    `${label.padEnd(62)} ${String(rate).padStart(8)}/s  ${((ms * 1000) / count).toFixed(1).padStart(7)} µs each`,
  );
}

async function sequential(label: string, count: number, run: (i: number) => unknown): Promise<void> {
  for (let i = 0; i < Math.min(1000, count); i++) await run(i); // warm-up
  const start = performance.now();
  for (let i = 0; i < count; i++) await run(i);
  report(label, count, performance.now() - start);
}

async function concurrent(label: string, count: number, inFlight: number, run: (i: number) => Promise<unknown>) {
  let next = 0;
  const worker = async () => {
    while (next < count) await run(next++);
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: inFlight }, worker));
  report(label, count, performance.now() - start);
}

function signer(algorithm: KeyAlgorithm, threadPool: boolean): Signer {
  return createSoftwareSigner(generateKeyPair(algorithm).privateKeyPkcs8, { threadPool });
}

interface Fixture {
  caSigner: Signer;
  rootDer: Uint8Array;
  template: CertificateTemplate;
  checker: PolicyChecker;
  csrs: Uint8Array[];
  contents: CertificateContent[];
}

async function fixture(algorithm: KeyAlgorithm, threadPool = false): Promise<Fixture> {
  const caSigner = signer(algorithm, threadPool);
  const now = Date.now();
  const rootDer = await createRootCertificate({
    signer: caSigner,
    subject: [{ type: "CN", value: "Bench Root" }],
    validity: { notBefore: new Date(now - day), notAfter: new Date(now + 3650 * day) },
  });
  const profile = createDefaultProfiles().find((p) => p.name === "tls-server")!;
  const template = createCertificateTemplate({ issuerCertificateDer: rootDer, issuerSigner: caSigner, profile, urls });
  const checker = createPolicyChecker(profile);
  const csrs: Uint8Array[] = [];
  for (let i = 0; i < 64; i++)
    csrs.push(
      await createCertificateSigningRequest({
        signer: signer(algorithm, false),
        subject: [{ type: "CN", value: `host${i}.example.com` }],
      }),
    );
  const contents = csrs.map((csr, i) => check({ caSigner, template, checker }, parseCsr(csr), i));
  return { caSigner, rootDer, template, checker, csrs, contents };
}

function check(f: Pick<Fixture, "caSigner" | "template" | "checker">, csr: ReturnType<typeof parseCsr>, i: number) {
  return f.checker.check({
    csr,
    request: {
      approved: {
        sans: [
          { type: "dns", value: `host${i % 64}.example.com` },
          { type: "dns", value: `www.host${i % 64}.example.com` },
        ],
      },
    },
    issuer: {
      notBefore: f.template.issuer.notBefore,
      notAfter: f.template.issuer.notAfter,
      publicKeySpki: f.caSigner.publicKeySpki,
    },
    now: new Date(),
  });
}

async function main(): Promise<void> {
  console.log(`node ${process.version}; tls-server profile, 2 DNS SANs, CDP + AIA`);
  const p256 = await fixture("ecdsa-p256");

  // Build cost alone: a signer that returns a fixed 72-byte "signature".
  const fakeSignature = new Uint8Array(72).fill(1);
  const nullSigner: Signer = { ...p256.caSigner, sign: async () => fakeSignature };
  const buildOnly = createCertificateTemplate({
    issuerCertificateDer: p256.rootDer,
    issuerSigner: nullSigner,
    profile: p256.template.profile,
    urls,
  });
  await sequential("issue, build only (signature stubbed), sequential", 100_000, (i) =>
    buildOnly.issue(p256.contents[i % 64]!, nextSerial()),
  );
  await sequential("issue, build + sign, ECDSA P-256 CA, sequential", 40_000, (i) =>
    p256.template.issue(p256.contents[i % 64]!, nextSerial()),
  );
  await sequential("parseCsr + verify, ECDSA P-256 CSR, sequential", 20_000, (i) => parseCsr(p256.csrs[i % 64]!));
  const parsed = p256.csrs.map((csr) => parseCsr(csr));
  await sequential("policy check (tls-server), sequential", 100_000, (i) => check(p256, parsed[i % 64]!, i));
  await sequential("parseCsr + policy + build + sign, all P-256, sequential", 10_000, (i) =>
    p256.template.issue(check(p256, parseCsr(p256.csrs[i % 64]!), i), nextSerial()),
  );

  const pooled = await fixture("ecdsa-p256", true);
  await concurrent("issue, build + sign, P-256, thread-pool signer, 256 in flight", 100_000, 256, (i) =>
    pooled.template.issue(pooled.contents[i % 64]!, nextSerial()),
  );

  for (const [algorithm, count] of [
    ["ecdsa-p384", 3_000],
    ["ed25519", 20_000],
    ["rsa-2048", 3_000],
  ] as const) {
    const f = await fixture(algorithm);
    await sequential(`issue, build + sign, ${algorithm} CA, sequential`, count, (i) =>
      f.template.issue(f.contents[i % 64]!, nextSerial()),
    );
    await sequential(`parseCsr + verify, ${algorithm} CSR, sequential`, count, (i) => parseCsr(f.csrs[i % 64]!));
  }
}

await main();
