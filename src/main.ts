import { existsSync } from "node:fs";
import { parseArgs } from "node:util";
import { ConfigError, loadConfig } from "./config/load-config.ts";
import { startGateway } from "./gateway.ts";
import { createLogger } from "./ops/logger.ts";

/**
 * `npm start`: read the config (file from --config, CHANCERY_CONFIG or
 * ./chancery.yaml, then CHANCERY_* overrides), start the gateway, and stop
 * it in order on SIGINT/SIGTERM.
 */
async function main(): Promise<number> {
  const { values } = parseArgs({ options: { config: { type: "string", short: "c" } }, allowPositionals: false });
  const file =
    values.config ?? process.env["CHANCERY_CONFIG"] ?? (existsSync("chancery.yaml") ? "chancery.yaml" : undefined);
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig({ file });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`chancery: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const logger = createLogger(config.log);
  logger.info({ node: process.version, configFile: file ?? null, dataDir: config.dataDir }, "starting Chancery");

  const gateway = await startGateway(config, logger).catch((err) => {
    logger.fatal({ err }, "start failed");
    return null;
  });
  if (!gateway) return 1;
  if (gateway.caChainFile) {
    const root = (await gateway.cas.list()).find((ca) => ca.kind === "root" && ca.status === "active");
    // Plain lines on stdout too, for the person who just ran `npm start`.
    process.stdout.write(`CA chain written to ${gateway.caChainFile}\n`);
    if (root) process.stdout.write(`root CA "${root.subject}" SHA-256 fingerprint ${root.fingerprintSha256}\n`);
  }
  logger.info("Chancery is ready");

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        logger.warn({ signal }, "second signal: exiting now");
        resolve(130);
        return;
      }
      stopping = true;
      logger.info({ signal }, "shutting down");
      gateway.stop().then(
        () => {
          logger.info("stopped cleanly");
          resolve(0);
        },
        (err) => {
          logger.error({ err }, "shutdown failed");
          resolve(1);
        },
      );
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
    process.on("SIGHUP", stop);
  });
}

main().then(
  (code) => {
    process.exitCode = code;
    // Give pino's transport a moment to flush, then leave even if a timer lingers.
    setTimeout(() => process.exit(code), 200).unref();
  },
  (err) => {
    process.stderr.write(`chancery: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
