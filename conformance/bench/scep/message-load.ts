/**
 * The peak-rate load of `npm run bench:scep`, in its own process: the
 * in-repo SCEP client (src/core/scep/testing/scep-test-client.ts, pkijs and
 * node:crypto, no code shared with the server) with every PKCSReq built
 * before the measured window, sent by POST over keep-alive connections,
 * `concurrency` in flight, and every CertRep read in full: signature and
 * messageDigest verified, recipientNonce and transactionID matched, the
 * envelope decrypted with the device key, the certificate taken out. A
 * device's own work (key, CSR, envelope) is thus out of the window, and a
 * server can be driven harder than spawning scepclient processes allows.
 *
 * Messages: SHA-256 signatures, AES-128-CBC envelopes (what current devices
 * send), RSA-2048 device keys from the pool (cycled; each message has its own
 * common name, transactionID and senderNonce).
 *
 * Protocol with the parent: job in, { kind: "built" } out when the
 * messages are ready, "go" in, { kind: "done", result } out.
 */
import { createPrivateKey, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import http from "node:http";
import {
  buildTestCsr,
  pkcsReq,
  readCertRep,
  readCertsOnly,
  type ScepTestRequest,
  type ScepTestSigner,
  selfSignedSigner,
} from "../../../src/core/scep/testing/scep-test-client.ts";
import { readCertificate } from "../../../src/core/x509/parse-certificate.ts";
import { keyFile } from "./keys.ts";

export interface MessageJob {
  /** The endpoint URL, without the query. */
  readonly url: string;
  readonly challenge: string;
  readonly cnPrefix: string;
  readonly count: number;
  readonly keys: number;
  readonly concurrency: number;
  readonly maxSeconds: number;
}

export interface MessageResult {
  readonly enrolled: number;
  readonly errors: number;
  readonly firstError: string | null;
  readonly seconds: number;
  readonly buildSeconds: number;
  readonly clientCpuSeconds: number;
  readonly p50: number;
  readonly p99: number;
}

function get(url: string): Promise<{ type: string; body: Buffer }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          res.statusCode === 200
            ? resolve({ type: String(res.headers["content-type"] ?? ""), body: Buffer.concat(chunks) })
            : reject(new Error(`GET ${url}: HTTP ${res.statusCode}`)),
        );
      })
      .on("error", reject);
  });
}

/** GetCACert: the RA (first of the PKCS#7, RFC 8894 §4.2.1.2) or the CA certificate alone (§4.2.1.1). */
async function recipientCertificate(url: string): Promise<Buffer> {
  const answer = await get(`${url}?operation=GetCACert`);
  if (answer.type.startsWith("application/x-x509-ca-ra-cert")) return readCertsOnly(answer.body).certificatesDer[0]!;
  return answer.body;
}

function post(agent: http.Agent, url: URL, body: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        agent,
        host: url.hostname,
        port: url.port,
        path: `${url.pathname}?operation=PKIOperation`,
        method: "POST",
        headers: { "content-type": "application/x-pki-message", "content-length": body.length },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          res.statusCode === 200 ? resolve(Buffer.concat(chunks)) : reject(new Error(`HTTP ${res.statusCode}`)),
        );
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/**
 * selfSignedSigner with a DER certificate. Its random 16-octet serial is
 * written as is when the first octet is 0x00 (one time in 256), which is
 * not DER (a redundant leading zero) and which a strict reader rightly
 * refuses: such a draw is made again, so every message is well formed.
 */
function derSelfSignedSigner(privateKey: KeyObject, commonName: string): ScepTestSigner {
  for (;;) {
    const signer = selfSignedSigner(privateKey, { commonName });
    try {
      readCertificate(signer.certificateDer);
      return signer;
    } catch {
      // draw again
    }
  }
}

async function build(job: MessageJob): Promise<{ requests: ScepTestRequest[]; recipient: Buffer }> {
  const recipient = await recipientCertificate(job.url);
  const keys: KeyObject[] = Array.from({ length: Math.min(job.keys, job.count) }, (_, i) =>
    createPrivateKey(readFileSync(keyFile(i))),
  );
  const requests: ScepTestRequest[] = [];
  for (let i = 0; i < job.count; i++) {
    const privateKey = keys[i % keys.length]!;
    const cn = `${job.cnPrefix}-${i}`;
    const csr = buildTestCsr({ privateKey, subject: [["CN", cn]], challengePassword: job.challenge });
    requests.push(
      pkcsReq(csr, {
        raCertificateDer: recipient,
        signer: derSelfSignedSigner(privateKey, cn),
        digest: "sha256",
        cipher: "aes-128-cbc",
        transactionId: cn,
      }),
    );
  }
  return { requests, recipient };
}

async function run(
  job: MessageJob,
  requests: ScepTestRequest[],
  buildSeconds: number,
  agent: http.Agent,
): Promise<MessageResult> {
  const url = new URL(job.url);
  const latencies: number[] = [];
  let next = 0;
  let errors = 0;
  let firstError: string | null = null;
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const deadline = started + job.maxSeconds * 1000;
  await Promise.all(
    Array.from({ length: job.concurrency }, async () => {
      while (next < requests.length && performance.now() < deadline) {
        const request = requests[next++]!;
        const t0 = performance.now();
        try {
          const reply = readCertRep(await post(agent, url, request.der), { request });
          if (reply.pkiStatus !== 0 || reply.certificatesDer.length === 0)
            throw new Error(`pkiStatus ${reply.pkiStatus}, failInfo ${reply.failInfo}`);
          latencies.push(performance.now() - t0);
        } catch (err) {
          errors++;
          firstError ??= String(err);
        }
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  latencies.sort((a, b) => a - b);
  const at = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((latencies.length * p) / 100))] ?? 0;
  return {
    enrolled: latencies.length,
    errors,
    firstError,
    seconds,
    buildSeconds,
    clientCpuSeconds: (cpu.user + cpu.system) / 1e6,
    p50: at(50),
    p99: at(99),
  };
}

async function main(job: MessageJob): Promise<void> {
  const t0 = performance.now();
  const { requests } = await build(job);
  const buildSeconds = (performance.now() - t0) / 1000;
  const agent = new http.Agent({ keepAlive: true, maxSockets: job.concurrency });
  // Warm-up, outside the window: the reading code compiled, connections open, the server's paths warm.
  const warmUp = Math.min(job.concurrency * 2, Math.floor(requests.length / 10));
  const warm = await run(
    { ...job, concurrency: Math.max(1, Math.min(job.concurrency, warmUp)) },
    requests.slice(0, warmUp),
    0,
    agent,
  );
  // A server that fails now and then (scepserver does under concurrency) is measured all the same; one that fails always is not.
  if (warmUp > 0 && warm.enrolled === 0)
    throw new Error(`warm-up: all ${warm.errors} failed, first: ${warm.firstError}`);
  await new Promise<void>((go) => {
    process.once("message", () => go());
    process.send!({ kind: "built" });
  });
  const result = await run(job, requests.slice(warmUp), buildSeconds, agent);
  process.send!({ kind: "done", result }, () => process.exit(0));
}

process.once("message", (message) => {
  main(message as MessageJob).catch((err) => {
    console.error(err);
    process.exit(1);
  });
  process.on("disconnect", () => process.exit(0));
});
