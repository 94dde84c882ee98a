/**
 * `npm run bench:scep`: the SCEP server (issue 6) side by side with
 * micromdm's scepserver (Debian's `scep` 2.1; `bash conformance/scep/setup.sh`
 * installs it) under the same client load, in one run, on 127.0.0.1:
 *
 *   - enrolments per second and server CPU per enrolment (for the gateway:
 *     its node process plus its embedded PostgreSQL, every backend), read
 *     from /proc before and after each measured window (cpu.ts);
 *   - headline load: real scepclient processes, BENCH_CONCURRENCY (8) at a
 *     time, each a whole enrolment (GetCACert, GetCACaps, PKCSReq), keys made
 *     beforehand (scepclient-load.ts);
 *   - at two store sizes: fresh, then after BENCH_FILL certificates more
 *     (through the gateway's issuance pipeline; in scepserver's depot format
 *     for the peer), to see whether the cost per enrolment stays flat;
 *   - peak rate with the in-repo client, messages built beforehand,
 *     BENCH_PEAK_CONCURRENCY in flight (message-load.ts).
 *
 * The peer runs twice (BENCH_PEER_KEY_BITS): with its default CA (RSA-4096,
 * presumably what the 46 ms was measured with) and with an RSA-2048
 * CA, the size of the gateway's CA and RA keys. Within a store size the three servers take
 * turns in BENCH_SLICES slices, so a burst of other work on this shared
 * machine falls on all of them; ratios from one run are what to compare.
 *
 * The gateway also signs two OCSP responses per certificate in a background
 * pass; the bench runs that pass after each gateway window and reports its
 * CPU per certificate apart (gateway-process.ts). BENCH_GATEWAY_FLAGS adds
 * node flags to the gateway (e.g. "--cpu-prof --cpu-prof-dir=DIR").
 *
 * Bounded: every window stops at its count or after 30 s; the fill at
 * BENCH_FILL certificates or BENCH_FILL_SECONDS. Writes the bench:scep
 * section of docs/benchmarks.md unless BENCH_WRITE=0.
 */
import { randomBytes } from "node:crypto";
import { chmod, mkdir, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { accountSeconds, type CpuAccount, cpuSeconds } from "./cpu.ts";
import type { Counters, Filled, GatewayJob, GatewayReady, Presigned } from "./gateway-process.ts";
import { ensureKeys } from "./keys.ts";
import type { MessageJob, MessageResult } from "./message-load.ts";
import { execFileAsync, type Forked, forkWith, freePort } from "./processes.ts";
import { type BenchResult, type PeakResult, type ServerPhase, writeReport } from "./report.ts";
import { runScepclients } from "./scepclient-load.ts";
import { depotFacts, depotSize, growDepot, type ScepServer, startScepServer } from "./scepserver.ts";

const enrolments = Number(process.env["BENCH_ENROLMENTS"] ?? 240);
const concurrency = Number(process.env["BENCH_CONCURRENCY"] ?? 8);
const slices = Number(process.env["BENCH_SLICES"] ?? 3);
const fillCount = Number(process.env["BENCH_FILL"] ?? 20_000);
const fillSeconds = Number(process.env["BENCH_FILL_SECONDS"] ?? 30);
const peakRequests = Number(process.env["BENCH_PEAK_REQUESTS"] ?? 600);
const peakConcurrency = Number(process.env["BENCH_PEAK_CONCURRENCY"] ?? 16);
const peakSeconds = Number(process.env["BENCH_PEAK_SECONDS"] ?? 10);
const peerKeyBits = (process.env["BENCH_PEER_KEY_BITS"] ?? "4096,2048").split(",").map(Number);
const warmUp = 8;
/**
 * The gateway is a long-running process under a JIT: its first enrolments run partly in V8's interpreter and
 * pay for compiling, on V8's worker threads, the functions they reach. Measured (--trace-opt, one gateway,
 * successive batches of 240 scepclient enrolments): 461, 184, 177, 29 compilations, then 14-27 per batch;
 * node CPU per enrolment 9.0, 7.0, 7.0, 6.7, then 5.7-6.5 ms. A deployed gateway serves from the compiled
 * state, so it gets this many scepclient enrolments before anything is measured, on keys of their own.
 * scepserver (Go, compiled ahead of time) gets `warmUp`: more enrolments would only grow its depot, which
 * makes each of its enrolments dearer.
 */
const gatewayWarmUp = Number(process.env["BENCH_GATEWAY_WARM_UP"] ?? 960);
/** The in-repo client cycles through this many device keys (each message has its own transactionID and CN). */
const peakKeys = 64;
const windowLimitSeconds = 30;
// What `npm start` gives the gateway process, then any extra flags (e.g. --cpu-prof --cpu-prof-dir=DIR).
const gatewayFlags = [
  "--max-semi-space-size=16",
  ...(process.env["BENCH_GATEWAY_FLAGS"] ?? "").split(" ").filter(Boolean),
];

interface Target {
  readonly key: string;
  readonly label: string;
  readonly url: string;
  readonly account: CpuAccount;
  /** For the gateway: its node process alone, to split node and PostgreSQL. */
  readonly nodePid?: number | undefined;
  readonly caFile: string;
  /** The gateway: signs the OCSP responses its windows' certificates are due (see gateway-process.ts). */
  readonly presign?: (() => Promise<Presigned>) | undefined;
}

interface Window {
  enrolled: number;
  errors: number;
  firstError: string | null;
  seconds: number;
  serverCpu: number;
  nodeCpu: number;
  clientCpu: number;
  /** Server CPU of the OCSP pre-signing of the window's certificates, right after it. */
  presignCpu: number;
  presignPasses: number;
  presignSigned: number;
}

const emptyWindow = (): Window => ({
  enrolled: 0,
  errors: 0,
  firstError: null,
  seconds: 0,
  serverCpu: 0,
  nodeCpu: 0,
  clientCpu: 0,
  presignCpu: 0,
  presignPasses: 0,
  presignSigned: 0,
});

/** Whether the first certificate a window produced chains to the server's CA (openssl). */
async function verify(target: Target, certificate: string): Promise<void> {
  const { stdout } = await execFileAsync("openssl", ["verify", "-CAfile", target.caFile, certificate]);
  if (!stdout.includes(": OK")) throw new Error(`${target.label}: ${certificate} does not verify: ${stdout}`);
}

async function enrolWindow(
  target: Target,
  work: string,
  cnPrefix: string,
  firstKey: number,
  count: number,
): Promise<Window> {
  const cpu0 = accountSeconds(target.account);
  const node0 = target.nodePid ? cpuSeconds([target.nodePid]) : 0;
  const result = await runScepclients({
    url: target.url,
    challenge,
    dir: path.join(work, "clients", target.key),
    cnPrefix,
    firstKey,
    count,
    concurrency,
    maxSeconds: windowLimitSeconds,
  });
  const serverCpu = accountSeconds(target.account) - cpu0;
  const nodeCpu = target.nodePid ? cpuSeconds([target.nodePid]) - node0 : 0;
  const presigned = await presignAfter(target);
  if (result.certificates[0]) await verify(target, result.certificates[0]);
  return {
    enrolled: result.enrolled,
    errors: result.errors,
    firstError: result.firstError,
    seconds: result.seconds,
    serverCpu,
    nodeCpu,
    clientCpu: result.clientCpuSeconds,
    presignCpu: presigned.cpu,
    presignPasses: presigned.passes,
    presignSigned: presigned.signed,
  };
}

/** The target's OCSP pre-signing now (server CPU seconds, passes, certificates signed); nothing for a server without. */
async function presignAfter(target: Target): Promise<{ cpu: number; passes: number; signed: number }> {
  if (!target.presign) return { cpu: 0, passes: 0, signed: 0 };
  const cpu0 = accountSeconds(target.account);
  const presigned = await target.presign();
  return { cpu: accountSeconds(target.account) - cpu0, passes: presigned.passes, signed: presigned.signed };
}

function add(into: Window, part: Window): void {
  into.enrolled += part.enrolled;
  into.errors += part.errors;
  into.firstError ??= part.firstError;
  into.seconds += part.seconds;
  into.serverCpu += part.serverCpu;
  into.nodeCpu += part.nodeCpu;
  into.clientCpu += part.clientCpu;
  into.presignCpu += part.presignCpu;
  into.presignPasses += part.presignPasses;
  into.presignSigned += part.presignSigned;
}

/**
 * `idlePassMs`: what one pre-signing pass costs with nothing to sign (its scan of the store), taken out of
 * the passes run after the windows: the background pass scans once a minute whatever the enrolment rate,
 * so only the signing is a cost of each certificate (the scan is reported on its own).
 */
function phaseOf(w: Window, idlePassMs: number): ServerPhase {
  return {
    enrolled: w.enrolled,
    errors: w.errors,
    firstError: w.firstError,
    seconds: w.seconds,
    rate: w.enrolled / w.seconds,
    serverCpuMs: (w.serverCpu * 1000) / w.enrolled,
    nodeCpuMs: (w.nodeCpu * 1000) / w.enrolled,
    clientCpuMs: (w.clientCpu * 1000) / w.enrolled,
    presignCpuMs:
      w.presignSigned > 0 ? Math.max(0, w.presignCpu * 1000 - w.presignPasses * idlePassMs) / w.presignSigned : 0,
    presignSigned: w.presignSigned,
  };
}

function describe(label: string, p: ServerPhase): string {
  const split =
    p.nodeCpuMs > 0
      ? ` (node ${p.nodeCpuMs.toFixed(1)}; OCSP pre-signing after: ${p.presignCpuMs.toFixed(1)} per certificate, ${p.presignSigned} signed)`
      : "";
  const failed = p.firstError ? `; first failure: ${p.firstError}` : "";
  return `  ${label.padEnd(36)} ${p.enrolled} enrolled, ${p.errors} failed, ${p.rate.toFixed(1)}/s, server CPU ${p.serverCpuMs.toFixed(1)} ms/enrolment${split}, client ${p.clientCpuMs.toFixed(1)} ms${failed}`;
}

/** One store size: every target in turns, `slices` times; each target's windows summed. */
async function storeSize(
  targets: readonly Target[],
  work: string,
  size: string,
  firstKey: number,
  idlePassMs: number,
): Promise<Record<string, ServerPhase>> {
  const perSlice = Math.ceil(enrolments / slices);
  const sums = new Map(targets.map((t) => [t.key, emptyWindow()]));
  for (let slice = 0; slice < slices; slice++)
    for (const target of targets) {
      const count = Math.min(perSlice, enrolments - slice * perSlice);
      if (count <= 0) continue;
      add(
        sums.get(target.key)!,
        await enrolWindow(target, work, `${size}-${slice}`, firstKey + slice * perSlice, count),
      );
    }
  const phases: Record<string, ServerPhase> = {};
  for (const target of targets) {
    phases[target.key] = phaseOf(sums.get(target.key)!, idlePassMs);
    console.error(describe(target.label, phases[target.key]!));
  }
  const gatewayErrors = sums.get("gateway")!;
  if (gatewayErrors.errors > 0)
    throw new Error(`gateway: ${gatewayErrors.errors} enrolments failed, first: ${gatewayErrors.firstError}`);
  return phases;
}

async function peak(target: Target, idlePassMs: number): Promise<PeakResult> {
  const job: MessageJob = {
    url: target.url,
    challenge,
    cnPrefix: "peak",
    count: peakRequests,
    keys: peakKeys,
    concurrency: peakConcurrency,
    maxSeconds: peakSeconds,
  };
  const client = await forkWith<{ kind: "built" }>("message-load.ts", job, [], 300_000);
  try {
    const cpu0 = accountSeconds(target.account);
    const done = await client.request<{ kind: "done"; result: MessageResult }>("go", (peakSeconds + 60) * 1000);
    const serverCpu = accountSeconds(target.account) - cpu0;
    const presigned = await presignAfter(target);
    const r = done.result;
    if (r.errors > 0 && target.key === "gateway")
      throw new Error(`gateway peak: ${r.errors} failed, first: ${r.firstError}`);
    const result: PeakResult = {
      enrolled: r.enrolled,
      errors: r.errors,
      firstError: r.firstError,
      seconds: r.seconds,
      rate: r.enrolled / r.seconds,
      serverCpuMs: (serverCpu * 1000) / r.enrolled,
      clientCpuMs: (r.clientCpuSeconds * 1000) / r.enrolled,
      presignCpuMs:
        presigned.signed > 0 ? Math.max(0, presigned.cpu * 1000 - presigned.passes * idlePassMs) / presigned.signed : 0,
      p50: r.p50,
      p99: r.p99,
    };
    console.error(
      `  ${target.label.padEnd(36)} ${r.enrolled} enrolled, ${r.errors} failed, ${result.rate.toFixed(1)}/s, server CPU ${result.serverCpuMs.toFixed(1)} ms/enrolment, p50 ${r.p50.toFixed(0)} ms, p99 ${r.p99.toFixed(0)} ms`,
    );
    return result;
  } finally {
    await client.stop();
  }
}

/** Server CPU (ms) of one background pre-signing pass when nothing is due: what the gateway spends every 60 s. */
async function idlePass(gateway: Forked<GatewayReady>, target: Target): Promise<number> {
  const cpu0 = accountSeconds(target.account);
  await gateway.request({ kind: "pass" }, 120_000);
  return (accountSeconds(target.account) - cpu0) * 1000;
}

/** The statements the gateway sent per enrolment between two counters, most frequent first (JSON output only). */
function statementsPerEnrolment(before: Counters, after: Counters, enrolled: number): Record<string, number> {
  const delta = Object.entries(after.statements)
    .map(([text, count]) => [text, (count - (before.statements[text] ?? 0)) / enrolled] as const)
    .filter(([, perEnrolment]) => perEnrolment >= 0.01)
    .sort((a, b) => b[1] - a[1]);
  return Object.fromEntries(delta.map(([text, perEnrolment]) => [text, Math.round(perEnrolment * 100) / 100]));
}

function counterDelta(before: Counters, after: Counters, enrolled: number) {
  const per = (f: (c: Counters) => number | null) => {
    const a = f(after);
    const b = f(before);
    return a === null || b === null ? null : (a - b) / enrolled;
  };
  return {
    queries: per((c) => c.queries)!,
    commits: per((c) => c.commits)!,
    rowsInserted: per((c) => c.rowsInserted)!,
    rowsUpdated: per((c) => c.rowsUpdated)!,
    walSyncs: per((c) => c.walSyncs),
  };
}

const challenge = `bench-${randomBytes(12).toString("hex")}`;

async function main() {
  const work = await mkdtemp(path.join(os.tmpdir(), "chancery-bench-scep-"));
  // The embedded PostgreSQL runs as its own user and must reach data/ inside.
  await chmod(work, 0o711);
  const started: Array<{ stop(): Promise<void> }> = [];
  try {
    const keysNeeded = Math.max(warmUp + 2 * enrolments + gatewayWarmUp, peakKeys);
    const t0 = performance.now();
    const generated = await ensureKeys(keysNeeded);
    if (generated > 0)
      console.error(`generated ${generated} device keys in ${((performance.now() - t0) / 1000).toFixed(0)} s (kept)`);

    const endpointName = "bench";
    const gateway = await forkWith<GatewayReady>(
      "gateway-process.ts",
      { dataDir: path.join(work, "data"), workDir: work, endpointName, challenge } satisfies GatewayJob,
      gatewayFlags,
    );
    started.push(gateway);
    const g = gateway.ready;
    const gatewayTarget: Target = {
      key: "gateway",
      label: "gateway",
      url: `http://127.0.0.1:${g.scepPort}/scep/${endpointName}`,
      account: { pids: [g.pid, g.postmasterPid], childrenOf: [g.postmasterPid] },
      nodePid: g.pid,
      caFile: g.chainFile,
      presign: () => gateway.request<Presigned>({ kind: "presign" }, 300_000),
    };
    const targets: Target[] = [gatewayTarget];
    const peers: ScepServer[] = [];
    for (const bits of peerKeyBits) {
      const peer = await startScepServer({
        label: `scepserver-${bits}`,
        dir: path.join(work, `scepserver-${bits}`),
        keyBits: bits,
        port: await freePort(),
        challenge,
      });
      started.push(peer);
      peers.push(peer);
      targets.push({
        key: `scepserver-${bits}`,
        label: `scepserver, RSA-${bits} CA${bits === 4096 ? " (default)" : ""}`,
        url: peer.url,
        account: { pids: [peer.pid], childrenOf: [] },
        caFile: peer.caFile,
      });
    }
    await mkdir(path.join(work, "clients"), { recursive: true });

    console.error(`warm-up (the gateway ${gatewayWarmUp} enrolments, the peers ${warmUp})`);
    for (const target of targets) {
      const w =
        target.key === "gateway"
          ? await enrolWindow(target, work, "warm", warmUp + 2 * enrolments, gatewayWarmUp)
          : await enrolWindow(target, work, "warm", 0, warmUp);
      // scepserver fails now and then under concurrency (reported below); the gateway must not, and no server always.
      if ((w.errors > 0 && target.key === "gateway") || w.enrolled === 0)
        throw new Error(`${target.label} warm-up: ${w.errors} failed, first: ${w.firstError}`);
    }

    await gatewayTarget.presign!();
    const loadBefore = os.loadavg()[0]!;
    const idleFresh = await idlePass(gateway, gatewayTarget);
    console.error(`fresh store (${enrolments} enrolments each, ${concurrency} scepclients at a time)`);
    const c0 = await gateway.request<Counters>({ kind: "counters" });
    const storeBefore = { gateway: c0.certificates, peer: await depotSize(peers[0]!) };
    const fresh = await storeSize(targets, work, "fresh", warmUp, idleFresh);
    const c1 = await gateway.request<Counters>({ kind: "counters" });

    console.error(`filling the stores (${fillCount} certificates, at most ${fillSeconds} s)`);
    const filled = await gateway.request<Filled>(
      { kind: "fill", count: fillCount, seconds: fillSeconds },
      (fillSeconds + 120) * 1000,
    );
    for (const peer of peers) await growDepot(peer, filled.issued);
    console.error(`  gateway: ${filled.issued} issued in ${filled.seconds.toFixed(1)} s; ${filled.stored} stored`);
    // What the background pass would do over the next minutes, done now; then the store's statistics settled.
    const fillPresigned = await gateway.request<Presigned>({ kind: "presign" }, 300_000);
    await gateway.request({ kind: "settle" }, 300_000);
    console.error(
      `  gateway: OCSP responses for ${fillPresigned.signed} certificates signed in ${fillPresigned.seconds.toFixed(1)} s; vacuumed`,
    );

    console.error("filled store");
    const c2 = await gateway.request<Counters>({ kind: "counters" });
    const storeFilled = { gateway: c2.certificates, peer: await depotSize(peers[0]!) };
    const idleFilled = await idlePass(gateway, gatewayTarget);
    const grown = await storeSize(targets, work, "filled", warmUp + enrolments, idleFilled);
    const c3 = await gateway.request<Counters>({ kind: "counters" });

    console.error(`peak, in-repo client (${peakRequests} messages built beforehand, ${peakConcurrency} in flight)`);
    const peaks: Record<string, PeakResult> = {};
    for (const target of targets) peaks[target.key] = await peak(target, idleFilled);

    const peerFacts: BenchResult["peerFacts"] = {};
    for (const peer of peers) peerFacts[peer.label] = await depotFacts(peer);
    // "scep\t<version>"
    const { stdout: scepPackage } = await execFileAsync("dpkg-query", ["-W", "scep"]).catch(() => ({
      stdout: "scep\t?",
    }));
    const scepVersion = scepPackage.trim().split("\t")[1] ?? "?";
    const result: BenchResult = {
      date: new Date().toISOString().slice(0, 10),
      cpus: `${os.cpus().length} × ${os.cpus()[0]?.model ?? "?"}`,
      node: process.version,
      scepVersion,
      loadBefore,
      loadAfter: os.loadavg()[0]!,
      enrolments,
      warmUp: { gateway: gatewayWarmUp, peer: warmUp },
      concurrency,
      slices,
      peerKeyBits,
      targets: targets.map((t) => ({ key: t.key, label: t.label })),
      storeBefore,
      storeFilled,
      fill: filled,
      fresh,
      filled: grown,
      peaks,
      peakRequests,
      peakConcurrency,
      peakSeconds,
      peerFacts,
      fillPresigned,
      idlePassMs: { fresh: idleFresh, filled: idleFilled },
      gatewayStatements: statementsPerEnrolment(c2, c3, grown["gateway"]!.enrolled),
      gatewayCounters: {
        fresh: counterDelta(c0, c1, fresh["gateway"]!.enrolled),
        filled: counterDelta(c2, c3, grown["gateway"]!.enrolled),
      },
      gatewayFlags: gatewayFlags.join(" "),
      command: `npm run bench:scep (BENCH_ENROLMENTS=${enrolments} BENCH_GATEWAY_WARM_UP=${gatewayWarmUp} BENCH_CONCURRENCY=${concurrency} BENCH_SLICES=${slices} BENCH_FILL=${fillCount} BENCH_PEAK_REQUESTS=${peakRequests} BENCH_PEAK_CONCURRENCY=${peakConcurrency} BENCH_PEAK_SECONDS=${peakSeconds})`,
    };
    console.log(JSON.stringify(result, null, 2));
    if (process.env["BENCH_WRITE"] !== "0") console.log(`wrote ${await writeReport(result)}`);
  } finally {
    for (const child of started.reverse()) await child.stop().catch(() => {});
    await rm(work, { recursive: true, force: true });
  }
}

await main();
