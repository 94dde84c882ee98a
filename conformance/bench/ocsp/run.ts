/**
 * `npm run bench:ocsp`: requests per second and latency of cached
 * (pre-signed) OCSP responses from the gateway's revocation listener, in one
 * run next to
 *   - a bare node:http server answering the same bytes with the same
 *     headers (bare-server.ts): the practical limit for Node on this machine;
 *   - `openssl ocsp` as a responder for the same CA, with a delegated
 *     responder certificate (P-256, OCSPSigning) like the gateway's, over the
 *     same request bytes.
 * Writes the result into docs/benchmarks.md (section bench:ocsp).
 *
 * Gateway (gateway-process.ts), bare server, openssl and every load client
 * (load.ts) are separate processes; everything is on 127.0.0.1. The request
 * is `openssl ocsp -reqout` without a nonce for a certificate issued by the
 * gateway (SHA-1 CertID, openssl's default), so the gateway answers it from
 * its cache after the first request; GET carries it base64 in the path
 * (RFC 6960 A.1), POST as application/ocsp-request.
 *
 * Each round measures, in this order: peak rate (closed loop) for GET and
 * POST on the gateway and on the bare server, and GET on a one-middleware
 * Koa app answering the same bytes (what Koa alone costs); openssl (POST, a new
 * connection per request, since its responder serves one request per
 * connection) and the gateway under the same client shape; then latency at
 * half of that round's peak (open loop, fixed rate) for the gateway's GET and
 * POST and the bare server's GET.
 *
 * The targets compared are measured in interleaved slices (interleaved()).
 *
 * Options (env): BENCH_ROUNDS (3), BENCH_SECONDS (5, per target and phase),
 * BENCH_SLICES (5, turns each phase is cut into),
 * BENCH_CONNECTIONS (32, closed loop), BENCH_OPEN_CONNECTIONS (64),
 * BENCH_OPENSSL_REQUESTS (5000, per openssl phase, about 2 s), BENCH_OPENSSL_CONNECTIONS (4),
 * BENCH_OPENSSL_MULTI (2: also run `openssl ocsp -multi N`; 0 to skip),
 * BENCH_WARMUP (0.5: seconds each load client runs unmeasured first, see load.ts),
 * BENCH_GATEWAY_FLAGS (node flags for the gateway process besides npm start's
 * --max-semi-space-size=16, e.g.
 * "--cpu-prof --cpu-prof-dir=/tmp/prof"), BENCH_WRITE=0 to skip writing
 * docs/benchmarks.md.
 */
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { BareJob } from "./bare-server.ts";
import type { GatewayJob, GatewayReady } from "./gateway-process.ts";
import type { LoadJob, LoadResult } from "./load.ts";
import { percentile } from "./percentile.ts";
import { execFileAsync, type Forked, forkWith, freePort, load, type Spawned, spawnOpenssl } from "./processes.ts";
import { type BenchResult, type Round, writeReport } from "./report.ts";
import type { GapsResult } from "./scheduling-gaps.ts";

const rounds = Number(process.env["BENCH_ROUNDS"] ?? 3);
const slices = Number(process.env["BENCH_SLICES"] ?? 5);
const seconds = Number(process.env["BENCH_SECONDS"] ?? 5);
const connections = Number(process.env["BENCH_CONNECTIONS"] ?? 32);
const openConnections = Number(process.env["BENCH_OPEN_CONNECTIONS"] ?? 64);
const opensslRequests = Number(process.env["BENCH_OPENSSL_REQUESTS"] ?? 5000);
const opensslConnections = Number(process.env["BENCH_OPENSSL_CONNECTIONS"] ?? 4);
const opensslMulti = Number(process.env["BENCH_OPENSSL_MULTI"] ?? 2);
const warmup = Number(process.env["BENCH_WARMUP"] ?? 0.5);
// What `npm start` gives the gateway process, then any extra flags.
const gatewayFlags = [
  "--max-semi-space-size=16",
  ...(process.env["BENCH_GATEWAY_FLAGS"] ?? "").split(" ").filter(Boolean),
];
const unbounded = 10_000_000;

/** Headers the bare server copies from the gateway's answer (node:http adds Date, Connection, Keep-Alive). */
function copiedHeaders(headers: Headers): Record<string, string> {
  const skip = new Set(["date", "connection", "keep-alive", "content-length", "transfer-encoding"]);
  const copied: Record<string, string> = {};
  headers.forEach((value, name) => {
    if (!skip.has(name)) copied[name] = value;
  });
  return copied;
}

/** What `openssl ocsp` says of a response for the leaf: it must read good and verify. */
async function checkResponse(work: string, der: Buffer, label: string): Promise<void> {
  const file = path.join(work, `check-${label}.der`);
  await writeFile(file, der);
  const { stdout, stderr } = await execFileAsync("openssl", [
    "ocsp",
    "-respin",
    file,
    "-issuer",
    path.join(work, "issuer.pem"),
    "-cert",
    path.join(work, "leaf.pem"),
    "-CAfile",
    path.join(work, "chain.pem"),
    "-no_nonce",
  ]);
  const out = stdout + stderr;
  if (!out.includes("Response verify OK") || !out.includes("leaf.pem: good"))
    throw new Error(`the ${label} response does not verify as good:\n${out}`);
}

/** The peer: a delegated responder certificate from the same issuing CA, and an index naming the leaf. */
async function prepareOpenssl(work: string, serialHex: string): Promise<string[]> {
  const file = (name: string) => path.join(work, name);
  await execFileAsync("openssl", [
    "req",
    "-new",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    file("responder.key"),
    "-subj",
    "/CN=openssl bench OCSP responder",
    "-out",
    file("responder.csr"),
  ]);
  await writeFile(
    file("responder.ext"),
    "basicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature\n" +
      "extendedKeyUsage = OCSPSigning\nnoCheck = ignored\n",
  );
  await execFileAsync("openssl", [
    "x509",
    "-req",
    "-in",
    file("responder.csr"),
    "-CA",
    file("issuer.pem"),
    "-CAkey",
    file("issuer.key"),
    "-CAcreateserial",
    "-days",
    "2",
    "-sha256",
    "-extfile",
    file("responder.ext"),
    "-out",
    file("responder.pem"),
  ]);
  const { stdout } = await execFileAsync("openssl", [
    "x509",
    "-in",
    file("leaf.pem"),
    "-noout",
    "-enddate",
    "-subject",
  ]);
  const notAfter = new Date(/notAfter=(.*)/.exec(stdout)![1]!);
  const subject = /subject=(.*)/.exec(stdout)![1]!.trim();
  const stamp = notAfter.toISOString().replace(/[-:T]/g, "").slice(2, 14);
  // index.txt (openssl ca's database): status, expiry, revocation, serial, file, subject.
  await writeFile(file("index.txt"), `V\t${stamp}Z\t\t${serialHex.toUpperCase()}\tunknown\t/${subject}\n`);
  await writeFile(file("index.txt.attr"), "unique_subject = no\n");
  return [
    "ocsp",
    "-index",
    file("index.txt"),
    "-rsigner",
    file("responder.pem"),
    "-rkey",
    file("responder.key"),
    "-CA",
    file("issuer.pem"),
    "-rmd",
    "sha256",
    "-ndays",
    "1",
    "-ignore_err",
  ];
}

async function startOpenssl(work: string, args: string[], multi: number): Promise<{ port: number; peer: Spawned }> {
  const port = await freePort();
  const peer = spawnOpenssl([...args, "-port", String(port), ...(multi > 0 ? ["-multi", String(multi)] : [])]);
  // Ready when it answers this request good, signed by its delegated responder. Not probed with a
  // bare connect first: a connection closed without a request stalls its one-at-a-time accept loop.
  const ask = () =>
    execFileAsync(
      "openssl",
      [
        "ocsp",
        "-issuer",
        path.join(work, "issuer.pem"),
        "-cert",
        path.join(work, "leaf.pem"),
        "-url",
        `http://127.0.0.1:${port}`,
        "-CAfile",
        path.join(work, "chain.pem"),
        "-no_nonce",
      ],
      { timeout: 10_000 },
    );
  const deadline = Date.now() + 10_000;
  let out = "";
  while (!out.includes("leaf.pem: good") && Date.now() < deadline) {
    out = await ask().then(
      ({ stdout, stderr }) => stdout + stderr,
      async (err: { stdout?: string; stderr?: string }) => {
        await new Promise((r) => setTimeout(r, 200));
        return `${err.stdout ?? ""}${err.stderr ?? ""}`;
      },
    );
  }
  if (!out.includes("leaf.pem: good")) {
    await peer.stop();
    throw new Error(`openssl ocsp does not answer good:\n${out}`);
  }
  return { port, peer };
}

function describe(r: LoadResult): string {
  const server = r.serverCpu === null ? "" : `, server CPU ${r.serverCpu.toFixed(2)}`;
  const steal = r.steal === null ? "" : `, steal ${(100 * r.steal).toFixed(1)}%`;
  const open =
    r.issuedP99 > 0
      ? `; client lag p99 ${r.clientLagP99.toFixed(2)} ms, without it p50 ${r.issuedP50.toFixed(2)} p99 ${r.issuedP99.toFixed(2)} ms`
      : "";
  return `${Math.round(r.rps)} /s, p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, ${r.requests} ok, ${r.errors} errors, client CPU ${r.clientCpu.toFixed(2)}${server}${steal}${open}`;
}

/** Several slices' results as one: rates over the summed time, percentiles over all latencies. */
function merge(parts: readonly LoadResult[]): LoadResult {
  const latencies = parts.flatMap((p) => p.latencies ?? []).sort((a, b) => a - b);
  const clientLags = parts.flatMap((p) => p.clientLags ?? []).sort((a, b) => a - b);
  const issued = parts.flatMap((p) => p.issuedLatencies ?? []).sort((a, b) => a - b);
  const serverCpu = parts.every((p) => p.serverCpu !== null)
    ? parts.reduce((n, p) => n + p.serverCpu! * p.seconds, 0) / parts.reduce((n, p) => n + p.seconds, 0)
    : null;
  const at = (p: number) => percentile(latencies, p);
  const seconds = parts.reduce((n, p) => n + p.seconds, 0);
  return {
    requests: latencies.length,
    errors: parts.reduce((n, p) => n + p.errors, 0),
    firstError: parts.find((p) => p.firstError)?.firstError ?? null,
    seconds,
    rps: latencies.length / seconds,
    p50: at(50),
    p90: at(90),
    p99: at(99),
    max: latencies[latencies.length - 1] ?? 0,
    clientCpu: parts.reduce((n, p) => n + p.clientCpu * p.seconds, 0) / seconds,
    clientLagP99: percentile(clientLags, 99),
    steal: parts.every((p) => p.steal !== null)
      ? parts.reduce((n, p) => n + p.steal! * p.seconds, 0) / parts.reduce((n, p) => n + p.seconds, 0)
      : null,
    issuedP50: percentile(issued, 50),
    issuedP99: percentile(issued, 99),
    serverCpu,
  };
}

/**
 * The machine is shared and noisy: the targets compared are measured in
 * turns of `seconds / slices` each, one after another, `slices` times, so a
 * burst of other work falls on all of them alike; each is then the merge of
 * its slices.
 */
async function interleaved<K extends string>(jobs: Record<K, [string, LoadJob]>): Promise<Record<K, LoadResult>> {
  const keys = Object.keys(jobs) as K[];
  const parts = new Map<K, LoadResult[]>(keys.map((k) => [k, []]));
  for (let slice = 0; slice < slices; slice++)
    for (const key of keys) {
      const [label, job] = jobs[key];
      const part = await load({ ...job, seconds: job.seconds / slices, returnLatencies: true });
      if (part.errors > 0) throw new Error(`${label}: ${part.errors} failed requests, first: ${part.firstError}`);
      parts.get(key)!.push(part);
    }
  const merged = {} as Record<K, LoadResult>;
  for (const key of keys) {
    merged[key] = merge(parts.get(key)!);
    console.error(`  ${jobs[key][0].padEnd(34)} ${describe(merged[key])}`);
  }
  return merged;
}

async function measure(label: string, job: LoadJob): Promise<LoadResult> {
  const result = await load(job);
  console.error(`  ${label.padEnd(34)} ${describe(result)}`);
  if (result.errors > 0) throw new Error(`${label}: ${result.errors} failed requests, first: ${result.firstError}`);
  return result;
}

async function main() {
  const work = await mkdtemp(path.join(os.tmpdir(), "chancery-bench-ocsp-"));
  // The embedded PostgreSQL runs as its own user and must reach data/ inside.
  await chmod(work, 0o711);
  const started: Array<{ stop(): Promise<void> }> = [];
  try {
    const gateway: Forked<GatewayReady> = await forkWith<GatewayReady>(
      "gateway-process.ts",
      { dataDir: path.join(work, "data"), workDir: work } satisfies GatewayJob,
      gatewayFlags,
    );
    started.push(gateway);
    const { ocspPort, serialHex } = gateway.ready;

    const requestFile = path.join(work, "request.der");
    await execFileAsync("openssl", [
      "ocsp",
      "-issuer",
      path.join(work, "issuer.pem"),
      "-cert",
      path.join(work, "leaf.pem"),
      "-no_nonce",
      "-reqout",
      requestFile,
    ]);
    const requestDer = await readFile(requestFile);
    const requestBase64 = requestDer.toString("base64");
    const getPath = `/ocsp/${encodeURIComponent(requestBase64)}`;

    const viaGet = await fetch(`http://127.0.0.1:${ocspPort}${getPath}`);
    const responseDer = Buffer.from(await viaGet.arrayBuffer());
    await checkResponse(work, responseDer, "gateway-get");
    const viaPost = await fetch(`http://127.0.0.1:${ocspPort}/ocsp`, {
      method: "POST",
      headers: { "content-type": "application/ocsp-request" },
      body: requestDer,
    });
    const postDer = Buffer.from(await viaPost.arrayBuffer());
    if (!postDer.equals(responseDer)) throw new Error("POST did not answer the cached bytes GET did");
    const headers = copiedHeaders(viaGet.headers);

    const sameBytes = async (framework: BareJob["framework"]) => {
      const server = await forkWith<{ port: number }>("bare-server.ts", {
        body: responseDer.toString("base64"),
        headers,
        framework,
      } satisfies BareJob);
      started.push(server);
      const check = Buffer.from(await (await fetch(`http://127.0.0.1:${server.ready.port}${getPath}`)).arrayBuffer());
      if (!check.equals(responseDer)) throw new Error(`the ${framework} server does not answer the same bytes`);
      return server;
    };
    const bare = await sameBytes("node:http");
    const koa = await sameBytes("koa");

    const opensslArgs = await prepareOpenssl(work, serialHex);

    // Whose CPU time each load client reads around its window (not openssl's: -multi forks workers).
    const pids = new Map<number, number | undefined>([
      [ocspPort, gateway.ready.pid],
      [bare.ready.port, bare.child.pid],
      [koa.ready.port, koa.child.pid],
    ]);
    const job = (port: number, method: "GET" | "POST", extra: Partial<LoadJob>): LoadJob => ({
      port,
      serverPid: pids.get(port),
      method,
      path: method === "GET" ? getPath : "/ocsp",
      body: method === "POST" ? requestBase64 : undefined,
      expectedBodyLength: responseDer.length,
      mode: "closed",
      connections,
      seconds,
      maxRequests: unbounded,
      warmupSeconds: warmup,
      ...extra,
    });

    // Warm-up: JIT, the cache entry, keep-alive paths of both servers.
    console.error("warm-up");
    await measure("gateway GET", job(ocspPort, "GET", { seconds: 2 }));
    await measure("gateway POST", job(ocspPort, "POST", { seconds: 2 }));
    await measure("bare GET", job(bare.ready.port, "GET", { seconds: 2 }));

    /** scheduling-gaps.ts in its own process while nothing else of the bench runs. */
    const gaps = async () => {
      const probe = await forkWith<GapsResult>("scheduling-gaps.ts", { seconds: 3 });
      const result = probe.ready;
      await probe.stop();
      console.error(
        `  scheduling gaps: ${result.perSecond.toFixed(1)}/s over 1 ms, ${result.over5msPerSecond.toFixed(1)}/s over 5 ms, longest ${result.longestMs.toFixed(1)} ms`,
      );
      return result;
    };
    const gapsBefore = await gaps();
    const loadBefore = os.loadavg();
    const results: Round[] = [];
    for (let round = 1; round <= rounds; round++) {
      console.error(`round ${round}/${rounds}`);
      const { gatewayGet, bareGet, koaGet, gatewayPost, barePost } = await interleaved({
        gatewayGet: ["gateway GET peak", job(ocspPort, "GET", {})],
        bareGet: ["bare GET peak", job(bare.ready.port, "GET", {})],
        koaGet: ["one-middleware Koa GET peak", job(koa.ready.port, "GET", {})],
        gatewayPost: ["gateway POST peak", job(ocspPort, "POST", {})],
        barePost: ["bare POST peak", job(bare.ready.port, "POST", {})],
      });

      // openssl signs every answer anew (a different producedAt, and ECDSA signatures vary in length).
      const perConnection = {
        expectedBodyLength: null,
        connections: opensslConnections,
        reconnect: true,
        maxRequests: opensslRequests,
        seconds: 60,
      };
      const single = await startOpenssl(work, opensslArgs, 0);
      const openssl = await measure("openssl ocsp POST", job(single.port, "POST", perConnection)).finally(() =>
        single.peer.stop(),
      );
      let opensslMultiResult: LoadResult | null = null;
      if (opensslMulti > 0) {
        const multi = await startOpenssl(work, opensslArgs, opensslMulti);
        opensslMultiResult = await measure(
          `openssl ocsp -multi ${opensslMulti} POST`,
          job(multi.port, "POST", perConnection),
        ).finally(() => multi.peer.stop());
      }
      const gatewayPerConnection = await measure(
        "gateway POST, conn per request",
        job(ocspPort, "POST", {
          ...perConnection,
          expectedBodyLength: responseDer.length,
          maxRequests: unbounded,
          seconds,
        }),
      );

      const half = (r: LoadResult) => Math.max(1, Math.round(r.rps / 2));
      const open = (rate: number): Partial<LoadJob> => ({ mode: "open", rate, connections: openConnections });
      const { gatewayGetHalf, gatewayPostHalf, bareGetHalf } = await interleaved({
        gatewayGetHalf: [`gateway GET at ${half(gatewayGet)}/s`, job(ocspPort, "GET", open(half(gatewayGet)))],
        gatewayPostHalf: [`gateway POST at ${half(gatewayPost)}/s`, job(ocspPort, "POST", open(half(gatewayPost)))],
        bareGetHalf: [`bare GET at ${half(bareGet)}/s`, job(bare.ready.port, "GET", open(half(bareGet)))],
      });
      results.push({
        gatewayGet,
        bareGet,
        gatewayPost,
        barePost,
        koaGet,
        openssl,
        opensslMulti: opensslMultiResult,
        gatewayPerConnection,
        gatewayGetHalf,
        gatewayPostHalf,
        bareGetHalf,
      });
    }
    const gapsAfter = await gaps();
    const { stdout: opensslVersion } = await execFileAsync("openssl", ["version"]);
    const result: BenchResult = {
      date: new Date().toISOString().slice(0, 10),
      cpus: `${os.cpus().length} × ${os.cpus()[0]?.model ?? "?"}`,
      node: process.version,
      openssl: opensslVersion.trim(),
      loadBefore: loadBefore[0]!,
      loadAfter: os.loadavg()[0]!,
      responseBytes: responseDer.length,
      requestBytes: requestDer.length,
      seconds,
      connections,
      openConnections,
      opensslRequests,
      opensslConnections,
      opensslMulti,
      warmupSeconds: warmup,
      gaps: [gapsBefore, gapsAfter],
      rounds: results,
      command: `npm run bench:ocsp (BENCH_ROUNDS=${rounds} BENCH_SECONDS=${seconds} BENCH_SLICES=${slices} BENCH_CONNECTIONS=${connections} BENCH_OPENSSL_REQUESTS=${opensslRequests} BENCH_OPENSSL_MULTI=${opensslMulti} BENCH_WARMUP=${warmup})`,
      slices,
      gatewayFlags: gatewayFlags.join(" "),
    };
    console.log(JSON.stringify(result, null, 2));
    if (process.env["BENCH_WRITE"] !== "0") console.log(`wrote ${await writeReport(result)}`);
  } finally {
    for (const child of started.reverse()) await child.stop().catch(() => {});
    await rm(work, { recursive: true, force: true });
  }
}

await main();
