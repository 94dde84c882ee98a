/**
 * `npm run bench:admin`: latency of chancery.admin.v1.CertificateService/
 * ListCertificates with filters over 100,000 stored certificates, measured
 * with a real Connect client over HTTP/2 + TLS against a running gateway
 * (startGateway, embedded PostgreSQL). Writes the result into
 * docs/benchmarks.md. The goal stated for the admin API: p99 under 50 ms.
 *
 * The store is filled through the real issuance pipeline (fill-store.ts).
 * The client runs in a child process (client.ts), so its own work is not
 * done on the gateway's event loop. Everything is on 127.0.0.1.
 *
 * Options (env): BENCH_CERTIFICATES (default 100000), BENCH_REPEAT (500
 * rounds of sequential calls, one per query shape in each),
 * BENCH_SEQUENTIAL_SECONDS (300, a bound on all rounds together),
 * BENCH_CONCURRENT_SECONDS (5), BENCH_CONCURRENCY (16 calls in flight), BENCH_WRITE=0 to skip writing docs/benchmarks.md,
 * BENCH_EXPLAIN=1 to print EXPLAIN (ANALYZE, BUFFERS) of every shape's query,
 * BENCH_DATA_DIR=dir to keep the filled store there and reuse it on the next
 * run (for working on queries; migrations added since are applied on start),
 * BENCH_CLIENT=in-process to run the client in the gateway's process, as the
 * first version of this benchmark did, for comparison.
 */
import { fork } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pino from "pino";
import { sql } from "slonik";
import { configSchema } from "../../../src/config/config-schema.ts";
import { bootstrapAdmin } from "../../../src/core/identity/bootstrap-admin.ts";
import { type Gateway, startGateway } from "../../../src/gateway.ts";
import { runningEmbeddedPostgresUri } from "../../../src/store/embedded-postgres.ts";
import { loopbackListeners } from "../../../test/support/loopback-listeners.ts";
import type { ClientJob, ClientResult, ShapeResult } from "./client.ts";
import { explainShapes } from "./explain-shapes.ts";
import { type FilledStore, fillStore } from "./fill-store.ts";
import { overlapping, type PauseRecord, pauseSummary, recordPauses } from "./pauses.ts";
import { shapeContext } from "./query-shapes.ts";
import { type BenchSummary, goalMs, type TailAnalysis, writeReport } from "./report.ts";

const total = Number(process.env["BENCH_CERTIFICATES"] ?? 100_000);
const repeat = Number(process.env["BENCH_REPEAT"] ?? 500);
const sequentialSeconds = Number(process.env["BENCH_SEQUENTIAL_SECONDS"] ?? 300);
const concurrentSeconds = Number(process.env["BENCH_CONCURRENT_SECONDS"] ?? 5);
const concurrency = Number(process.env["BENCH_CONCURRENCY"] ?? 16);
const keptDataDir = process.env["BENCH_DATA_DIR"];
const inProcessClient = process.env["BENCH_CLIENT"] === "in-process";
const warmup = 20;
const walks = 20;
const pageSize = 50;
const logger = pino({ level: "warn" });

/** What a kept data directory remembers between runs (bench data only: a throwaway store). */
interface KeptFill {
  readonly filled: FilledStore;
  readonly token: string;
}

/** Runs the client process with `job`; it is killed if it outlives every bound it was given. */
async function runClient(job: ClientJob): Promise<ClientResult> {
  if (inProcessClient) return (await import("./client.ts")).runClientJob(job);
  // Warm-up, page-token walks and the walks of shape b are bounded by count; give them ample time.
  const limitMs = (job.sequentialSeconds + job.concurrentSeconds + 300) * 1000;
  return new Promise((resolve, reject) => {
    // No execArgv: flags given to the gateway's process (--cpu-prof, --trace-gc) stay with it.
    const child = fork(path.join(import.meta.dirname, "client.ts"), [], {
      execArgv: [],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    let result: ClientResult | undefined;
    const timer = setTimeout(() => child.kill("SIGKILL"), limitMs);
    child.once("message", (message) => {
      result = message as ClientResult;
    });
    child.once("error", reject);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      if (result) resolve(result);
      else reject(new Error(`bench client exited (${signal ?? code}) without a result`));
    });
    child.send(job);
  });
}

/**
 * What the slow sequential calls of the fast shapes overlapped: a GC pause
 * in the gateway, one in the client, or neither (then the time went to the
 * database, the kernel, or other processes on the machine).
 */
function tailAnalysis(
  results: readonly ShapeResult[],
  sequential: ClientResult["sequential"],
  gateway: PauseRecord,
  load: [number, number],
): TailAnalysis {
  const fast = new Set(results.filter((r) => r.p50 < goalMs / 2).map((r) => r.key));
  const slow = sequential.calls.filter((c) => fast.has(c.key) && c.end - c.start > goalMs);
  const inWindow = gateway.gc.filter((p) => p.end > sequential.window.start && p.start < sequential.window.end);
  const client = sequential.clientPauses.gc;
  const minPauseMs = 5;
  return {
    fastShapes: [...fast],
    calls: sequential.calls.filter((c) => fast.has(c.key)).length,
    slowCalls: slow.length,
    withGatewayGc: overlapping(slow, inWindow, minPauseMs),
    withClientGc: overlapping(slow, client, minPauseMs),
    withEither: overlapping(slow, [...inWindow, ...client], minPauseMs),
    minPauseMs,
    gatewayGc: pauseSummary(inWindow),
    clientGc: pauseSummary(client),
    gatewayLoopDelay: gateway.loopDelay,
    clientLoopDelay: sequential.clientPauses.loopDelay,
    loadAverage: load,
  };
}

async function main() {
  const dataDir = keptDataDir
    ? path.resolve(keptDataDir)
    : await mkdtemp(path.join(os.tmpdir(), "chancery-bench-admin-"));
  const fillFile = path.join(dataDir, "bench-fill.json");
  let gateway: Gateway | undefined;
  try {
    await mkdir(dataDir, { recursive: true });
    gateway = await startGateway(
      configSchema.parse({
        dataDir,
        listen: loopbackListeners,
        log: { level: "warn" },
      }),
      logger,
    );
    let kept: KeptFill;
    if (keptDataDir && existsSync(fillFile)) {
      kept = JSON.parse(await readFile(fillFile, "utf8")) as KeptFill;
      console.error(`reusing the store filled in ${dataDir}`);
    } else {
      const boot = await bootstrapAdmin(
        { pool: gateway.pool, users: gateway.users, tokens: gateway.tokens },
        { username: "bench-admin" },
      );
      kept = { filled: await fillStore(gateway, total), token: boot.token.secret };
      if (keptDataDir) await writeFile(fillFile, JSON.stringify(kept), { mode: 0o600 });
    }
    const { filled } = kept;
    const stored = Number(await gateway.pool.oneFirst(sql.unsafe`SELECT count(*)::int FROM certificates`));
    if (stored < filled.certificates) throw new Error(`issued ${filled.certificates} but ${stored} are stored`);
    // Planner statistics as a long-running database would have them (autovacuum's analyze).
    await gateway.pool.query(sql.unsafe`ANALYZE certificates`);

    const context = shapeContext(filled);
    const loadBefore = os.loadavg()[0]!;
    const gatewayPauses = recordPauses();
    const { sequential, ...client } = await runClient({
      baseUrl: `https://127.0.0.1:${gateway.listeners["admin"]!.port}`,
      rootPem: await readFile(path.join(dataDir, "root-ca.pem"), "utf8"),
      token: kept.token,
      context,
      pageSize,
      warmup,
      repeat,
      sequentialSeconds,
      walks,
      concurrency,
      concurrentSeconds,
    });
    const gatewayRecord = gatewayPauses.stop();

    const summary: BenchSummary = {
      date: new Date().toISOString().slice(0, 10),
      cpus: `${os.cpus().length} × ${os.cpus()[0]?.model ?? "?"}`,
      node: process.version,
      certificates: stored,
      revoked: filled.revoked,
      cas: filled.caIds.length,
      fillRate: filled.certificates / filled.fillSeconds,
      pageSize,
      repeat,
      concurrency,
      concurrentSeconds,
      command: "npm run bench:admin",
      settings: `BENCH_CERTIFICATES=${filled.certificates} BENCH_REPEAT=${repeat} BENCH_CONCURRENCY=${concurrency}${inProcessClient ? " BENCH_CLIENT=in-process" : ""}`,
      inProcessClient,
      ...client,
      tail: tailAnalysis(client.shapes, sequential, gatewayRecord, [loadBefore, os.loadavg()[0]!]),
    };
    console.log(JSON.stringify(summary, null, 2));
    if (process.env["BENCH_EXPLAIN"] === "1") {
      const uri = await runningEmbeddedPostgresUri(dataDir);
      if (!uri) throw new Error("BENCH_EXPLAIN needs the embedded server");
      console.log(await explainShapes(gateway.pool, uri, context, pageSize));
    }
    if (client.failures.length > 0) throw new Error(`wrong answers: ${client.failures.join("; ")}`);
    if (process.env["BENCH_WRITE"] !== "0") console.log(`wrote ${await writeReport(summary)}`);
  } finally {
    await gateway?.stop();
    if (!keptDataDir) await rm(dataDir, { recursive: true, force: true });
  }
}

await main();
