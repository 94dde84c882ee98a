import { randomBytes } from "node:crypto";
import pino from "pino";
import { bootstrapPki } from "../../src/core/bootstrap.ts";
import { createKeyEncryption } from "../../src/core/ca/key-encryption.ts";
import { type Clock, systemClock } from "../../src/core/clock.ts";
import { createCore } from "../../src/core/create-core.ts";
import type { TestDatabase } from "./test-database.ts";

export const testLogger = pino({ level: process.env["TEST_LOG_LEVEL"] ?? "silent" });

export const testBootstrapSettings = {
  organization: "Chancery Test",
  rootCommonName: "Test Root CA",
  intermediateCommonName: "Test Issuing CA",
  rootValidityDays: 3650,
  intermediateValidityDays: 1825,
};

/** The core wired as gateway.ts wires it (createCore), over a test database, without listeners. */
export function createTestCore(db: TestDatabase, options: { kek?: Buffer; clock?: Clock } = {}) {
  const kek = options.kek ?? randomBytes(32);
  const keyEncryption = createKeyEncryption(kek);
  const core = createCore({
    pool: db.pool,
    keyEncryption,
    clock: options.clock ?? systemClock,
    logger: testLogger,
    publicBaseUrl: "http://pki.test:8081",
  });
  return {
    ...core,
    kek,
    keyEncryption,
    bootstrap: () =>
      bootstrapPki({ pool: db.pool, cas: core.cas, profiles: core.profiles, settings: testBootstrapSettings }),
  };
}
