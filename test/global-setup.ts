import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import { createPool, sql } from "slonik";
import type { TestProject } from "vitest/node";
import { withDatabase } from "../src/store/database-url.ts";
import { startEmbeddedPostgres } from "../src/store/embedded-postgres.ts";
import { migrate, readMigrations } from "../src/store/migrate.ts";

declare module "vitest" {
  export interface ProvidedContext {
    /** Admin connection URI of the test run's Postgres (database "chancery"). */
    databaseUrl: string;
    /** Name of a database with every migration applied, to clone per test file. */
    migratedTemplate: string;
  }
}

/**
 * One real Postgres for the whole test run: the same embedded server the
 * gateway uses by default (or TEST_DATABASE_URL if set), so tests need
 * nothing installed. Test files clone a migrated template database.
 */
export default async function setup(project: TestProject) {
  const logger = pino({ level: "warn" });
  let stop = async () => {};
  let url = process.env["TEST_DATABASE_URL"];
  let dataDir: string | undefined;
  if (!url) {
    dataDir = await mkdtemp(path.join(tmpdir(), "chancery-test-"));
    const db = await startEmbeddedPostgres({ dataDir, logger });
    url = db.connectionUri;
    stop = db.stop;
  }
  const template = `chancery_template_${process.pid}`;
  const admin = await createPool(url, { maximumPoolSize: 1 });
  await admin.query(sql.unsafe`DROP DATABASE IF EXISTS ${sql.identifier([template])}`);
  await admin.query(sql.unsafe`CREATE DATABASE ${sql.identifier([template])}`);
  await migrate(withDatabase(url, template), await readMigrations(path.resolve("migrations")), logger);
  project.provide("databaseUrl", url);
  project.provide("migratedTemplate", template);
  return async () => {
    await admin.end();
    await stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  };
}
