/** The bench:scep section of docs/benchmarks.md: both store sizes, the peak rates and the goals of issue 6. */
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";

/** One server over the windows of one store size (scepclient load). */
export interface ServerPhase {
  readonly enrolled: number;
  readonly errors: number;
  readonly firstError: string | null;
  readonly seconds: number;
  readonly rate: number;
  /** Server CPU per enrolment: for the gateway node plus PostgreSQL. */
  readonly serverCpuMs: number;
  /** The gateway's node process alone (0 for the peer). */
  readonly nodeCpuMs: number;
  readonly clientCpuMs: number;
  /** The gateway: server CPU per certificate of signing its OCSP responses (after the window, scan excluded). */
  readonly presignCpuMs: number;
  readonly presignSigned: number;
}

export interface PeakResult {
  readonly enrolled: number;
  readonly errors: number;
  readonly firstError: string | null;
  readonly seconds: number;
  readonly rate: number;
  readonly serverCpuMs: number;
  readonly clientCpuMs: number;
  readonly presignCpuMs: number;
  readonly p50: number;
  readonly p99: number;
}

interface PerEnrolment {
  readonly queries: number;
  readonly commits: number;
  readonly rowsInserted: number;
  readonly rowsUpdated: number;
  readonly walSyncs: number | null;
}

export interface BenchResult {
  readonly date: string;
  readonly cpus: string;
  readonly node: string;
  readonly scepVersion: string;
  readonly loadBefore: number;
  readonly loadAfter: number;
  readonly enrolments: number;
  /** scepclient enrolments before anything is measured: the gateway's (JIT warm-up) and each peer's. */
  readonly warmUp: { gateway: number; peer: number };
  readonly concurrency: number;
  readonly slices: number;
  readonly peerKeyBits: readonly number[];
  readonly targets: readonly { key: string; label: string }[];
  readonly storeBefore: { gateway: number; peer: number };
  readonly storeFilled: { gateway: number; peer: number };
  readonly fill: { issued: number; seconds: number; stored: number };
  readonly fresh: Record<string, ServerPhase>;
  readonly filled: Record<string, ServerPhase>;
  readonly peaks: Record<string, PeakResult>;
  readonly peakRequests: number;
  readonly peakConcurrency: number;
  readonly peakSeconds: number;
  readonly gatewayCounters: { fresh: PerEnrolment; filled: PerEnrolment };
  /** Filled store: statement beginnings the gateway sent, per enrolment (in the JSON output, not the section). */
  readonly gatewayStatements: Record<string, number>;
  /** Per scepserver (key: `scepserver-<bits>`): certificates it issued in the run, how many share a serial, errors it logged. */
  readonly fillPresigned: { passes: number; signed: number; seconds: number };
  /** Server CPU (ms) of one background pre-signing pass with nothing due, per store size. */
  readonly idlePassMs: { fresh: number; filled: number };
  readonly peerFacts: Record<string, { issued: number; sharingSerial: number; errors: Record<string, number> }>;
  readonly gatewayFlags: string;
  readonly command: string;
}

const goalCpuRatio = 0.2;
const goalRateRatio = 1;
/** "Flat": the filled store's cost per enrolment within this fraction of the fresh store's. */
const flatTolerance = 0.15;
const baseline = "scepserver-4096";

const n = (v: number, digits = 0) =>
  v.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
const ratio = (v: number) => v.toFixed(2);
const yes = (met: boolean) => (met ? "**met**" : "**not met**");

export function summarize(r: BenchResult) {
  const base = r.peaks[baseline] ? baseline : r.targets[1]!.key;
  const gw = (s: Record<string, ServerPhase>) => s["gateway"]!;
  const peer = (s: Record<string, ServerPhase>) => s[base]!;
  const cpuRatio = [r.fresh, r.filled].map((x) => gw(x).serverCpuMs / peer(x).serverCpuMs);
  // With the OCSP responses each certificate gets signed afterwards: the gateway's whole cost of an enrolment.
  const totalCpuRatio = [r.fresh, r.filled].map((x) => (gw(x).serverCpuMs + gw(x).presignCpuMs) / peer(x).serverCpuMs);
  const rateRatio = [gw(r.fresh).rate / peer(r.fresh).rate, gw(r.filled).rate / peer(r.filled).rate];
  const peakRateRatio = r.peaks["gateway"]!.rate / r.peaks[base]!.rate;
  const growth = (key: string) => ({
    // With the OCSP pre-signing per certificate (the gateway's; 0 for scepserver).
    cpu:
      (r.filled[key]!.serverCpuMs + r.filled[key]!.presignCpuMs) /
      (r.fresh[key]!.serverCpuMs + r.fresh[key]!.presignCpuMs),
    rate: r.filled[key]!.rate / r.fresh[key]!.rate,
  });
  const gatewayGrowth = growth("gateway");
  return {
    base,
    cpuRatio,
    totalCpuRatio,
    rateRatio,
    peakRateRatio,
    growth,
    cpuMet: Math.max(...cpuRatio) <= goalCpuRatio,
    totalCpuMet: Math.max(...totalCpuRatio) <= goalCpuRatio,
    rateMet: Math.min(...rateRatio) >= goalRateRatio,
    flatMet: gatewayGrowth.cpu <= 1 + flatTolerance && gatewayGrowth.rate >= 1 - flatTolerance,
  };
}

function phaseRows(r: BenchResult, size: "fresh" | "filled", stored: { gateway: number; peer: number }): string[] {
  return r.targets.map(({ key, label }) => {
    const p = r[size][key]!;
    const store = key === "gateway" ? stored.gateway : stored.peer;
    const gateway = key === "gateway";
    const split = gateway ? ` (node ${n(p.nodeCpuMs, 1)} + PostgreSQL ${n(p.serverCpuMs - p.nodeCpuMs, 1)})` : "";
    const presign = gateway ? `${n(p.presignCpuMs, 1)} ms` : "—";
    return `| ${label} | ${size}, ${n(store)} stored | ${n(p.enrolled)} | **${n(p.rate, 1)} /s** | **${n(p.serverCpuMs, 1)} ms**${split} | ${presign} | ${n(p.clientCpuMs, 1)} ms | ${p.errors} |`;
  });
}

function section(r: BenchResult): string {
  const s = summarize(r);
  const baseLabel = r.targets.find((t) => t.key === s.base)!.label;
  const other = r.targets.filter((t) => t.key !== "gateway" && t.key !== s.base);
  const likeForLike = other.map((t) => {
    const cpu = [r.fresh, r.filled].map((x) => x["gateway"]!.serverCpuMs / x[t.key]!.serverCpuMs);
    const rate = [r.fresh, r.filled].map((x) => x["gateway"]!.rate / x[t.key]!.rate);
    return `| ${t.label} | ${ratio(cpu[0]!)} / ${ratio(cpu[1]!)} | ${ratio(rate[0]!)} / ${ratio(rate[1]!)} | ${ratio(r.peaks["gateway"]!.rate / r.peaks[t.key]!.rate)} |`;
  });
  const growthRows = r.targets.map(({ key, label }) => {
    const g = s.growth(key);
    return `| ${label} | ${ratio(g.cpu)} | ${ratio(g.rate)} |`;
  });
  const counter = (c: PerEnrolment) =>
    `${n(c.queries, 1)} statements, ${n(c.commits, 1)} commits, ${n(c.rowsInserted, 1)} rows inserted, ${n(c.rowsUpdated, 1)} updated${c.walSyncs === null ? "" : `, ${n(c.walSyncs, 2)} WAL fsyncs`}`;
  const peakRows = r.targets.map(({ key, label }) => {
    const p = r.peaks[key]!;
    const presign = key === "gateway" ? `${n(p.presignCpuMs, 1)} ms` : "—";
    return `| ${label} | ${n(p.enrolled)} in ${n(p.seconds, 1)} s | **${n(p.rate, 1)} /s** | ${n(p.serverCpuMs, 1)} ms | ${presign} | ${n(p.p50, 0)} / ${n(p.p99, 0)} ms | ${n(p.clientCpuMs, 1)} ms | ${p.errors} |`;
  });
  const peerRows = Object.entries(r.peerFacts).map(([key, f]) => {
    const errors = Object.entries(f.errors)
      .map(([text, count]) => `${count} × \`${text}\``)
      .join(", ");
    return `| ${r.targets.find((t) => t.key === key)?.label ?? key} | ${n(f.issued)} | ${n(f.sharingSerial)} | ${errors || "none"} |`;
  });
  return `<!-- bench:scep:start -->
## SCEP enrolment (\`npm run bench:scep\`)

Measured ${r.date} on ${r.cpus}, Node ${r.node}, Debian \`scep\` ${r.scepVersion} (micromdm scepserver and
scepclient); load average ${r.loadBefore.toFixed(2)} before, ${r.loadAfter.toFixed(2)} after (the machine is shared).

- **Gateway**: \`startGateway\` in its own process (node flags \`${r.gatewayFlags}\`), embedded PostgreSQL with
  fsync and synchronous_commit on; a SCEP endpoint with a static challenge and legacyCrypto on, on a self-signed
  RSA-2048 CA that issues directly as scepserver's does; the endpoint's RA key is RSA-2048.
- **Peer**: scepserver 2.1 with its file depot, once with its default RSA-4096 CA and once with an RSA-2048 CA.
  It has no listen-address option and binds every interface; it is only reached on 127.0.0.1, like the gateway.
- **Load**: real \`scepclient\` processes, ${r.concurrency} at a time, each a whole enrolment (GetCACert, GetCACaps,
  PKCSReq signed with SHA-1 in a single-DES envelope, CertRep), with RSA-2048 device keys made before the run (each
  run its own key, directory and common name). Real devices' client, and how the issue's 46 ms was measured; keys
  are made beforehand so no key generation competes with the servers for the cores, but each run still starts a
  process (the peak rows below use a lighter client). Per store size, ${r.enrolments} enrolments per server; the
  servers take turns in ${r.slices} slices, so bursts of other work on the machine fall on all of them.
- **Warm-up**, not measured: ${r.warmUp.gateway} scepclient enrolments for the gateway, ${r.warmUp.peer} for each
  scepserver. The gateway runs under V8's JIT, and a deployed one serves from the compiled state; its first ~900
  enrolments are dearer while V8 compiles the functions they reach. scepserver is compiled ahead of time; more
  enrolments would only grow its depot, which makes each of its later enrolments dearer.
- **Server CPU**: utime+stime from /proc over each window, divided by the enrolments it completed. The gateway is
  its node process plus its PostgreSQL (postmaster and every backend); scepserver is one process. **Client CPU**
  is the scepclient processes', on the same 2 cores.
- **Store sizes**: fresh, then ${n(r.fill.issued)} certificates more: for the gateway issued through its pipeline
  (${n(r.fill.issued / r.fill.seconds)} /s while filling; their OCSP responses then signed, ${n(r.fillPresigned.seconds, 1)} s,
  and the database vacuumed), for scepserver written into its depot as its own Put writes them (a PEM file and an
  index.txt line each).
- **OCSP pre-signing**: the gateway signs two OCSP responses (SHA-1 and SHA-256 CertIDs) for every certificate it
  issues, in a background pass every 60 s. The bench runs that pass right after each gateway window and reports
  its CPU per certificate apart, without the pass's scan of the store (a pass that falls inside a window is in
  that window's CPU). The pass reads only the certificates that are due (migration 0020): one with nothing
  to sign cost ${n(r.idlePassMs.fresh, 0)} ms of server CPU on the fresh store and ${n(r.idlePassMs.filled, 0)} ms on the filled one, once a minute.

| server | store | enrolments | rate | server CPU per enrolment | + OCSP pre-signing | client CPU per enrolment | failed |
|---|---|---|---|---|---|---|---|
${[...phaseRows(r, "fresh", r.storeBefore), ...phaseRows(r, "filled", r.storeFilled)].join("\n")}

Gateway database work per enrolment: fresh ${counter(r.gatewayCounters.fresh)}; filled
${counter(r.gatewayCounters.filled)}.

**Peak rate**, in-repo client (\`src/core/scep/testing/scep-test-client.ts\`, no scepclient processes), filled store:
${r.peakRequests} PKCSReqs built before the window (SHA-256, AES-128-CBC, RSA-2048 device keys), POSTed over
keep-alive connections, ${r.peakConcurrency} in flight, each CertRep verified and decrypted; at most ${r.peakSeconds} s per server.

| server | enrolled | rate | server CPU per enrolment | + OCSP pre-signing | p50 / p99 | client CPU per enrolment | failed |
|---|---|---|---|---|---|---|---|
${peakRows.join("\n")}

Store growth, filled / fresh (scepclient load; the gateway's CPU with its OCSP pre-signing):

| server | CPU per enrolment | rate |
|---|---|---|
${growthRows.join("\n")}

| goal (issue 6), against ${baseLabel} | measured | |
|---|---|---|
| server CPU per enrolment ≤ ${goalCpuRatio} × scepserver's | ${ratio(s.cpuRatio[0]!)} (fresh), ${ratio(s.cpuRatio[1]!)} (filled); with OCSP pre-signing ${ratio(s.totalCpuRatio[0]!)}, ${ratio(s.totalCpuRatio[1]!)} | ${yes(s.cpuMet && s.totalCpuMet)} |
| enrolments per second ≥ scepserver's | ${ratio(s.rateRatio[0]!)}× (fresh), ${ratio(s.rateRatio[1]!)}× (filled); peak ${ratio(s.peakRateRatio)}× | ${yes(s.rateMet)} |
| flat as the store grows (within ${flatTolerance * 100}%) | gateway CPU ×${ratio(s.growth("gateway").cpu)}, rate ×${ratio(s.growth("gateway").rate)} (scepserver: CPU ×${ratio(s.growth(s.base).cpu)}, rate ×${ratio(s.growth(s.base).rate)}) | ${yes(s.flatMet)} |

${
  likeForLike.length === 0
    ? ""
    : `Like-for-like keys (gateway / scepserver with the gateway's key size, without OCSP pre-signing):

| peer | CPU per enrolment, fresh / filled | rate, fresh / filled | peak rate |
|---|---|---|---|
${likeForLike.join("\n")}
`
}
What scepserver did under this load (its depot and log after the run):

| peer | certificates issued | of them sharing a serial number with another | failures it logged |
|---|---|---|---|
${peerRows.join("\n")}

Command: \`${r.command}\`.
<!-- bench:scep:end -->`;
}

export async function writeReport(r: BenchResult): Promise<string> {
  const file = path.resolve(import.meta.dirname, "../../../docs/benchmarks.md");
  const text = await readFile(file, "utf8");
  const block = section(r);
  const pattern = /<!-- bench:scep:start -->[\s\S]*<!-- bench:scep:end -->/;
  await writeFile(file, pattern.test(text) ? text.replace(pattern, () => block) : `${text.trimEnd()}\n\n${block}\n`);
  return file;
}
