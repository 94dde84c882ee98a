import { randomUUID } from "node:crypto";
import path from "node:path";
import pino from "pino";
import { sql } from "slonik";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { createTestDatabase, type TestDatabase } from "../../test/support/test-database.ts";
import { migrate, readMigrations } from "./migrate.ts";

/**
 * Migration 0021: SCEP's one-time challenges and EST's enrollment secrets
 * move into enrollment_secrets with their ids, hashes, bindings and states;
 * the old tables stay for older replicas until migration 0023 drops them.
 */
describe("migration 0021 enrollment_secrets", () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase({ empty: true });
  });
  afterAll(async () => db?.drop());

  it("copies every SCEP challenge and EST secret over as it was, and leaves the old tables for older replicas", async () => {
    const logger = pino({ level: "silent" });
    const migrations = await readMigrations(path.resolve("migrations"));
    await migrate(
      db.url,
      migrations.filter((m) => m.version < 21),
      logger,
    );
    const caId = randomUUID();
    const endpointId = randomUUID();
    const labelId = randomUUID();
    await db.pool.query(sql.unsafe`
      INSERT INTO certificate_authorities (id, name, kind, status, key_algorithm, sealed_private_key, public_key_spki,
        subject, subject_key_id)
      VALUES (${caId}, 'migration', 'intermediate', 'pending', 'ecdsa-p256', '\\x00', '\\x00', 'CN=migration', '\\x00')`);
    await db.pool.query(sql.unsafe`
      INSERT INTO scep_endpoints (id, name, ca_id, profile_name, challenge_mode, created_at, updated_at)
      VALUES (${endpointId}, 'mdm', ${caId}, 'device', 'dynamic', now(), now())`);
    await db.pool.query(sql.unsafe`
      INSERT INTO est_labels (id, name, ca_id, profile_name, auth_mode, created_at, updated_at)
      VALUES (${labelId}, 'routers', ${caId}, 'device', 'basic', now(), now())`);
    const challenges = [randomUUID(), randomUUID()];
    const secrets = [randomUUID(), randomUUID()];
    await db.pool.query(sql.unsafe`
      INSERT INTO scep_challenges (id, endpoint_id, challenge_hash, bound_subject, bound_sans, created_by, created_at,
        expires_at, used_at, used_transaction_id, revoked_at)
      VALUES
        (${challenges[0]!}, ${endpointId}, '\\x01', 'CN=device-1', '["dns:device-1.example"]', 'user:a',
          '2025-01-01T00:00:00Z', '2025-01-01T01:00:00Z', '2025-01-01T00:10:00Z', 'tx-1', NULL),
        (${challenges[1]!}, ${endpointId}, '\\x02', NULL, NULL, 'user:a',
          '2025-01-01T00:00:01Z', '2025-01-01T01:00:00Z', NULL, NULL, '2025-01-01T00:20:00Z')`);
    await db.pool.query(sql.unsafe`
      INSERT INTO est_enrollment_secrets (id, label_id, secret_hash, bound_subject, bound_sans, created_by, created_at,
        expires_at, used_at, used_by, revoked_at)
      VALUES
        (${secrets[0]!}, ${labelId}, '\\x03', NULL, '["ip:10.0.0.1"]', 'user:b',
          '2025-01-02T00:00:00Z', '2025-01-03T00:00:00Z', '2025-01-02T00:10:00Z', 'certificate:0a1b', NULL),
        (${secrets[1]!}, ${labelId}, '\\x04', 'CN=router', NULL, 'system',
          '2025-01-02T00:00:01Z', '2025-01-03T00:00:00Z', NULL, NULL, NULL)`);

    // 0021 alone: later migrations are not this test's business.
    expect(
      await migrate(
        db.url,
        migrations.filter((m) => m.version <= 21),
        logger,
      ),
    ).toEqual([21]);

    const rows = await db.pool.any(sql.type(
      z.object({
        id: z.string(),
        scep_endpoint_id: z.string().nullable(),
        est_label_id: z.string().nullable(),
        secret_hash: z.string(),
        bound_subject: z.string().nullable(),
        bound_sans: z.array(z.string()).nullable(),
        created_by: z.string(),
        used_by: z.string().nullable(),
        used: z.boolean(),
        revoked: z.boolean(),
      }),
    )`
      SELECT id, scep_endpoint_id, est_label_id, encode(secret_hash, 'hex') AS secret_hash, bound_subject, bound_sans,
        created_by, used_by, used_at IS NOT NULL AS used, revoked_at IS NOT NULL AS revoked
      FROM enrollment_secrets ORDER BY created_at, id`);
    expect(rows).toEqual([
      {
        id: challenges[0],
        scep_endpoint_id: endpointId,
        est_label_id: null,
        secret_hash: "01",
        bound_subject: "CN=device-1",
        bound_sans: ["dns:device-1.example"],
        created_by: "user:a",
        used_by: "tx-1",
        used: true,
        revoked: false,
      },
      {
        id: challenges[1],
        scep_endpoint_id: endpointId,
        est_label_id: null,
        secret_hash: "02",
        bound_subject: null,
        bound_sans: null,
        created_by: "user:a",
        used_by: null,
        used: false,
        revoked: true,
      },
      {
        id: secrets[0],
        scep_endpoint_id: null,
        est_label_id: labelId,
        secret_hash: "03",
        bound_subject: null,
        bound_sans: ["ip:10.0.0.1"],
        created_by: "user:b",
        used_by: "certificate:0a1b",
        used: true,
        revoked: false,
      },
      {
        id: secrets[1],
        scep_endpoint_id: null,
        est_label_id: labelId,
        secret_hash: "04",
        bound_subject: "CN=router",
        bound_sans: null,
        created_by: "system",
        used_by: null,
        used: false,
        revoked: false,
      },
    ]);
    // The old tables stay for replicas still running the code from before (DESIGN rule 8), unread by this code.
    const kept = await db.pool.oneFirst(sql.type(z.object({ kept: z.boolean() }))`
      SELECT to_regclass('scep_challenges') IS NOT NULL AND to_regclass('est_enrollment_secrets') IS NOT NULL AS kept`);
    expect(kept).toBe(true);

    // A secret belongs to exactly one scope; deleting the scope deletes its secrets.
    const insert = (endpoint: string | null, label: string | null) =>
      db.pool.query(sql.unsafe`
        INSERT INTO enrollment_secrets (id, scep_endpoint_id, est_label_id, secret_hash, created_by, created_at,
          expires_at)
        VALUES (${randomUUID()}, ${endpoint}, ${label}, ${`\\x${randomUUID().replaceAll("-", "")}`}, 'test', now(),
          now() + interval '1 hour')`);
    await expect(insert(endpointId, labelId)).rejects.toThrow(/check integrity constraint/);
    await expect(insert(null, null)).rejects.toThrow(/check integrity constraint/);
    await db.pool.query(sql.unsafe`DELETE FROM scep_endpoints WHERE id = ${endpointId}`);
    const left = await db.pool.anyFirst(sql.type(z.object({ id: z.string() }))`SELECT id FROM enrollment_secrets`);
    expect([...left].sort()).toEqual([...secrets].sort());

    // Migration 0023: once every replica runs code that reads only enrollment_secrets, the old tables go
    // and what was copied stays.
    expect(
      await migrate(
        db.url,
        migrations.filter((m) => m.version <= 23),
        logger,
      ),
    ).toEqual([22, 23]);
    const gone = await db.pool.oneFirst(sql.type(z.object({ gone: z.boolean() }))`
      SELECT to_regclass('scep_challenges') IS NULL AND to_regclass('est_enrollment_secrets') IS NULL AS gone`);
    expect(gone).toBe(true);
    const after = await db.pool.anyFirst(sql.type(z.object({ id: z.string() }))`SELECT id FROM enrollment_secrets`);
    expect([...after].sort()).toEqual([...secrets].sort());
  });
});
