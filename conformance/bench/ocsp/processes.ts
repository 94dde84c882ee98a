/** Child processes of `npm run bench:ocsp`: forked node scripts and the `openssl ocsp` responder. */
import { type ChildProcess, execFile, fork, spawn } from "node:child_process";
import net from "node:net";
import path from "node:path";
import { promisify } from "node:util";
import type { LoadJob, LoadResult } from "./load.ts";

export const execFileAsync = promisify(execFile);

export interface Forked<T> {
  readonly child: ChildProcess;
  readonly ready: T;
  stop(): Promise<void>;
}

/** Forks a script of this folder, sends it `job` and waits for its first message. */
export function forkWith<T>(
  script: string,
  job: unknown,
  execArgv: string[] = [],
  limitMs = 180_000,
): Promise<Forked<T>> {
  return new Promise((resolve, reject) => {
    const child = fork(path.join(import.meta.dirname, script), [], {
      execArgv,
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${script} was not ready within ${limitMs} ms`));
    }, limitMs);
    const exited = new Promise<void>((done) => child.once("exit", () => done()));
    child.once("error", reject);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited (${signal ?? code}) before it was ready`));
    });
    child.once("message", (message) => {
      clearTimeout(timer);
      resolve({
        child,
        ready: message as T,
        async stop() {
          if (child.exitCode !== null || child.signalCode !== null) return;
          child.send("stop");
          const killer = setTimeout(() => child.kill("SIGKILL"), 30_000);
          await exited;
          clearTimeout(killer);
        },
      });
    });
    child.send(job as object);
  });
}

/** One load run in a fresh client process; killed if it outlives its bounds. */
export async function load(job: LoadJob): Promise<LoadResult> {
  // --expose-gc: the client collects its start-up garbage between its warm-up and its window.
  const client = await forkWith<LoadResult>("load.ts", job, ["--expose-gc"], (job.seconds + 30) * 1000);
  return client.ready;
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

export interface Spawned {
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

/** `openssl ocsp` as a responder; quiet (it logs every request on stderr): the client checks each answer. */
export function spawnOpenssl(args: string[]): Spawned {
  // With -multi, openssl makes itself a process group leader (setpgid, so it must not be started
  // detached: a session leader cannot) and a SIGTERM to it leaves its forked workers running: the
  // group it made (that responder and its workers, nothing else) is signalled. Without -multi there
  // is no such group and the process itself is.
  const child = spawn("openssl", args, { stdio: "ignore" });
  const exited = new Promise<void>((done) => child.once("exit", () => done()));
  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, signal);
    } catch {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    }
  };
  return {
    child,
    async stop() {
      signalGroup("SIGTERM");
      const killer = setTimeout(() => signalGroup("SIGKILL"), 5_000);
      if (child.exitCode === null && child.signalCode === null) await exited;
      clearTimeout(killer);
      // Workers may outlive the parent by a moment.
      await new Promise((r) => setTimeout(r, 200));
      signalGroup("SIGKILL");
    },
  };
}
