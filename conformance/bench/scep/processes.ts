/** Forked node scripts of `npm run bench:scep`, spoken to over IPC one message at a time. */
import { type ChildProcess, execFile, fork } from "node:child_process";
import net from "node:net";
import path from "node:path";
import { promisify } from "node:util";

export const execFileAsync = promisify(execFile);

export interface Forked<T> {
  readonly child: ChildProcess;
  readonly ready: T;
  /** Sends `message` and waits for the child's next message. */
  request<R>(message: unknown, limitMs?: number): Promise<R>;
  stop(): Promise<void>;
}

function nextMessage<R>(child: ChildProcess, label: string, limitMs: number): Promise<R> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`${label}: no answer within ${limitMs} ms`));
    }, limitMs);
    const onMessage = (message: unknown) => {
      cleanup();
      resolve(message as R);
    };
    const onExit = (code: number | null, signal: string | null) => {
      cleanup();
      reject(new Error(`${label} exited (${signal ?? code})`));
    };
    const cleanup = () => {
      clearTimeout(timer);
      child.off("message", onMessage);
      child.off("exit", onExit);
    };
    child.on("message", onMessage);
    child.on("exit", onExit);
  });
}

/** Forks a script of this folder, sends it `job` and waits for its first message. */
export async function forkWith<T>(
  script: string,
  job: unknown,
  execArgv: string[] = [],
  limitMs = 180_000,
): Promise<Forked<T>> {
  const child = fork(path.join(import.meta.dirname, script), [], {
    execArgv,
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const exited = new Promise<void>((done) => child.once("exit", () => done()));
  const first = nextMessage<T>(child, script, limitMs);
  child.send(job as object);
  let ready: T;
  try {
    ready = await first;
  } catch (err) {
    child.kill("SIGKILL");
    throw err;
  }
  return {
    child,
    ready,
    request<R>(message: unknown, requestLimitMs = 120_000) {
      const answer = nextMessage<R>(child, script, requestLimitMs);
      child.send(message as object);
      return answer;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      if (child.connected) child.send("stop");
      else child.kill("SIGTERM");
      const killer = setTimeout(() => child.kill("SIGKILL"), 30_000);
      await exited;
      clearTimeout(killer);
    },
  };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address() as net.AddressInfo;
      server.close(() => resolve(address.port));
    });
  });
}
