import { randomBytes } from "node:crypto";
import pino from "pino";
import { createAuditLog } from "../../src/core/audit/audit-log.ts";
import { bootstrapPki } from "../../src/core/bootstrap.ts";
import { createCaService } from "../../src/core/ca/ca-service.ts";
import { createKeyEncryption } from "../../src/core/ca/key-encryption.ts";
import { type Clock, systemClock } from "../../src/core/clock.ts";
import { createIssuanceCommitter } from "../../src/core/issuance/issuance-committer.ts";
import { createIssuanceService } from "../../src/core/issuance/issuance-service.ts";
import { buildCaUrls } from "../../src/core/profiles/ca-urls.ts";
import { createProfileService } from "../../src/core/profiles/profile-service.ts";
import type { TestDatabase } from "./test-database.ts";

export const testLogger = pino({ level: process.env["TEST_LOG_LEVEL"] ?? "silent" });

export const testBootstrapSettings = {
  organization: "Chancery Test",
  rootCommonName: "Test Root CA",
  intermediateCommonName: "Test Issuing CA",
  rootValidityDays: 3650,
  intermediateValidityDays: 1825,
};

/** The core wired as gateway.ts wires it, over a test database, without listeners. */
export function createTestCore(db: TestDatabase, options: { kek?: Buffer; clock?: Clock } = {}) {
  const clock = options.clock ?? systemClock;
  const kek = options.kek ?? randomBytes(32);
  const keyEncryption = createKeyEncryption(kek);
  const audit = createAuditLog({ pool: db.pool, clock });
  const urlsFor = (caId: string) => buildCaUrls("http://pki.test:8081", caId);
  const cas = createCaService({ pool: db.pool, audit, keyEncryption, clock, logger: testLogger, urlsFor });
  const profiles = createProfileService({ pool: db.pool, audit });
  const committer = createIssuanceCommitter({ pool: db.pool, audit, logger: testLogger });
  const issuance = createIssuanceService({
    pool: db.pool,
    cas,
    profiles,
    audit,
    committer,
    clock,
    logger: testLogger,
    urlsFor,
  });
  return {
    kek,
    keyEncryption,
    audit,
    cas,
    profiles,
    committer,
    issuance,
    bootstrap: () => bootstrapPki({ pool: db.pool, cas, profiles, settings: testBootstrapSettings }),
  };
}
