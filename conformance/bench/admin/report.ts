import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import type { ClientResult } from "./client.ts";
import type { PauseRecord, pauseSummary } from "./pauses.ts";

export const goalMs = 50;
const repoRoot = path.resolve(import.meta.dirname, "../../..");

export interface TailAnalysis {
  /** Shapes whose median is under half the goal: their calls over the goal are the tail. */
  readonly fastShapes: string[];
  readonly calls: number;
  readonly slowCalls: number;
  readonly withGatewayGc: number;
  readonly withClientGc: number;
  readonly withEither: number;
  readonly minPauseMs: number;
  readonly gatewayGc: ReturnType<typeof pauseSummary>;
  readonly clientGc: ReturnType<typeof pauseSummary>;
  readonly gatewayLoopDelay: PauseRecord["loopDelay"];
  readonly clientLoopDelay: PauseRecord["loopDelay"];
  /** One-minute load average before and after the measured calls. */
  readonly loadAverage: [number, number];
}

export interface BenchSummary extends Omit<ClientResult, "sequential"> {
  readonly date: string;
  readonly cpus: string;
  readonly node: string;
  readonly certificates: number;
  readonly revoked: number;
  readonly cas: number;
  readonly fillRate: number;
  readonly pageSize: number;
  readonly repeat: number;
  readonly concurrency: number;
  readonly concurrentSeconds: number;
  /** What to type, e.g. `npm run bench:admin`. */
  readonly command: string;
  /** The settings it ran with, as environment variables. */
  readonly settings: string;
  readonly inProcessClient: boolean;
  readonly tail: TailAnalysis;
}

/** Replaces the bench:admin-list section of docs/benchmarks.md (or appends it); returns the file's path. */
export async function writeReport(r: BenchSummary): Promise<string> {
  const file = path.join(repoRoot, "docs", "benchmarks.md");
  const n = (v: number) => Math.round(v).toLocaleString("en-US");
  const ms = (v: number) => `${v.toFixed(1)} ms`;
  const goal = (v: number) => (v < goalMs ? "yes" : "**no**");
  const shown = (filter: string) =>
    filter
      ? `\`${filter.replace(/user:[0-9a-f-]+/, "user:…").replace(/certificateAuthorities\/[0-9a-f-]+/, "certificateAuthorities/…")}\``
      : "—";
  const rows = r.shapes
    .map(
      (s) =>
        `| ${s.key}: ${s.description} | ${shown(s.filter)} | ${s.returned} | ${ms(s.p50)} | ${ms(s.p90)} | ${ms(s.p99)} | ${ms(s.max)} | ${goal(s.p99)} |`,
    )
    .join("\n");
  const section = `<!-- bench:admin-list:start -->
## Admin API certificate listing (\`npm run bench:admin\`)

Measured ${r.date} on ${r.cpus}, Node ${r.node}. A running gateway (\`startGateway\`, embedded PostgreSQL)
holding ${n(r.certificates)} certificates issued through the pipeline (${n(r.fillRate)} /s while filling): ${r.cas} issuing CAs,
\`tls-server\` and \`tls-client\` profiles, SANs \`host{i}.team{i%50}.example\`, 8 users and 40 ACME accounts as
requesters, validity 7-397 days, ${n(r.revoked)} revoked. \`ListCertificates\` called by a Connect client over HTTP/2 + TLS
on 127.0.0.1 with a bearer token, page size ${r.pageSize}, ${r.repeat} sequential calls per shape after a warm-up.
${
  r.inProcessClient
    ? "The client runs in the gateway's process (BENCH_CLIENT=in-process), sharing its event loop and heap."
    : "The client is a separate process (`conformance/bench/admin/client.ts`), so its own CPU time is not spent on\nthe gateway's event loop, though both share the machine's cores."
}
Shapes are called in rounds, one call of each per round. Goal: p99 under ${goalMs} ms.

| query shape | filter | returned | p50 | p90 | p99 | max | p99 < ${goalMs} ms |
|---|---|---|---|---|---|---|---|
${rows}
| walk pages 1-20 of shape b (20 calls) | | ${r.pageSize * 20} | ${ms(r.walk20.p50)} per walk | | | ${ms(r.walk20.max)} | |
| **concurrent**: shapes a-e mixed, ${r.concurrency} in flight for ${r.concurrentSeconds} s | | | ${ms(r.concurrent.p50)} | ${ms(r.concurrent.p90)} | ${ms(r.concurrent.p99)} | ${ms(r.concurrent.max)} | ${goal(r.concurrent.p99)} |

Concurrent throughput: ${n(r.concurrent.rate)} calls/s (${n(r.concurrent.calls)} calls).

Tail of the sequential calls of shapes ${r.tail.fastShapes.join(", ")}: ${n(r.tail.slowCalls)} of ${n(r.tail.calls)} took over ${goalMs} ms;
${n(r.tail.withGatewayGc)} of them overlapped a gateway GC pause over ${r.tail.minPauseMs} ms, ${n(r.tail.withClientGc)} a client GC pause, ${n(r.tail.slowCalls - r.tail.withEither)} neither.
Gateway GC meanwhile: ${n(r.tail.gatewayGc.count)} pauses, longest ${ms(r.tail.gatewayGc.maxMs)}, ${n(r.tail.gatewayGc.over10Ms)} over 10 ms; gateway event loop delay
over the whole run p99 ${ms(r.tail.gatewayLoopDelay.p99)}. Load average (1 min) ${r.tail.loadAverage.map((l) => l.toFixed(2)).join(" → ")} on ${r.cpus.split(" ")[0]} cores.

Command: \`${r.command}\` (${r.settings}).
<!-- bench:admin-list:end -->`;
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch {
    text =
      "# Benchmarks\n\nEvery number here was produced by the command shown with it, on the machine named, in one run\nthat measures the peer or baseline side by side (the machines are noisy, so compare ratios).\n\n";
  }
  const pattern = /<!-- bench:admin-list:start -->[\s\S]*<!-- bench:admin-list:end -->/;
  text = pattern.test(text) ? text.replace(pattern, () => section) : `${text.trimEnd()}\n\n${section}\n`;
  await writeFile(file, text);
  return file;
}
