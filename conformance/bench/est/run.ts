/**
 * `npm run bench:est`: EST enrollments per second and their latency over
 * TLS, end to end (RFC 7030 /simpleenroll with HTTP Basic: TLS, HTTP, the
 * token check, CSR parse and proof of possession, policy, signing, the
 * durable commit of certificate and audit events), next to the raw signing
 * rate of the very CA key that signs them (bare `crypto.sign`, one thread),
 * in one run on this machine. Writes the result into docs/benchmarks.md
 * (section bench:est).
 *
 * The gateway (gateway-process.ts) and each load client (load.ts) are
 * separate processes on 127.0.0.1; the raw signing rate is measured in this
 * process while the gateway is idle. Two client shapes: keep-alive
 * connections (TLS set up once per client) and a new TLS connection per
 * enrollment (a full handshake each time).
 *
 * Options (env): BENCH_SECONDS (10, per load run), BENCH_CONCURRENCY (64,
 * clients in flight), BENCH_FRESH_CONCURRENCY (16), BENCH_GATEWAY_FLAGS (node
 * flags for the gateway process besides npm start's), BENCH_WRITE=0 to skip
 * writing docs/benchmarks.md.
 */
import { type ChildProcess, fork } from "node:child_process";
import { createPrivateKey, sign } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { GatewayJob, GatewayReady } from "./gateway-process.ts";
import type { LoadJob, LoadResult } from "./load.ts";

const seconds = Number(process.env["BENCH_SECONDS"] ?? 10);
const concurrency = Number(process.env["BENCH_CONCURRENCY"] ?? 64);
const freshConcurrency = Number(process.env["BENCH_FRESH_CONCURRENCY"] ?? 16);
// What `npm start` gives the gateway process, then any extra flags (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof").
const gatewayFlags = [
  "--max-semi-space-size=16",
  ...(process.env["BENCH_GATEWAY_FLAGS"] ?? "").split(" ").filter(Boolean),
];
/** Issue 7: end to end over TLS, at least this share of the raw signing rate. */
const goalRatio = 0.3;

/** Forks a script of this folder with `job` and resolves with its first message. */
function forkWith<T>(script: string, job: unknown, limitMs: number): Promise<{ child: ChildProcess; ready: T }> {
  return new Promise((resolve, reject) => {
    const child = fork(path.join(import.meta.dirname, script), [], {
      execArgv: script === "gateway-process.ts" ? gatewayFlags : [],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${script} did not answer within ${limitMs} ms`));
    }, limitMs);
    child.once("error", reject);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited (${signal ?? code}) before it answered`));
    });
    child.once("message", (message) => {
      clearTimeout(timer);
      resolve({ child, ready: message as T });
    });
    child.send(job as object);
  });
}

async function load(job: LoadJob): Promise<LoadResult> {
  return (await forkWith<LoadResult>("load.ts", job, (job.seconds + 60) * 1000)).ready;
}

/** Bare node:crypto signing of a certificate-sized input with the CA's key, one thread (as bench:core). */
function rawSignRate(pkcs8: Buffer, durationMs: number): number {
  const key = createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" });
  const data = Buffer.alloc(700, 7);
  const hash = key.asymmetricKeyType === "ed25519" ? null : "sha256";
  for (let i = 0; i < 500; i++) sign(hash, data, key);
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < durationMs) {
    for (let i = 0; i < 100; i++) sign(hash, data, key);
    n += 100;
  }
  return (n / (performance.now() - start)) * 1000;
}

const rate = (v: number) => Math.round(v).toLocaleString("en-US");

function row(name: string, r: LoadResult): string {
  return `| ${name} | **${rate(r.rps)} /s** | ${r.p50Ms.toFixed(1)} | ${r.p99Ms.toFixed(1)} | ${r.maxMs.toFixed(1)} | ${rate(r.enrollments)} | ${r.errors} |`;
}

async function main(): Promise<void> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), "chancery-est-bench-"));
  let gateway: ChildProcess | undefined;
  try {
    const loadBefore = os.loadavg()[0]!;
    const started = await forkWith<GatewayReady>("gateway-process.ts", { dataDir } satisfies GatewayJob, 180_000);
    gateway = started.child;
    const ready = started.ready;
    const caKey = Buffer.from(ready.caKeyPkcs8, "base64");
    const raw = rawSignRate(caKey, 3000);
    caKey.fill(0);
    const job = {
      port: ready.estPort,
      rootCaPem: ready.rootCaPem,
      authorization: `Basic ${Buffer.from(`${ready.username}:${ready.token}`).toString("base64")}`,
      seconds,
    };
    const keepAlive = await load({ ...job, concurrency, fresh: false });
    const fresh = await load({ ...job, concurrency: freshConcurrency, fresh: true });
    const front = await load({ ...job, concurrency, fresh: false, operation: "cacerts" });
    const loadAfter = os.loadavg()[0]!;
    for (const [name, r] of [
      ["keep-alive", keepAlive],
      ["fresh", fresh],
      ["cacerts", front],
    ] as const)
      if (r.errors > 0) throw new Error(`${name}: ${r.errors} enrollments failed, first: ${r.firstError}`);

    const ratio = keepAlive.rps / raw;
    const section = `<!-- bench:est:start -->
## EST enrollments over TLS (\`npm run bench:est\`)

Measured ${new Date().toISOString().slice(0, 10)} on ${os.cpus().length} × ${os.cpus()[0]?.model.trim() ?? "CPU"}, Node ${process.version}, load average
${loadBefore.toFixed(2)} before and ${loadAfter.toFixed(2)} after (the machine is shared with other work). The gateway
(\`startGateway\`, embedded PostgreSQL with fsync and synchronous commit, \`--max-semi-space-size=16\` as \`npm start\`) and
each load client are separate processes on 127.0.0.1, sharing the cores. Every enrollment is a real
\`POST /.well-known/est/simpleenroll\` on the default label: HTTP Basic with a gateway admin's token (checked
against Postgres each time), a base64 CSR (ECDSA P-256, 256 distinct keys round-robin, made before the clock
starts), parsed and signature-checked, issued under the \`device\` profile by the ${ready.caAlgorithm} issuing CA,
committed with its audit events before the answer, and answered as a certs-only PKCS#7 (HTTP 200 checked on
every answer). Closed loops for ${seconds} s after a warm-up.

| client shape | enrollments/s | p50 ms | p99 ms | max ms | enrollments | errors |
|---|---|---|---|---|---|---|
${row(`keep-alive TLS connections, ${concurrency} in flight`, keepAlive)}
${row(`a new TLS connection (full handshake) per enrollment, ${freshConcurrency} in flight`, fresh)}
${row(`for comparison: \`GET /cacerts\` (no enrollment), keep-alive, ${concurrency} in flight`, front)}

| reference | value |
|---|---|
| raw signing rate of the same CA key, bare \`crypto.sign\`, one thread | ${rate(raw)} /s |
| **ratio EST (keep-alive) / raw signing** | **${ratio.toFixed(3)}** (goal in issue 7: ≥ ${goalRatio}: ${ratio >= goalRatio ? "met" : "**not met**"}) |
| ratio EST (new connection each) / raw signing | ${(fresh.rps / raw).toFixed(3)} |

Command: \`npm run bench:est\` (BENCH_SECONDS=${seconds} BENCH_CONCURRENCY=${concurrency} BENCH_FRESH_CONCURRENCY=${freshConcurrency}).
<!-- bench:est:end -->`;
    process.stdout.write(`${section}\n`);
    if (process.env["BENCH_WRITE"] !== "0") {
      // Re-read right before writing: other sections are written by other runs.
      const file = path.resolve(import.meta.dirname, "../../../docs/benchmarks.md");
      const text = await readFile(file, "utf8");
      const pattern = /<!-- bench:est:start -->[\s\S]*<!-- bench:est:end -->/;
      await writeFile(
        file,
        pattern.test(text) ? text.replace(pattern, () => section) : `${text.trimEnd()}\n\n${section}\n`,
      );
      process.stdout.write(`wrote ${file}\n`);
    }
  } finally {
    if (gateway && gateway.exitCode === null) {
      const exited = new Promise((done) => gateway!.once("exit", done));
      gateway.send("stop");
      const killer = setTimeout(() => gateway!.kill("SIGKILL"), 30_000);
      await exited;
      clearTimeout(killer);
    }
    await rm(dataDir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
