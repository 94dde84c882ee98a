import { existsSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import pino from "pino";
import type { Config } from "../config/config-schema.ts";
import { ConfigError, loadConfig } from "../config/load-config.ts";
import { createAuditLog } from "../core/audit/audit-log.ts";
import { systemClock } from "../core/clock.ts";
import { isChanceryError } from "../core/errors.ts";
import { bootstrapAdmin } from "../core/identity/bootstrap-admin.ts";
import { createTokenService } from "../core/identity/token-service.ts";
import { createUserService } from "../core/identity/user-service.ts";
import { loggerOptions } from "../ops/logger.ts";
import { runningEmbeddedPostgresUri, startEmbeddedPostgres } from "../store/embedded-postgres.ts";
import { migrate, readMigrations } from "../store/migrate.ts";
import { createDatabasePool } from "../store/pool.ts";

const usage = `usage: node src/cli/bootstrap-admin.ts --username NAME [--display-name TEXT] [--email ADDRESS] [--config FILE]

Creates the first admin user of a Chancery database, turns its API access on
and prints its personal access token once. Refused when an admin exists.
The config is read as the gateway reads it (--config, CHANCERY_CONFIG or
./chancery.yaml, then CHANCERY_* and DATABASE_URL overrides).
`;

const migrationsDir = path.resolve(import.meta.dirname, "..", "..", "migrations");

/**
 * `node src/cli/bootstrap-admin.ts --username admin`: the local way to the
 * first admin, run by whoever holds the server's config and data directory.
 * Exit status: 0 created, 1 refused or failed, 2 bad arguments or config.
 * The token goes to stdout once (its own last line); logs go to stderr.
 */
async function main(): Promise<number> {
  let values: { username?: string; "display-name"?: string; email?: string; config?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      options: {
        username: { type: "string", short: "u" },
        "display-name": { type: "string" },
        email: { type: "string" },
        config: { type: "string", short: "c" },
        help: { type: "boolean", short: "h" },
      },
      allowPositionals: false,
    }));
  } catch (err) {
    process.stderr.write(`bootstrap-admin: ${(err as Error).message}\n${usage}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(usage);
    return 0;
  }
  if (!values.username) {
    process.stderr.write(`bootstrap-admin: --username is required\n${usage}`);
    return 2;
  }

  // The same file lookup as src/main.ts.
  const file =
    values.config ?? process.env["CHANCERY_CONFIG"] ?? (existsSync("chancery.yaml") ? "chancery.yaml" : undefined);
  let config: Config;
  try {
    config = loadConfig({ file });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`bootstrap-admin: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  // stderr, synchronously: stdout carries the token and nothing else of note.
  const logger = pino(loggerOptions(config.log), pino.destination({ dest: 2, sync: true }));

  const database = await openDatabase(config, logger);
  try {
    const applied = await migrate(database.uri, await readMigrations(migrationsDir), logger);
    if (applied.length > 0) logger.info({ applied }, "database migrated");
    const pool = await createDatabasePool(database.uri, {
      maxConnections: 2,
      statementTimeoutMs: config.database.statementTimeoutMs,
      preparedStatements: config.database.preparedStatements,
    });
    try {
      const audit = createAuditLog({ pool, clock: systemClock });
      const users = createUserService({ pool, audit, clock: systemClock });
      const tokens = createTokenService({ pool, audit, clock: systemClock });
      const { user, token } = await bootstrapAdmin(
        { pool, users, tokens },
        { username: values.username, displayName: values["display-name"], email: values.email },
      );
      process.stdout.write(
        `Created admin user "${user.username}" (id ${user.id}) with API access.\n` +
          `Personal access token ${token.token.prefix}... follows. It will not be shown again: store it now.\n` +
          `${token.secret}\n`,
      );
      return 0;
    } catch (err) {
      if (isChanceryError(err)) {
        process.stderr.write(`bootstrap-admin: ${err.message}\n`);
        return 1;
      }
      throw err;
    } finally {
      await pool.end();
    }
  } finally {
    await database.stop();
  }
}

/**
 * database.url when set; otherwise the embedded Postgres of dataDir: through
 * the socket of the running gateway's server if there is one, else started
 * here for the duration of the command.
 */
async function openDatabase(config: Config, logger: pino.Logger): Promise<{ uri: string; stop(): Promise<void> }> {
  if (config.database.url) return { uri: config.database.url, stop: async () => {} };
  const dataDir = path.resolve(config.dataDir);
  const running = await runningEmbeddedPostgresUri(dataDir);
  if (running) {
    logger.info({ dataDir }, "using the running embedded PostgreSQL");
    return { uri: running, stop: async () => {} };
  }
  const embedded = await startEmbeddedPostgres({ dataDir, logger });
  return { uri: embedded.connectionUri, stop: () => embedded.stop() };
}

main().then(
  (code) => {
    process.exitCode = code;
    // Leave even if a pool timer lingers.
    setTimeout(() => process.exit(code), 200).unref();
  },
  (err) => {
    process.stderr.write(`bootstrap-admin: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
