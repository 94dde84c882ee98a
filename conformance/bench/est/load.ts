/**
 * One load run of `npm run bench:est`, in its own process: `concurrency`
 * EST clients, each a closed loop of POST /.well-known/est/simpleenroll
 * (HTTP Basic, a base64 CSR) for `seconds`, on keep-alive TLS connections
 * (`fresh: false`) or a new TLS connection per enrollment (`fresh: true`,
 * the handshake included). CSRs are made before the clock starts, distinct
 * keys reused round-robin, so the client's own key generation is not
 * measured; the gateway still parses and checks every one. Every answer must
 * be a 200 certs-only PKCS#7 (its certificate is read back for a sample).
 */
import { generateKeyPairSync, sign, X509Certificate } from "node:crypto";
import https from "node:https";
import { children, raw, readRoot } from "../../../src/core/x509/der-reader.ts";
import { contextConstructed, derInteger, derOid, sequence, tlvOf } from "../../../src/core/x509/der-writer.ts";
import { encodeName } from "../../../src/core/x509/name.ts";
import { oids } from "../../../src/core/x509/oids.ts";
import { encodeSigned } from "../../../src/core/x509/sign-certificate.ts";

export interface LoadJob {
  readonly port: number;
  readonly rootCaPem: string;
  readonly authorization: string;
  readonly seconds: number;
  readonly concurrency: number;
  readonly fresh: boolean;
  /** "cacerts": GET /cacerts instead (TLS, HTTP and Koa without an enrollment: the front end's ceiling). */
  readonly operation?: "simpleenroll" | "cacerts" | undefined;
}

export interface LoadResult {
  readonly enrollments: number;
  readonly errors: number;
  readonly firstError: string | null;
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

function csr(cn: string): string {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const info = sequence([
    derInteger(0),
    encodeName([{ type: "CN", value: cn }]),
    publicKey.export({ type: "spki", format: "der" }),
    tlvOf(contextConstructed(0), []),
  ]);
  const signature = sign("sha256", info, { key: privateKey, dsaEncoding: "der" });
  return Buffer.from(encodeSigned(info, sequence([derOid(oids.ecdsaWithSha256)]), signature)).toString("base64");
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? 0;
}

/** The first certificate of a base64 certs-only PKCS#7. */
function certificateOf(body: string): X509Certificate {
  const der = Buffer.from(body.replace(/\s+/g, ""), "base64");
  const [, explicit] = children(der, readRoot(der));
  const [signedData] = children(der, explicit!);
  const field = children(der, signedData!).find((node) => node.tag === contextConstructed(0))!;
  return new X509Certificate(raw(der, children(der, field)[0]!));
}

async function run(job: LoadJob): Promise<LoadResult> {
  const csrs = Array.from({ length: 256 }, (_, i) => csr(`est-bench-${i}`));
  const agent = new https.Agent({
    keepAlive: !job.fresh,
    maxSockets: job.concurrency,
    ca: job.rootCaPem,
    // A fresh connection per request means a full handshake, not a resumed session.
    ...(job.fresh ? { maxCachedSessions: 0 } : {}),
  });
  const cacerts = job.operation === "cacerts";
  const post = (body: string) =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = https.request(
        {
          host: "127.0.0.1",
          port: job.port,
          servername: "localhost",
          path: cacerts ? "/.well-known/est/cacerts" : "/.well-known/est/simpleenroll",
          method: cacerts ? "GET" : "POST",
          agent,
          headers: {
            ...(cacerts
              ? {}
              : {
                  "content-type": "application/pkcs10",
                  "content-length": Buffer.byteLength(body),
                  authorization: job.authorization,
                }),
            ...(job.fresh ? { connection: "close" } : {}),
          },
        },
        (res) => {
          let text = "";
          res.setEncoding("latin1");
          res.on("data", (chunk) => (text += chunk));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
        },
      );
      req.on("error", reject);
      req.end(cacerts ? undefined : body);
    });

  // Warm-up: connections, the gateway's caches, and one answer checked.
  const first = await post(csrs[0]!);
  if (first.status !== 200) throw new Error(`warm-up enrollment answered ${first.status}: ${first.text}`);
  if (!cacerts && !certificateOf(first.text).subject.includes("est-bench-0"))
    throw new Error("the warm-up certificate is not ours");
  await Promise.all(Array.from({ length: job.concurrency }, (_, i) => post(csrs[i % csrs.length]!)));

  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | null = null;
  let next = 0;
  const start = performance.now();
  const end = start + job.seconds * 1000;
  await Promise.all(
    Array.from({ length: job.concurrency }, async () => {
      while (performance.now() < end) {
        const body = csrs[next++ % csrs.length]!;
        const sent = performance.now();
        try {
          const answer = await post(body);
          if (answer.status !== 200) throw new Error(`HTTP ${answer.status}: ${answer.text.slice(0, 200)}`);
          latencies.push(performance.now() - sent);
        } catch (err) {
          errors++;
          firstError ??= err instanceof Error ? err.message : String(err);
        }
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  agent.destroy();
  const sorted = latencies.sort((a, b) => a - b);
  return {
    enrollments: sorted.length,
    errors,
    firstError,
    rps: sorted.length / elapsed,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted[sorted.length - 1] ?? 0,
  };
}

process.once("message", (job) => {
  run(job as LoadJob).then(
    (result) => {
      process.send!(result, () => process.exit(0));
    },
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
});
