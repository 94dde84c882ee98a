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
 */
import net from "node:net";

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
  const latencies: number[] = [];
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

  function send(conn: Connection): Promise<string | null> {
    return new Promise((resolve) => {
      conn.waiting = resolve;
      conn.chunks = [];
      if (!conn.socket || conn.socket.destroyed) conn.socket = connect(conn);
      conn.socket.write(bytes);
    });
  }

  const record = (error: string | null, startedAt: number) => {
    if (error) {
      errors++;
      firstError ??= error;
    } else latencies.push(performance.now() - startedAt);
  };

  const connections: Connection[] = Array.from({ length: job.connections }, () => ({
    socket: null,
    chunks: [],
    waiting: null,
  }));
  const cpuBefore = process.cpuUsage();
  const start = performance.now();
  const deadline = start + job.seconds * 1000;
  let started = 0;

  if (job.mode === "closed") {
    await Promise.all(
      connections.map(async (conn) => {
        while (started < job.maxRequests && performance.now() < deadline) {
          started++;
          const t0 = performance.now();
          record(await send(conn), t0);
        }
      }),
    );
  } else {
    const rate = job.rate ?? 1;
    const total = Math.min(job.maxRequests, Math.floor(rate * job.seconds));
    const idle = [...connections];
    const queue: number[] = []; // due times of requests waiting for a connection
    let finished = 0;
    await new Promise<void>((resolve) => {
      const dispatch = (conn: Connection, dueAt: number) => {
        void send(conn).then((error) => {
          record(error, dueAt);
          finished++;
          const next = queue.shift();
          if (next !== undefined) dispatch(conn, next);
          else idle.push(conn);
          if (finished === total) resolve();
        });
      };
      const tick = () => {
        const now = performance.now();
        while (started < total && start + (started * 1000) / rate <= now) {
          const dueAt = start + (started * 1000) / rate;
          started++;
          const conn = idle.pop();
          if (conn) dispatch(conn, dueAt);
          else queue.push(dueAt);
        }
        if (started < total) setTimeout(tick, 1);
        else if (total === 0) resolve();
      };
      tick();
      // Give up on what is still unanswered well past the window: the server cannot keep up with this rate.
      setTimeout(() => resolve(), job.seconds * 1000 + 10_000).unref();
    });
    if (finished < total) {
      errors += total - finished;
      firstError ??= `${total - finished} requests unanswered 10 s after the window`;
    }
  }
  const seconds = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  for (const conn of connections) conn.socket?.destroy();
  latencies.sort((a, b) => a - b);
  const at = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((latencies.length * p) / 100))] ?? 0;
  return {
    requests: latencies.length,
    errors,
    firstError,
    seconds,
    rps: latencies.length / seconds,
    p50: at(50),
    p90: at(90),
    p99: at(99),
    max: latencies[latencies.length - 1] ?? 0,
    clientCpu: (cpu.user + cpu.system) / 1e6 / seconds,
    latencies: job.returnLatencies ? latencies : undefined,
  };
}

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
