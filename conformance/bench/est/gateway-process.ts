/**
 * The gateway under test for `npm run bench:est`, in its own process so the
 * load client never shares its event loop: startGateway on a throwaway data
 * directory (embedded PostgreSQL), every listener on 127.0.0.1, a first
 * admin whose name and token are the EST clients' HTTP Basic credentials.
 *
 * Reports over IPC the EST port, the root CA (what clients trust), those
 * credentials and the issuing CA's key (PKCS#8, base64: a bench CA made a
 * moment ago and thrown away after), so the parent measures the raw signing
 * rate of that very key; then serves until told to stop or its parent goes.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import pino from "pino";
import { bootstrapAdmin } from "../../../src/core/identity/bootstrap-admin.ts";
import { bootstrapIssuingCa, openCaKey, startBenchGateway, stopOnMessage } from "../bench-gateway.ts";

export interface GatewayJob {
  readonly dataDir: string;
}

export interface GatewayReady {
  readonly estPort: number;
  readonly rootCaPem: string;
  readonly username: string;
  readonly token: string;
  /** The issuing CA's key, PKCS#8 DER, base64. */
  readonly caKeyPkcs8: string;
  readonly caAlgorithm: string;
  readonly pid: number;
}

const logger = pino({ level: "warn" });

async function run(job: GatewayJob): Promise<void> {
  const { gateway, config, stop } = await startBenchGateway(job.dataDir, logger);
  stopOnMessage(stop);
  const issuing = await bootstrapIssuingCa(gateway);
  const admin = await bootstrapAdmin(
    { pool: gateway.pool, users: gateway.users, tokens: gateway.tokens },
    { username: "bench" },
  );
  const caKey = await openCaKey(gateway, config, logger, issuing.id);
  const ready: GatewayReady = {
    estPort: gateway.listeners["est"]!.port,
    rootCaPem: await readFile(path.join(job.dataDir, "root-ca.pem"), "utf8"),
    username: "bench",
    token: admin.token.secret,
    caKeyPkcs8: caKey.toString("base64"),
    caAlgorithm: issuing.keyAlgorithm,
    pid: process.pid,
  };
  caKey.fill(0);
  process.send!(ready);
}

process.once("message", (job) => {
  run(job as GatewayJob).catch((err) => {
    console.error(err);
    process.exit(1);
  });
});
