import { spawn } from "node:child_process";
import path from "node:path";
import type { TestGateway } from "./test-gateway.ts";

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliOptions {
  /** CHANCERY_TOKEN; the gateway's admin token unless given. */
  readonly token?: string | undefined;
  /** Written to the CLI's standard input, which is then closed (closed empty unless given). */
  readonly stdin?: string | undefined;
  /** Set over the rest of the environment (e.g. CHANCERY_TOKEN: "" for no token). */
  readonly extraEnv?: NodeJS.ProcessEnv | undefined;
}

/**
 * Runs `chancery <args>` (src/cli/chancery.ts) in a child process against `env`'s admin API, with the
 * gateway's root CA as trust. Asynchronous spawn: the gateway runs in the test's process and must keep
 * serving while the CLI runs.
 */
export function runCli(env: TestGateway, args: readonly string[], options: CliOptions = {}): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = spawn("node_modules/.bin/node", ["src/cli/chancery.ts", ...args], {
      env: {
        PATH: process.env["PATH"],
        CHANCERY_SERVER: `https://localhost:${env.gateway.listeners["admin"]!.port}`,
        CHANCERY_TOKEN: options.token ?? env.adminToken,
        CHANCERY_CA_FILE: path.join(env.dataDir, "root-ca.pem"),
        ...options.extraEnv,
      },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(options.stdin ?? "");
  });
}
