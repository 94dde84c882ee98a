import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import { sql } from "slonik";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../test/support/test-database.ts";
import { createAuditLog } from "../core/audit/audit-log.ts";
import { systemClock } from "../core/clock.ts";
import { createAuthenticator } from "../core/identity/authenticator.ts";
import { startEmbeddedPostgres } from "../store/embedded-postgres.ts";
import { createDatabasePool } from "../store/pool.ts";

const repoRoot = path.resolve(import.meta.dirname, "..", "..");
const node = path.join(repoRoot, "node_modules", ".bin", "node");

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI as an operator would, with only the environment given here (no inherited CHANCERY_*). */
function runCli(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(node, ["src/cli/bootstrap-admin.ts", ...args], {
      cwd: repoRoot,
      env: { PATH: process.env["PATH"] ?? "", HOME: process.env["HOME"] ?? "/tmp", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

const tokenLine = /^chancery_pat_[A-Za-z0-9_-]{49}$/m;

describe("bootstrap-admin CLI", () => {
  let db: TestDatabase;
  let dataDir: string;
  beforeAll(async () => {
    db = await createTestDatabase();
    dataDir = mkdtempSync(path.join(tmpdir(), "chancery-cli-"));
  });
  afterAll(async () => {
    await db?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("creates the first admin with API access, prints its token once, and refuses a second run", async () => {
    const env = { DATABASE_URL: db.url, CHANCERY_DATA_DIR: dataDir, CHANCERY_LOG_LEVEL: "warn" };
    const first = await runCli(["--username", "admin", "--display-name", "First Admin"], env);
    expect(first.stderr).toBe("");
    expect(first.code).toBe(0);
    const secret = tokenLine.exec(first.stdout)?.[0];
    expect(secret).toBeDefined();
    expect(first.stdout).toMatch(/Created admin user "admin" \(id [0-9a-f-]{36}\) with API access\./);
    expect(first.stdout).toMatch(/It will not be shown again/);
    // Printed once: exactly one occurrence, on the last line.
    expect(first.stdout.split(secret!).length).toBe(2);
    expect(first.stdout.trimEnd().split("\n").at(-1)).toBe(secret);

    const user = await db.pool.one(sql.unsafe`
      SELECT id, username, display_name, role, disabled, api_access FROM users WHERE username = 'admin'`);
    expect(user).toMatchObject({ display_name: "First Admin", role: "admin", disabled: false, api_access: true });
    const events = await db.pool.any(sql.unsafe`
      SELECT actor, action, details::text AS details FROM audit_events WHERE target = ${`user:${user["id"]}`}
      ORDER BY seq`);
    expect(events.map((e) => [e["actor"], e["action"]])).toEqual([
      ["bootstrap", "user.create"],
      ["bootstrap", "token.create"],
    ]);
    for (const e of events) expect(e["details"]).not.toContain(secret!.slice(19));

    // The printed token works.
    const audit = createAuditLog({ pool: db.pool, clock: systemClock });
    const auth = createAuthenticator({ pool: db.pool, clock: systemClock, audit });
    try {
      expect(await auth.authenticate(secret, "127.0.0.1")).toMatchObject({ username: "admin", role: "admin" });
    } finally {
      await auth.close();
    }

    const second = await runCli(["--username", "admin2"], env);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/^bootstrap-admin: an admin user already exists \(1\); bootstrap only creates/);
    expect(second.stdout).not.toMatch(/chancery_pat_/);
    expect(await db.pool.oneFirst(sql.unsafe`SELECT count(*)::int FROM users`)).toBe(1);
  });

  it("explains bad arguments and a bad username with exit codes 2 and 1", async () => {
    const env = { DATABASE_URL: db.url, CHANCERY_DATA_DIR: dataDir, CHANCERY_LOG_LEVEL: "warn" };
    const missing = await runCli([], env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--username is required/);
    const unknown = await runCli(["--username", "x", "--bogus"], env);
    expect(unknown.code).toBe(2);
    const badConfig = await runCli(["--username", "x"], { ...env, CHANCERY_LOG_LEVEL: "loud" });
    expect(badConfig.code).toBe(2);
    expect(badConfig.stderr).toMatch(/log\.level \(from CHANCERY_LOG_LEVEL\)/);
    const fresh = await createTestDatabase();
    try {
      const badName = await runCli(["--username", "Bad Name"], { ...env, DATABASE_URL: fresh.url });
      expect(badName.code).toBe(1);
      expect(badName.stderr).toMatch(/username "Bad Name" must be 1-64 characters/);
      expect(await fresh.pool.oneFirst(sql.unsafe`SELECT count(*)::int FROM users`)).toBe(0);
    } finally {
      await fresh.drop();
    }
  });

  it("uses the embedded Postgres of the data directory: through the running server's socket, or started and stopped", async () => {
    const embeddedDir = mkdtempSync(path.join(tmpdir(), "chancery-cli-pg-"));
    try {
      // A gateway's server, running: the CLI must connect to it, not start a second one.
      const server = await startEmbeddedPostgres({ dataDir: embeddedDir, logger: pino({ level: "silent" }) });
      let first: Run;
      try {
        first = await runCli(["--username", "root"], { CHANCERY_DATA_DIR: embeddedDir, CHANCERY_LOG_LEVEL: "warn" });
        const pool = await createDatabasePool(server.connectionUri, { maxConnections: 2, statementTimeoutMs: 5_000 });
        try {
          expect(await pool.oneFirst(sql.unsafe`SELECT role FROM users WHERE username = 'root'`)).toBe("admin");
        } finally {
          await pool.end();
        }
      } finally {
        await server.stop();
      }
      expect(first.stderr).toBe("");
      expect(first.code).toBe(0);
      expect(first.stdout).toMatch(tokenLine);

      // No server running: the CLI starts it, finds the admin, refuses, and stops it again.
      const second = await runCli(["--username", "root2"], {
        CHANCERY_DATA_DIR: embeddedDir,
        CHANCERY_LOG_LEVEL: "warn",
      });
      expect(second.code).toBe(1);
      expect(second.stderr).toMatch(/an admin user already exists/);
      // Stopped: a new start on the same directory works (a leftover server would hold its lock).
      const again = await startEmbeddedPostgres({ dataDir: embeddedDir, logger: pino({ level: "silent" }) });
      await again.stop();
    } finally {
      rmSync(embeddedDir, { recursive: true, force: true });
    }
  }, 180_000);
});
