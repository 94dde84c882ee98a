/** The bench:ocsp section of docs/benchmarks.md: every measure as a range over the rounds, and the goals of issue 5. */
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import type { LoadResult } from "./load.ts";
import type { GapsResult } from "./scheduling-gaps.ts";

export interface Round {
  readonly gatewayGet: LoadResult;
  readonly bareGet: LoadResult;
  readonly gatewayPost: LoadResult;
  readonly barePost: LoadResult;
  readonly koaGet: LoadResult;
  readonly openssl: LoadResult;
  readonly opensslMulti: LoadResult | null;
  readonly gatewayPerConnection: LoadResult;
  readonly gatewayGetHalf: LoadResult;
  readonly gatewayPostHalf: LoadResult;
  readonly bareGetHalf: LoadResult;
}

export interface BenchResult {
  readonly date: string;
  readonly cpus: string;
  readonly node: string;
  readonly openssl: string;
  readonly loadBefore: number;
  readonly loadAfter: number;
  readonly responseBytes: number;
  readonly requestBytes: number;
  readonly seconds: number;
  readonly slices: number;
  readonly gatewayFlags: string;
  readonly connections: number;
  readonly openConnections: number;
  readonly opensslRequests: number;
  readonly opensslConnections: number;
  readonly opensslMulti: number;
  /** Seconds each load client ran its load unmeasured before measuring (absent in older results: none). */
  readonly warmupSeconds?: number | undefined;
  /** scheduling-gaps.ts before and after the rounds (absent in older results). */
  readonly gaps?: readonly GapsResult[] | undefined;
  readonly rounds: readonly Round[];
  readonly command: string;
}

const goalBareRatio = 0.7;
const goalOpensslRatio = 100;
const goalP99Ms = 10;

const rate = (v: number) => Math.round(v).toLocaleString("en-US");
const ratio = (v: number) => v.toFixed(2);
const ms = (v: number) => v.toFixed(2);

function range(values: readonly number[], format: (v: number) => string): string {
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  return format(lo) === format(hi) ? format(lo) : `${format(lo)} – ${format(hi)}`;
}

export function summarize(r: BenchResult) {
  const all = r.rounds;
  const pick = (f: (x: Round) => number) => all.map(f);
  const bestOpenssl = (x: Round) => Math.max(x.openssl.rps, x.opensslMulti?.rps ?? 0);
  const getRatio = pick((x) => x.gatewayGet.rps / x.bareGet.rps);
  const postRatio = pick((x) => x.gatewayPost.rps / x.barePost.rps);
  const koaRatio = pick((x) => x.koaGet.rps / x.bareGet.rps);
  const gatewayKoaRatio = pick((x) => x.gatewayGet.rps / x.koaGet.rps);
  const opensslRatio = pick((x) => Math.max(x.gatewayGet.rps, x.gatewayPost.rps) / bestOpenssl(x));
  const postOpensslRatio = pick((x) => x.gatewayPost.rps / bestOpenssl(x));
  const sameShapeRatio = pick((x) => x.gatewayPerConnection.rps / bestOpenssl(x));
  const p99 = pick((x) => Math.max(x.gatewayGetHalf.p99, x.gatewayPostHalf.p99));
  const issuedP99 = pick((x) => Math.max(x.gatewayGetHalf.issuedP99, x.gatewayPostHalf.issuedP99));
  return {
    getRatio,
    postRatio,
    koaRatio,
    gatewayKoaRatio,
    opensslRatio,
    postOpensslRatio,
    sameShapeRatio,
    p99,
    issuedP99,
    bareMet: Math.min(...getRatio) >= goalBareRatio && Math.min(...postRatio) >= goalBareRatio,
    opensslMet: Math.min(...opensslRatio) >= goalOpensslRatio,
    p99Met: Math.max(...p99) < goalP99Ms,
    issuedP99Met: Math.max(...issuedP99) < goalP99Ms,
  };
}

export function renderSection(r: BenchResult): string {
  const all = r.rounds;
  const s = summarize(r);
  const rows: Array<[string, (x: Round) => LoadResult | null]> = [
    ["gateway GET, peak", (x) => x.gatewayGet],
    ["bare node:http GET, peak", (x) => x.bareGet],
    ["gateway POST, peak", (x) => x.gatewayPost],
    ["bare node:http POST, peak", (x) => x.barePost],
    ["one-middleware Koa app, same bytes, GET, peak", (x) => x.koaGet],
    [`\`openssl ocsp\` POST (one process), ${r.opensslConnections} clients, new connection each`, (x) => x.openssl],
    [`\`openssl ocsp -multi ${r.opensslMulti}\` POST, same client`, (x) => x.opensslMulti],
    [`gateway POST, same client as openssl`, (x) => x.gatewayPerConnection],
    ["gateway GET at half its peak (open loop)", (x) => x.gatewayGetHalf],
    ["gateway POST at half its peak (open loop)", (x) => x.gatewayPostHalf],
    ["bare GET at half its peak (open loop)", (x) => x.bareGetHalf],
  ];
  const table = rows
    .filter(([, f]) => all.every((x) => f(x) !== null))
    .map(([label, f]) => {
      const got = all.map((x) => f(x)!);
      const open = got.every((g) => (g.issuedP99 ?? 0) > 0);
      const cpu = got.every((g) => g.serverCpu !== null && g.serverCpu !== undefined);
      return `| ${label} | ${range(
        got.map((g) => g.rps),
        rate,
      )} | ${range(
        got.map((g) => g.p50),
        ms,
      )} | ${range(
        got.map((g) => g.p99),
        ms,
      )} | ${
        open
          ? range(
              got.map((g) => g.issuedP99),
              ms,
            )
          : "–"
      } | ${
        cpu
          ? range(
              got.map((g) => g.serverCpu!),
              ratio,
            )
          : "–"
      } | ${got.reduce((n, g) => n + g.requests, 0).toLocaleString("en-US")} |`;
    })
    .join("\n");
  const yes = (met: boolean) => (met ? "**met**" : "**not met**");
  const times = (v: number) => (v < 10 ? `${v.toFixed(1)}×` : `${Math.round(v).toLocaleString("en-US")}×`);
  return `<!-- bench:ocsp:start -->
## OCSP responder, cached responses (\`npm run bench:ocsp\`)

Measured ${r.date} on ${r.cpus}, Node ${r.node}, ${r.openssl.replace(/ \(Library:.*\)$/, "")}; load average ${r.loadBefore.toFixed(2)} before,
${r.loadAfter.toFixed(2)} after (the machine is shared with other work). Gateway (\`startGateway\`, embedded
PostgreSQL, node flags \`${r.gatewayFlags}\` as \`npm start\`), bare server, \`openssl ocsp\` and each load client run as separate processes on 127.0.0.1.
One request for a certificate the gateway issued (\`openssl ocsp -no_nonce -reqout\`, ${r.requestBytes} bytes,
SHA-1 CertID), answered from the pre-signed cache (${r.responseBytes}-byte response, checked with
\`openssl ocsp -respin ... -CAfile\`: good, verify OK); GET carries it base64 in the path, POST as the body.
The bare server is a node:http server answering the same bytes with the gateway's headers (the practical
limit). \`openssl ocsp\` answers for the same issuing CA through its own delegated responder certificate
(P-256, OCSPSigning, \`-rmd sha256\`), signing each response as it comes (it has no pre-signed cache); its
responder serves one request per connection, so it gets ${r.opensslConnections} clients with a new connection per request,
${r.opensslRequests} requests per phase. Peaks are closed loops, ${r.connections} keep-alive connections, ${r.seconds} s; latency at half of
peak is an open loop (fixed rate, ${r.openConnections} connections, latency from when each request was due), ${r.seconds} s.
Within a round the servers compared take turns in ${r.slices} slices of ${(r.seconds / r.slices).toFixed(1)} s each (peaks: gateway, bare,
Koa; half-peak: gateway GET, gateway POST, bare), so bursts of other work on the machine fall on all of them.
${all.length} rounds; each cell is the range over the rounds. The load client (raw sockets, one request in
flight per connection) shares the 2 cores with the server it measures, as it does for the bare server.
${warmupText(r)}

| measure | requests/s | p50 ms | p99 ms | p99 ms without the client's own lateness | server CPU (cores) | requests (all rounds) |
|---|---|---|---|---|---|---|
${table}

| goal (issue 5) | measured (range over rounds) | |
|---|---|---|
| gateway / bare node:http ≥ ${goalBareRatio} | GET ${range(s.getRatio, ratio)}, POST ${range(s.postRatio, ratio)} (one-middleware Koa / bare: ${range(s.koaRatio, ratio)}; gateway / that Koa app, GET: ${range(s.gatewayKoaRatio, ratio)}) | ${yes(s.bareMet)} |
| gateway / \`openssl ocsp\` ≥ ${goalOpensslRatio}× (gateway peak over openssl's best of one process and \`-multi\`) | ${range(s.opensslRatio, times)} (POST only: ${range(s.postOpensslRatio, times)}; same client shape, a connection per request: ${range(s.sameShapeRatio, times)}) | ${yes(s.opensslMet)} |
| p99 < ${goalP99Ms} ms at half of peak (GET and POST), from when each request was due | worst ${range(s.p99, ms)} ms (bare server at half its peak: ${range(
    all.map((x) => x.bareGetHalf.p99),
    ms,
  )} ms) | ${yes(s.p99Met)} |
| the same, without the load client's own lateness | worst ${range(s.issuedP99, ms)} ms (bare: ${range(
    all.map((x) => x.bareGetHalf.issuedP99),
    ms,
  )} ms) | ${yes(s.issuedP99Met)} |

Latency at half of peak runs from when each request was due, so it includes any lateness of the load
client itself (its timer getting to a request late, because the process was busy or not scheduled).
The client measures that lateness: its p99 was gateway GET ${range(
    all.map((x) => x.gatewayGetHalf.clientLagP99),
    ms,
  )} ms, gateway POST ${range(
    all.map((x) => x.gatewayPostHalf.clientLagP99),
    ms,
  )} ms, bare GET ${range(
    all.map((x) => x.bareGetHalf.clientLagP99),
    ms,
  )} ms. The column "without the client's own lateness" times the same requests from when the client got to each
(a wait for a free connection, which the server causes, still counts). "Server CPU" is the server process's
CPU time over the measured window (/proc), in cores: near 1.0 the server's one event loop is the limit.
${stealText(r)}${gapsText(r)}
Command: \`${r.command}\`.
<!-- bench:ocsp:end -->`;
}

function stealText(r: BenchResult): string {
  const halves = r.rounds.flatMap((x) => [x.gatewayGetHalf, x.gatewayPostHalf, x.bareGetHalf]);
  if (halves.some((h) => h.steal === null || h.steal === undefined)) return "";
  return `The hypervisor took ${range(
    halves.map((h) => 100 * h.steal!),
    (v) => v.toFixed(1),
  )}% of the machine's CPU time during the half-peak windows ("steal" in /proc/stat): a virtual CPU taken away stops whichever of server and client runs on it.\n`;
}

function gapsText(r: BenchResult): string {
  if (!r.gaps || r.gaps.length === 0) return "";
  const one = (g: GapsResult) =>
    `${g.perSecond.toFixed(1)} times a second for over 1 ms (${g.over5msPerSecond.toFixed(1)} over 5 ms, longest ${g.longestMs.toFixed(1)} ms)`;
  const [before, after] = r.gaps;
  const when = after ? `${one(before!)} before the rounds and ${one(after)} after them` : one(before!);
  return (
    "A process that only reads the clock, with nothing else of the bench running (`scheduling-gaps.ts`, " +
    `${before!.seconds} s), was stopped ${when}.\n`
  );
}

function warmupText(r: BenchResult): string {
  if (!r.warmupSeconds) return "Each load client is a fresh process and measures from its first request.";
  return (
    `Each load client is a fresh process (one per slice) that first runs its load unmeasured for ${r.warmupSeconds} s ` +
    "(its own start-up and\nthe opening of its keep-alive connections are not a response's latency), then measures."
  );
}

/** Replaces only this section (re-read right before writing: other sections are edited by other runs). */
export async function writeReport(r: BenchResult): Promise<string> {
  const file = path.resolve(import.meta.dirname, "../../../docs/benchmarks.md");
  const section = renderSection(r);
  const text = await readFile(file, "utf8");
  const pattern = /<!-- bench:ocsp:start -->[\s\S]*<!-- bench:ocsp:end -->/;
  await writeFile(
    file,
    pattern.test(text) ? text.replace(pattern, () => section) : `${text.trimEnd()}\n\n${section}\n`,
  );
  return file;
}
