import { sql } from "slonik";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestCore } from "../../test/support/test-core.ts";
import { createTestDatabase, type TestDatabase } from "../../test/support/test-database.ts";
import { openssl } from "./x509/testing/openssl.ts";

describe("bootstrapPki", () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase({ maxConnections: 10 });
  });
  afterAll(async () => db?.drop());

  it("creates one root, one issuing CA and the default profiles even when three replicas start at once", async () => {
    const replicas = [createTestCore(db)];
    // All replicas share a KEK, as real replicas do.
    const shared = createTestCore(db, { kek: replicas[0]!.kek });
    const third = createTestCore(db, { kek: replicas[0]!.kek });
    const results = await Promise.all([replicas[0]!.bootstrap(), shared.bootstrap(), third.bootstrap()]);
    expect(results.filter((r) => r.created)).toHaveLength(1);
    const ids = new Set(results.map((r) => r.issuing?.id));
    expect(ids.size).toBe(1);

    const cas = await db.pool.any(
      sql.unsafe`SELECT name, kind, key_algorithm FROM certificate_authorities ORDER BY name`,
    );
    expect(cas).toEqual([
      { name: "issuing", kind: "intermediate", key_algorithm: "ecdsa-p256" },
      { name: "root", kind: "root", key_algorithm: "ecdsa-p256" },
    ]);
    const profiles = await db.pool.anyFirst(sql.unsafe`SELECT name FROM profiles ORDER BY name`);
    expect(profiles).toEqual(["device", "tls-client", "tls-server"]);

    const issuing = results[0]!.issuing!;
    const text = openssl(["x509", "-inform", "DER", "-noout", "-text"], issuing.certificateDer!).stdout;
    expect(text).toContain("ASN1 OID: prime256v1");
    expect(text).toContain("CA:TRUE, pathlen:0");
    expect(text).toContain("Subject: O = Chancery Test, CN = Test Issuing CA");
    for (const replica of replicas) await replica.committer.close();
    await shared.committer.close();
    await third.committer.close();
  });
});
