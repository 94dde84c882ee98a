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
import { sql } from "slonik";
import { configSchema } from "../../../src/config/config-schema.ts";
import { loadKeyEncryptionKey } from "../../../src/config/load-key-encryption-key.ts";
import { createKeyEncryption } from "../../../src/core/ca/key-encryption.ts";
import { bootstrapAdmin } from "../../../src/core/identity/bootstrap-admin.ts";
import { startGateway } from "../../../src/gateway.ts";
import { loopbackListeners } from "../../../test/support/loopback-listeners.ts";

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
  const config = configSchema.parse({
    dataDir: job.dataDir,
    listen: loopbackListeners,
    log: { level: "warn" },
  });
  const gateway = await startGateway(config, logger);
  const stop = async () => {
    await gateway.stop();
    process.exit(0);
  };
  process.on("message", (message) => {
    if (message === "stop") void stop();
  });
  process.on("disconnect", () => void stop());

  const issuing = (await gateway.cas.list()).find((ca) => ca.name === "issuing" && ca.status === "active");
  if (!issuing) throw new Error("the bootstrap issuing CA is missing");
  const admin = await bootstrapAdmin(
    { pool: gateway.pool, users: gateway.users, tokens: gateway.tokens },
    { username: "bench" },
  );
  const sealed = await gateway.pool.oneFirst(
    sql.unsafe`SELECT sealed_private_key FROM certificate_authorities WHERE id = ${issuing.id}`,
  );
  const { kek } = loadKeyEncryptionKey(config, logger);
  const caKey = createKeyEncryption(kek).open(sealed as Buffer, `chancery/ca-key/${issuing.id}`);
  kek.fill(0);
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
