/**
 * The bench:admin client, run as its own process (forked by
 * list-certificates.ts) so its CPU time — encoding requests, decoding 50
 * certificates per answer, checking them — does not run on the gateway's
 * event loop. It receives a ClientJob over IPC and answers with ClientResult.
 * Every loop is bounded in calls and in time. BENCH_CLIENT=in-process runs
 * the same code in the gateway's process instead, to compare the two.
 */
import { createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { CertificateService } from "../../../src/gen/chancery/admin/v1/certificate_pb.js";
import { type Interval, type PauseRecord, recordPauses } from "./pauses.ts";
import { concurrentShapeKeys, type Shape, type ShapeContext, shapes } from "./query-shapes.ts";

export interface ClientJob {
  /** https://127.0.0.1:{port} */
  readonly baseUrl: string;
  readonly rootPem: string;
  readonly token: string;
  readonly context: ShapeContext;
  readonly pageSize: number;
  readonly warmup: number;
  /** Rounds of sequential calls, one call per shape in each. */
  readonly repeat: number;
  /** Upper bound on the time of all sequential rounds, whatever `repeat` says. */
  readonly sequentialSeconds: number;
  readonly walks: number;
  readonly concurrency: number;
  readonly concurrentSeconds: number;
}

export interface Latencies {
  readonly calls: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
}

export interface ShapeResult extends Latencies {
  readonly key: string;
  readonly description: string;
  readonly filter: string;
  readonly returned: number;
}

export interface ClientResult {
  readonly shapes: ShapeResult[];
  readonly walk20: Latencies;
  readonly concurrent: Latencies & { readonly rate: number };
  readonly failures: string[];
  /** The sequential rounds: when they ran, each call, and this process's own pauses meanwhile. */
  readonly sequential: {
    readonly window: Interval;
    readonly calls: Array<Interval & { readonly key: string }>;
    readonly clientPauses: PauseRecord;
  };
}

export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? 0;
}

function summarize(latencies: number[]): Latencies {
  latencies.sort((x, y) => x - y);
  return {
    calls: latencies.length,
    p50: percentile(latencies, 50),
    p90: percentile(latencies, 90),
    p99: percentile(latencies, 99),
    max: latencies[latencies.length - 1] ?? 0,
  };
}

export async function runClientJob(job: ClientJob): Promise<ClientResult> {
  const authorization: Interceptor = (next) => async (req) => {
    req.header.set("authorization", `Bearer ${job.token}`);
    return next(req);
  };
  const transport = createConnectTransport({
    baseUrl: job.baseUrl,
    httpVersion: "2",
    interceptors: [authorization],
    // The admin listener's certificate names localhost; we connect to 127.0.0.1 only.
    nodeOptions: { ca: job.rootPem, servername: "localhost" },
  });
  const client = createClient(CertificateService, transport);
  const failures: string[] = [];

  const call = async (shape: Shape, pageToken = "") => {
    const res = await client.listCertificates({ pageSize: job.pageSize, filter: shape.filter, pageToken });
    if (!res.certificates.every(shape.check))
      failures.push(`shape ${shape.key} returned a certificate outside its filter`);
    return res;
  };
  /** The page token that leads to `shape.page`. */
  const tokenFor = async (shape: Shape) => {
    let token = "";
    for (let p = 1; p < shape.page; p++) {
      token = (await call(shape, token)).nextPageToken;
      if (!token) throw new Error(`shape ${shape.key} has no page ${p + 1}`);
    }
    return token;
  };

  const all = shapes(job.context);
  const tokens = new Map<string, string>();
  for (const shape of all) tokens.set(shape.key, await tokenFor(shape));

  // Sequential calls, one shape after another in rounds: a burst of load from
  // elsewhere on the machine then lands on every shape alike, not on whichever
  // shape happened to be measured at that moment.
  const returned = new Map<string, number>();
  for (let i = 0; i < job.warmup; i++)
    for (const shape of all) returned.set(shape.key, (await call(shape, tokens.get(shape.key)!)).certificates.length);
  for (const shape of all)
    if (shape.fullPage && returned.get(shape.key) !== job.pageSize)
      failures.push(`shape ${shape.key} returned ${returned.get(shape.key)}, not a full page`);
  const latencies = new Map<string, number[]>(all.map((s) => [s.key, []]));
  const calls: Array<Interval & { key: string }> = [];
  const pauses = recordPauses();
  const windowStart = performance.timeOrigin + performance.now();
  const sequentialEnd = performance.now() + job.sequentialSeconds * 1000;
  for (let round = 0; round < job.repeat && performance.now() < sequentialEnd; round++)
    for (const shape of all) {
      const t0 = performance.now();
      await call(shape, tokens.get(shape.key)!);
      const t1 = performance.now();
      latencies.get(shape.key)!.push(t1 - t0);
      calls.push({ key: shape.key, start: performance.timeOrigin + t0, end: performance.timeOrigin + t1 });
    }
  const sequential = {
    window: { start: windowStart, end: performance.timeOrigin + performance.now() },
    calls,
    clientPauses: pauses.stop(),
  };
  const results: ShapeResult[] = all.map((shape) => {
    const result = {
      key: shape.key,
      description: shape.description,
      filter: shape.filter,
      returned: returned.get(shape.key) ?? 0,
      ...summarize(latencies.get(shape.key)!),
    };
    console.error(
      `${shape.key}: p50 ${result.p50.toFixed(2)} ms, p99 ${result.p99.toFixed(2)} ms, max ${result.max.toFixed(2)} ms, ${result.calls} calls (${shape.filter || "no filter"})`,
    );
    return result;
  });

  // Walking pages 1..20 of shape b, each page a separate call: total time for the walk.
  const b = all.find((s) => s.key === "b")!;
  const walks: number[] = [];
  for (let w = 0; w < job.walks; w++) {
    let pageToken = "";
    const t0 = performance.now();
    for (let p = 0; p < 20; p++) {
      pageToken = (await call(b, pageToken)).nextPageToken;
      if (!pageToken) throw new Error("shape b has fewer than 21 pages");
    }
    walks.push(performance.now() - t0);
  }

  // Concurrent: the common shapes mixed, `concurrency` calls in flight, for a bounded time.
  const mixed = all.filter((s) => concurrentShapeKeys.includes(s.key));
  const concurrent: number[] = [];
  let n = 0;
  const cStart = performance.now();
  const deadline = cStart + job.concurrentSeconds * 1000;
  await Promise.all(
    Array.from({ length: job.concurrency }, async () => {
      while (performance.now() < deadline) {
        const shape = mixed[n++ % mixed.length]!;
        const t0 = performance.now();
        await call(shape, tokens.get(shape.key)!);
        concurrent.push(performance.now() - t0);
      }
    }),
  );
  const cElapsed = (performance.now() - cStart) / 1000;
  return {
    shapes: results,
    walk20: summarize(walks),
    concurrent: { ...summarize(concurrent), rate: concurrent.length / cElapsed },
    failures,
    sequential,
  };
}

// Forked by list-certificates.ts (BENCH_CLIENT=in-process imports runClientJob instead).
if (process.send)
  process.once("message", (job: ClientJob) => {
    runClientJob(job).then(
      (result) => process.send!(result, () => process.exit(0)),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  });
