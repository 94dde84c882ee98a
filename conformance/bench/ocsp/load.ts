/**
 * The load generator of `npm run bench:ocsp`, in its own process: HTTP/1.1
 * over raw sockets on 127.0.0.1, one request in flight per connection (no
 * pipelining), every answer checked (status 200, exact body length). Raw
 * sockets rather than node:http's client because on a 2-core machine the
 * client's own CPU time competes with the server's: a lean client lets the
 * server be what limits the rate.
 *
 *   closed  `connections` loops, each sending its next request when the last
 *           answer arrived, until `seconds` or `maxRequests` (peak rate)
 *   open    requests started at a fixed `rate` whatever the answers do; a
 *           request waiting for a free connection counts its wait, so the
 *           latency is measured from when it was due (no coordinated omission)
 *
 * With `reconnect`, every request gets a new connection and asks
 * "Connection: close" (what `openssl ocsp` as a client does, and what its
 * responder needs: it serves one request per connection).
 *
 * Each client is a fresh process (run.ts forks one per slice), so before the
 * measured window it runs the same load unmeasured for `warmupSeconds`: its
 * own start-up (module compilation, cold JIT) and the opening of its
 * keep-alive connections would otherwise land in every slice's first
 * moments, and with one-second slices they can be the slowest percent (the
 * p99) of what is measured. Measured requests reuse the connections the
 * warm-up opened, as a keep-alive client in steady state does.
 */
import { readFileSync } from "node:fs";
import net from "node:net";
import { percentile } from "./percentile.ts";

export interface LoadJob {
  readonly port: number;
  readonly method: "GET" | "POST";
  readonly path: string;
  readonly body?: string | undefined; // base64, POST only
  /** The exact body length, or null for any successful OCSPResponse (a peer signing each answer anew). */
  readonly expectedBodyLength: number | null;
  readonly mode: "closed" | "open";
  readonly connections: number;
  readonly seconds: number;
  readonly maxRequests: number;
  readonly rate?: number | undefined;
  readonly reconnect?: boolean | undefined;
  /** The same load, unmeasured, before the measured window (default 0). */
  readonly warmupSeconds?: number | undefined;
  /** The server's process id, to read its CPU time around the measured window (/proc, Linux). */
  readonly serverPid?: number | undefined;
  /** Send every latency back (sorted), for merging interleaved slices. */
  readonly returnLatencies?: boolean | undefined;
}

export interface LoadResult {
  readonly requests: number;
  readonly errors: number;
  readonly firstError: string | null;
  readonly seconds: number;
  readonly rps: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  /** CPU the client used, as a fraction of one core: near 1.0 means the client may be the limit. */
  readonly clientCpu: number;
  /**
   * Open loop: p99 of the client's own lateness, from when a request was due
   * to when the client's timer got to it (a descheduled or busy client). It
   * is part of the latencies above, which run from the due time.
   */
  readonly clientLagP99: number;
  /**
   * Open loop: latency from when the client got to each request (the due
   * time plus the client's own lateness), still counting any wait for a free
   * connection: the same requests with the client's lateness taken out.
   */
  readonly issuedP50: number;
  readonly issuedP99: number;
  /** CPU the server process used in the measured window, as a fraction of one core (Linux; null elsewhere). */
  readonly serverCpu: number | null;
  /**
   * Share of the machine's CPU time the hypervisor gave to others in the
   * measured window ("steal" in /proc/stat; Linux, null elsewhere): while a
   * virtual CPU is stolen, whatever runs on it (server or client) stops.
   */
  readonly steal: number | null;
  readonly clientLags?: number[] | undefined;
  readonly issuedLatencies?: number[] | undefined;
  readonly latencies?: number[] | undefined;
}

interface Connection {
  socket: net.Socket | null;
  chunks: Buffer[];
  waiting: ((error: string | null) => void) | null;
}

function requestBytes(job: LoadJob): Buffer {
  const body = job.body ? Buffer.from(job.body, "base64") : Buffer.alloc(0);
  const lines = [`${job.method} ${job.path} HTTP/1.1`, "Host: 127.0.0.1"];
  if (job.method === "POST") lines.push("Content-Type: application/ocsp-request", `Content-Length: ${body.length}`);
  lines.push(job.reconnect ? "Connection: close" : "Connection: keep-alive");
  return Buffer.concat([Buffer.from(`${lines.join("\r\n")}\r\n\r\n`, "latin1"), body]);
}

/** Whether the bytes so far hold one whole response: null while incomplete. */
function parse(
  buffer: Buffer,
  ended: boolean,
): { status: number; bodyStart: number; bodyLength: number; close: boolean } | null {
  const headEnd = buffer.indexOf("\r\n\r\n");
  if (headEnd < 0) return null;
  const head = buffer.toString("latin1", 0, headEnd);
  const status = Number(head.slice(9, 12));
  const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
  const close = /\r\nconnection:\s*close/i.test(head) || head.startsWith("HTTP/1.0");
  if (length) {
    const bodyLength = Number(length[1]);
    return buffer.length >= headEnd + 4 + bodyLength ? { status, bodyStart: headEnd + 4, bodyLength, close } : null;
  }
  return ended ? { status, bodyStart: headEnd + 4, bodyLength: buffer.length - headEnd - 4, close: true } : null;
}

export async function runLoad(job: LoadJob): Promise<LoadResult> {
  const bytes = requestBytes(job);
  // Typed arrays sized ahead (see Samples): the client's own garbage collections would land in its latencies.
  const expected = job.mode === "open" ? Math.ceil((job.rate ?? 1) * job.seconds) + 1 : 1 << 16;
  let latencies = new Samples(expected);
  let clientLags = new Samples(job.mode === "open" ? expected : 1);
  let issuedLatencies = new Samples(job.mode === "open" ? expected : 1);
  let errors = 0;
  let firstError: string | null = null;

  function check(buffer: Buffer, parsed: { status: number; bodyStart: number; bodyLength: number }): string | null {
    if (parsed.status !== 200) return `HTTP ${parsed.status}`;
    if (job.expectedBodyLength !== null)
      return parsed.bodyLength === job.expectedBodyLength
        ? null
        : `body of ${parsed.bodyLength} bytes, expected ${job.expectedBodyLength}`;
    // OCSPResponse ::= SEQUENCE { responseStatus ENUMERATED successful (0), ... } (RFC 6960 §4.2.1), long-form length.
    const body = buffer.subarray(parsed.bodyStart, parsed.bodyStart + parsed.bodyLength);
    const at = body[1] === 0x82 ? 4 : body[1] === 0x81 ? 3 : 2;
    return body[0] === 0x30 && body[at] === 0x0a && body[at + 1] === 0x01 && body[at + 2] === 0x00
      ? null
      : "not a successful OCSPResponse";
  }

  function connect(conn: Connection): net.Socket {
    const socket = net.connect({ port: job.port, host: "127.0.0.1", noDelay: true });
    let ended = false;
    // False once this socket's one answer is in and it is being closed: its close must not fail the next request.
    let active = true;
    const settle = (error: string | null) => {
      const waiting = conn.waiting;
      conn.waiting = null;
      conn.chunks = [];
      waiting?.(error);
    };
    socket.on("data", (chunk: Buffer) => {
      conn.chunks.push(chunk);
      const buffer = conn.chunks.length === 1 ? chunk : Buffer.concat(conn.chunks);
      conn.chunks = [buffer];
      const parsed = parse(buffer, ended);
      if (!parsed) return;
      if (parsed.close || job.reconnect) {
        active = false;
        socket.destroy();
        if (conn.socket === socket) conn.socket = null;
      }
      settle(check(buffer, parsed));
    });
    socket.on("end", () => {
      ended = true;
      if (!active) return;
      const parsed = conn.chunks.length > 0 ? parse(Buffer.concat(conn.chunks), true) : null;
      if (parsed && conn.waiting) settle(check(Buffer.concat(conn.chunks), parsed));
    });
    socket.on("error", (err) => {
      if (active) settle(err.message);
    });
    socket.on("close", () => {
      if (conn.socket === socket) conn.socket = null;
      if (active) settle("connection closed before the answer");
    });
    return socket;
  }

  /** Writes the request on `conn` and calls `answered` once with null (a good answer) or what went wrong. */
  function send(conn: Connection, answered: (error: string | null) => void): void {
    conn.waiting = answered;
    conn.chunks = [];
    if (!conn.socket || conn.socket.destroyed) conn.socket = connect(conn);
    conn.socket.write(bytes);
  }

  const connections: Connection[] = Array.from({ length: job.connections }, () => ({
    socket: null,
    chunks: [],
    waiting: null,
  }));

  /** One window of `seconds` of the job's load; `measured` false (the warm-up): only failures are recorded. */
  async function window(seconds: number, measured: boolean): Promise<void> {
    const record = (error: string | null, startedAt: number) => {
      if (error) {
        // A failed warm-up request fails the run as much as a measured one.
        errors++;
        firstError ??= measured ? error : `warm-up: ${error}`;
      } else if (measured) latencies.push(performance.now() - startedAt);
    };
    const start = performance.now();
    const deadline = start + seconds * 1000;
    let started = 0;

    if (job.mode === "closed") {
      const maxRequests = measured ? job.maxRequests : unboundedRequests;
      await Promise.all(
        connections.map(
          (conn) =>
            new Promise<void>((resolve) => {
              const next = () => {
                if (started >= maxRequests || performance.now() >= deadline) return resolve();
                started++;
                const t0 = performance.now();
                send(conn, (error) => {
                  record(error, t0);
                  next();
                });
              };
              next();
            }),
        ),
      );
      return;
    }
    const rate = job.rate ?? 1;
    const total = Math.min(measured ? job.maxRequests : unboundedRequests, Math.floor(rate * seconds));
    const idle = [...connections];
    // Requests waiting for a connection: when each was due, and when the client got to it.
    const queue: Array<{ dueAt: number; issuedAt: number }> = [];
    let finished = 0;
    await new Promise<void>((resolve) => {
      const dispatch = (conn: Connection, dueAt: number, issuedAt: number) => {
        send(conn, (error) => {
          record(error, dueAt);
          if (measured && !error) issuedLatencies.push(performance.now() - issuedAt);
          finished++;
          const next = queue.shift();
          if (next !== undefined) dispatch(conn, next.dueAt, next.issuedAt);
          else idle.push(conn);
          if (finished === total) resolve();
        });
      };
      const tick = () => {
        const now = performance.now();
        while (started < total && start + (started * 1000) / rate <= now) {
          const dueAt = start + (started * 1000) / rate;
          started++;
          if (measured) clientLags.push(now - dueAt);
          const conn = idle.pop();
          if (conn) dispatch(conn, dueAt, now);
          else queue.push({ dueAt, issuedAt: now });
        }
        if (started < total) setTimeout(tick, 1);
        else if (total === 0) resolve();
      };
      tick();
      // Give up on what is still unanswered well past the window: the server cannot keep up with this rate.
      setTimeout(() => resolve(), seconds * 1000 + 10_000).unref();
    });
    if (measured && finished < total) {
      errors += total - finished;
      firstError ??= `${total - finished} requests unanswered 10 s after the window`;
    }
  }

  if ((job.warmupSeconds ?? 0) > 0) await window(job.warmupSeconds!, false);
  latencies = new Samples(expected);
  clientLags = new Samples(job.mode === "open" ? expected : 1);
  issuedLatencies = new Samples(job.mode === "open" ? expected : 1);
  // The client's start-up and warm-up garbage collected now, not in the window (load() passes --expose-gc).
  (globalThis as { gc?: () => void }).gc?.();
  const cpuBefore = process.cpuUsage();
  const serverBefore = processCpuSeconds(job.serverPid);
  const stealBefore = machineSteal();
  const start = performance.now();
  await window(job.seconds, true);
  const seconds = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const serverAfter = processCpuSeconds(job.serverPid);
  const stealAfter = machineSteal();
  for (const conn of connections) conn.socket?.destroy();
  const sorted = latencies.sorted();
  const lags = clientLags.sorted();
  const issued = issuedLatencies.sorted();
  return {
    requests: sorted.length,
    errors,
    firstError,
    seconds,
    rps: sorted.length / seconds,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1] ?? 0,
    clientCpu: (cpu.user + cpu.system) / 1e6 / seconds,
    clientLagP99: percentile(lags, 99),
    issuedP50: percentile(issued, 50),
    issuedP99: percentile(issued, 99),
    serverCpu: serverBefore !== null && serverAfter !== null ? (serverAfter - serverBefore) / seconds : null,
    steal:
      stealBefore !== null && stealAfter !== null && stealAfter.total > stealBefore.total
        ? (stealAfter.steal - stealBefore.steal) / (stealAfter.total - stealBefore.total)
        : null,
    latencies: job.returnLatencies ? sorted : undefined,
    clientLags: job.returnLatencies ? lags : undefined,
    issuedLatencies: job.returnLatencies ? issued : undefined,
  };
}

/**
 * Samples in a Float64Array, doubled when full (never, when sized right):
 * a plain array of numbers grown by push reallocates as it goes, and the
 * garbage it leaves makes the client collect during the window it measures.
 */
class Samples {
  private values: Float64Array;
  length = 0;

  constructor(capacity: number) {
    this.values = new Float64Array(Math.max(1, capacity));
  }

  push(value: number): void {
    if (this.length === this.values.length) {
      const grown = new Float64Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.length++] = value;
  }

  /** Ascending, as a plain array (what IPC carries). */
  sorted(): number[] {
    return Array.from(this.values.subarray(0, this.length).sort());
  }
}

/** User plus system CPU seconds of a process so far (all its threads), from /proc; null where there is none. */
function processCpuSeconds(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    // Fields after the parenthesised command name (which may hold spaces): utime and stime are the 12th and 13th.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / clockTicksPerSecond;
  } catch {
    return null;
  }
}

/** The machine's stolen and total CPU ticks so far (the "cpu" line of /proc/stat); null where there is none. */
function machineSteal(): { steal: number; total: number } | null {
  try {
    const line = readFileSync("/proc/stat", "latin1").split("\n", 1)[0]!;
    // cpu user nice system idle iowait irq softirq steal [guest guest_nice: already counted in user and nice]
    const ticks = line.trim().split(/\s+/).slice(1, 9).map(Number);
    return { steal: ticks[7] ?? 0, total: ticks.reduce((n, t) => n + t, 0) };
  } catch {
    return null;
  }
}

/** sysconf(_SC_CLK_TCK): 100 on every Linux architecture Node runs on (USER_HZ). */
const clockTicksPerSecond = 100;

/** The warm-up's request bound (its time ends it). */
const unboundedRequests = Number.MAX_SAFE_INTEGER;

if (process.send) {
  process.once("message", (job) => {
    runLoad(job as LoadJob).then(
      // Disconnect only once the result is written: a large latency array is still in flight otherwise.
      (result) => process.send!(result, () => process.disconnect()),
      (err) => {
        console.error(err);
        process.exit(1);
      },
    );
  });
}
