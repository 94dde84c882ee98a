import { randomBytes, randomUUID } from "node:crypto";
import { sql } from "slonik";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startBootstrappedCore, stopTestCore, type TestCore } from "../../../test/support/bootstrapped-core.ts";
import { refusal } from "../../../test/support/refusal.ts";
import type { TestDatabase } from "../../../test/support/test-database.ts";
import { findSealedHmacKey } from "../../store/acme-eab-key-store.ts";
import type { Clock } from "../clock.ts";
import type { AcmeDirectory } from "./acme-types.ts";
import { eabSealBinding } from "./eab-key-service.ts";

const admin = { actor: "user:admin", sourceIp: "192.0.2.1" };

describe("ACME external account binding keys", () => {
  let db: TestDatabase;
  let core: TestCore;
  let directory: AcmeDirectory;
  let other: AcmeDirectory;
  // A clock the test moves, to expire keys.
  let offsetMs = 0;
  const clock: Clock = { now: () => new Date(Date.now() + offsetMs) };

  /** An ACME account row, as the ACME front end writes it before binding the key. */
  async function insertAccount(db2: TestDatabase, directoryId: string): Promise<string> {
    const id = randomUUID();
    await db2.pool.query(sql.unsafe`
      INSERT INTO acme_accounts (id, directory_id, jwk, jwk_thumbprint, status, created_at, updated_at)
      VALUES (${id}, ${directoryId}, '{"kty":"EC"}'::jsonb, ${randomBytes(16).toString("base64url")}, 'valid',
        now(), now())`);
    return id;
  }

  beforeAll(async () => {
    const started = await startBootstrappedCore({ maxConnections: 10, clock });
    ({ db, core } = started);
    const issuing = started.issuing;
    const make = (name: string) =>
      core.acmeDirectories.create({ name, caId: issuing.id, allowedProfiles: ["tls-server"] }, admin);
    directory = await make("eab-main");
    other = await make("eab-other");
  });
  afterAll(() => stopTestCore(db, core));

  it("makes a key shown once, stored sealed under the KEK bound to its id", async () => {
    const made = await core.acmeEabKeys.create(directory.id, { label: "web-01" }, admin);
    expect(made.keyId).toMatch(/^[A-Za-z0-9_-]{22,}$/);
    const hmacKey = Buffer.from(made.hmacKey, "base64url");
    expect(hmacKey).toHaveLength(32);
    expect(made.hmacKey).not.toMatch(/[=+/]/);
    expect(made.key).toMatchObject({
      keyId: made.keyId,
      directoryId: directory.id,
      label: "web-01",
      createdBy: "user:admin",
      expiresAt: null,
      accountId: null,
      revokedAt: null,
    });

    const stored = await findSealedHmacKey(db.pool, made.keyId);
    expect(stored).not.toBeNull();
    expect(stored!.includes(hmacKey)).toBe(false);
    expect(core.keyEncryption.open(stored!, eabSealBinding(made.keyId))).toEqual(hmacKey);
    // Bound to the key id: the blob does not open as another key's.
    expect(() => core.keyEncryption.open(stored!, eabSealBinding("AAAAAAAAAAAAAAAAAAAAAA"))).toThrow(/integrity/);

    expect(await core.acmeEabKeys.hmacKeyForBinding(directory.id, made.keyId)).toEqual(hmacKey);
    const [event] = await core.audit.find(
      { target: `acme-eab:${made.keyId}` },
      { order: "oldest", cursor: undefined, limit: 10 },
    );
    expect(event).toMatchObject({ action: "acme.eab.create", actor: "user:admin" });
    expect(JSON.stringify(event?.details)).not.toContain(made.hmacKey);
  });

  it("gives no key for an unknown, foreign, revoked, expired or bound key", async () => {
    const keys = core.acmeEabKeys;
    expect(await keys.hmacKeyForBinding(directory.id, "unknownunknownunknown1")).toBeNull();
    expect(await keys.hmacKeyForBinding(directory.id, "not a key id")).toBeNull();

    const foreign = await keys.create(other.id, {}, admin);
    expect(await keys.hmacKeyForBinding(directory.id, foreign.keyId)).toBeNull();
    expect(await keys.hmacKeyForBinding(other.id, foreign.keyId)).not.toBeNull();

    const revoked = await keys.create(directory.id, {}, admin);
    const after = await keys.revoke(directory.id, revoked.keyId, admin);
    expect(after.revokedAt).toBeInstanceOf(Date);
    expect(await keys.hmacKeyForBinding(directory.id, revoked.keyId)).toBeNull();
    // Revoking again changes nothing and is not audited twice.
    expect(await keys.revoke(directory.id, revoked.keyId, admin)).toEqual(after);
    const revocations = await core.audit.find(
      { target: `acme-eab:${revoked.keyId}`, action: "acme.eab.revoke" },
      { order: "oldest", cursor: undefined, limit: 10 },
    );
    expect(revocations).toHaveLength(1);
    expect(await keys.bind(db.pool, revoked.keyId, await insertAccount(db, directory.id))).toBe(false);

    const expiring = await keys.create(directory.id, { expiresAt: new Date(clock.now().getTime() + 60_000) }, admin);
    expect(await keys.hmacKeyForBinding(directory.id, expiring.keyId)).not.toBeNull();
    offsetMs = 120_000;
    try {
      expect(await keys.hmacKeyForBinding(directory.id, expiring.keyId)).toBeNull();
      expect(await keys.bind(db.pool, expiring.keyId, await insertAccount(db, directory.id))).toBe(false);
    } finally {
      offsetMs = 0;
    }

    const bound = await keys.create(directory.id, {}, admin);
    const account = await insertAccount(db, directory.id);
    expect(await keys.bind(db.pool, bound.keyId, account)).toBe(true);
    expect(await keys.hmacKeyForBinding(directory.id, bound.keyId)).toBeNull();
    expect(await keys.get(directory.id, bound.keyId)).toMatchObject({ accountId: account, boundAt: expect.any(Date) });
    const refused = await refusal(keys.revoke(directory.id, bound.keyId, admin));
    expect(refused).toMatchObject({ code: "failed_precondition" });

    // Another directory's key is not found through this one.
    expect((await refusal(keys.revoke(directory.id, foreign.keyId, admin))).code).toBe("not_found");
    expect((await refusal(keys.get(directory.id, foreign.keyId))).code).toBe("not_found");
  });

  it("binds a key to exactly one of several accounts racing for it", async () => {
    const made = await core.acmeEabKeys.create(directory.id, { label: "race" }, admin);
    const accounts = await Promise.all([1, 2, 3, 4].map(() => insertAccount(db, directory.id)));
    const results = await Promise.all(
      accounts.map((account) =>
        db.pool.transaction(async (tx) => {
          // As the account creation does: check, then bind in its transaction.
          const ok = await core.acmeEabKeys.bind(tx, made.keyId, account);
          return { account, ok };
        }),
      ),
    );
    const winners = results.filter((r) => r.ok);
    expect(winners).toHaveLength(1);
    expect((await core.acmeEabKeys.get(directory.id, made.keyId)).accountId).toBe(winners[0]!.account);
  });

  it("validates input, lists in pages without secrets, and refuses unknown directories", async () => {
    const keys = core.acmeEabKeys;
    expect((await refusal(keys.create(directory.id, { label: "x".repeat(201) }, admin))).code).toBe("invalid_argument");
    expect((await refusal(keys.create(directory.id, { label: "bad\nlabel" }, admin))).code).toBe("invalid_argument");
    expect((await refusal(keys.create(directory.id, { expiresAt: new Date(Date.now() - 1000) }, admin))).code).toBe(
      "invalid_argument",
    );
    expect((await refusal(keys.create(randomUUID(), {}, admin))).code).toBe("not_found");
    expect((await refusal(keys.list(randomUUID()))).code).toBe("not_found");

    const fresh = await core.acmeDirectories.create(
      { name: "eab-paged", caId: directory.caId, allowedProfiles: ["tls-server"] },
      admin,
    );
    const made: string[] = [];
    // A millisecond apart at least, so creation order is list order.
    for (let i = 0; i < 5; i++) {
      offsetMs = i * 10;
      made.push((await keys.create(fresh.id, { label: `k${i}` }, admin)).keyId);
    }
    offsetMs = 0;
    const first = await keys.list(fresh.id, { pageSize: 2 });
    const second = await keys.list(fresh.id, { pageSize: 2, pageToken: first.nextPageToken });
    const third = await keys.list(fresh.id, { pageSize: 2, pageToken: second.nextPageToken });
    expect(third.nextPageToken).toBe("");
    const listed = [...first.keys, ...second.keys, ...third.keys];
    expect(listed.map((k) => k.label)).toEqual(["k0", "k1", "k2", "k3", "k4"]);
    expect(new Set(listed.map((k) => k.keyId))).toEqual(new Set(made));
    for (const key of listed) expect(Object.keys(key)).not.toContain("hmacKey");
    expect((await refusal(keys.list(fresh.id, { pageToken: "garbage" }))).code).toBe("invalid_argument");
  });
});
