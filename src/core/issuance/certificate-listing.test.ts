import pg from "pg";
import { type CommonQueryMethods, sql } from "slonik";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestCore } from "../../../test/support/test-core.ts";
import { createTestDatabase, type TestDatabase } from "../../../test/support/test-database.ts";
import type { CertificateAuthority } from "../ca/certificate-authority.ts";
import { isChanceryError } from "../errors.ts";
import { type CertificateFilter, listCertificates } from "./certificate-listing.ts";

const bulk = 100_000;

interface PlanNode {
  "Node Type": string;
  "Index Name"?: string;
  "Scan Direction"?: string;
  "Actual Rows": number;
  "Rows Removed by Filter"?: number;
  Plans?: PlanNode[];
}

function nodes(plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(nodes)];
}

describe("certificate listing over 100k certificates", () => {
  let db: TestDatabase;
  let core: ReturnType<typeof createTestCore>;
  let issuing: CertificateAuthority;
  let root: CertificateAuthority;
  let explain: pg.Client;

  beforeAll(async () => {
    db = await createTestDatabase();
    core = createTestCore(db);
    const boot = await core.bootstrap();
    issuing = boot.issuing!;
    root = await core.cas.get(issuing.parentId!);
    const tlsServer = await core.profiles.get("tls-server");
    const device = await core.profiles.get("device");
    // Ten certificates share each issued_at (microsecond precision), so the id tie-break is exercised;
    // every third expires in the past, every seventh is revoked.
    await db.pool.query(sql.unsafe`
      INSERT INTO certificates (id, ca_id, profile_id, serial_hex, fingerprint_sha256, subject, sans, not_before,
        not_after, der, requester, source_protocol, status, revoked_at, revocation_reason, issued_at)
      SELECT gen_random_uuid(),
        CASE WHEN g % 2 = 0 THEN ${issuing.id}::uuid ELSE ${root.id}::uuid END,
        CASE WHEN g % 5 = 0 THEN ${device.id}::uuid ELSE ${tlsServer.id}::uuid END,
        'b' || lpad(to_hex(g), 15, '0'), 'fp' || g, 'CN=bulk' || g,
        jsonb_build_array(jsonb_build_object('type', 'dns', 'value', 'host' || g || '.bulk.example')),
        now() - interval '400 days',
        CASE WHEN g % 3 = 0 THEN now() - interval '1 day' ELSE now() + interval '30 days' END,
        '\\x00'::bytea, 'user:bulk' || (g % 10), 'acme',
        CASE WHEN g % 7 = 0 THEN 'revoked' ELSE 'valid' END,
        CASE WHEN g % 7 = 0 THEN now() ELSE NULL END,
        CASE WHEN g % 7 = 0 THEN 1 ELSE NULL END,
        timestamptz '2026-01-01 00:00:00.123456+00' + (g / 10) * interval '1.000001 seconds'
      FROM generate_series(1, ${bulk}) AS g`);
    await db.pool.query(sql.unsafe`ANALYZE certificates`);
    explain = new pg.Client({ connectionString: db.url });
    await explain.connect();
  }, 120_000);
  afterAll(async () => {
    await explain?.end();
    await core?.committer.close();
    await db?.drop();
  });

  /** The plan Postgres runs for one listing page, with actual row counts. */
  async function planOf(filter: CertificateFilter, pageToken?: string): Promise<PlanNode[]> {
    const queries: Array<{ sql: string; values: readonly unknown[] }> = [];
    const spy = {
      any: (query: { sql: string; values: readonly unknown[] }) => {
        queries.push(query);
        return db.pool.any(query as never);
      },
    } as unknown as CommonQueryMethods;
    await listCertificates(spy, filter, { pageSize: 100, pageToken }, new Date());
    // slonik numbers its placeholders $slonik_N until it sends the query; pg wants $N.
    const text = queries[0]!.sql.replace(/\$slonik_(\d+)/g, "$$$1");
    const result = await explain.query(`EXPLAIN (ANALYZE, FORMAT JSON) ${text}`, [...queries[0]!.values]);
    return nodes((result.rows[0]["QUERY PLAN"] as Array<{ Plan: PlanNode }>)[0]!.Plan);
  }

  it("pages through a filtered subset in (issued_at, id) order without repeats or gaps", async () => {
    const seen: string[] = [];
    let token: string | undefined;
    let last: { at: number; id: string } | undefined;
    do {
      const page = await core.issuance.list(
        { requester: "user:bulk3", caIds: [root.id] },
        { pageSize: 1000, pageToken: token },
      );
      for (const c of page.certificates) {
        const at = c.issuedAt.getTime();
        if (last) expect(at < last.at || (at === last.at && c.id < last.id)).toBe(true);
        last = { at, id: c.id };
        seen.push(c.serialHex);
      }
      token = page.nextPageToken || undefined;
    } while (token);
    // g % 10 = 3 (odd, so all under the root): 10,000 of them.
    expect(seen).toHaveLength(bulk / 10);
    expect(new Set(seen).size).toBe(seen.length);
  });

  it("derives states from the clock and filters on them", async () => {
    const expired = await core.issuance.list({ state: "expired", sanContains: "HOST33.bulk" }, { pageSize: 100 });
    // host33, host330..339, host3300..3399, host33000..33999: those with g % 3 = 0 and g % 7 != 0.
    expect(expired.certificates.length).toBeGreaterThan(0);
    for (const c of expired.certificates) {
      expect(c.state).toBe("expired");
      expect(c.sans[0]!.value).toContain("host33");
    }
    const revoked = await core.issuance.list({ state: "revoked", profileName: "device" }, { pageSize: 5 });
    expect(revoked.certificates.map((c) => [c.state, c.revocationReason, c.profileName])).toEqual(
      Array(5).fill(["revoked", "keyCompromise", "device"]),
    );
    const valid = await core.issuance.list({ state: "valid" }, { pageSize: 50 });
    expect(valid.certificates.every((c) => c.state === "valid" && c.notAfter.getTime() >= Date.now())).toBe(true);
  });

  it("refuses a page token with another filter, and CA ids that are not UUIDs", async () => {
    const page = await core.issuance.list({ requester: "user:bulk1" }, { pageSize: 10 });
    await expect(
      core.issuance.list({ requester: "user:bulk2" }, { pageSize: 10, pageToken: page.nextPageToken }),
    ).rejects.toSatisfy((err) => isChanceryError(err, "invalid_argument"));
    // The same filter written in another order is the same filter.
    const two = await core.issuance.list({ caIds: [issuing.id, root.id], requester: "user:bulk1" }, { pageSize: 10 });
    await expect(
      core.issuance.list(
        { caIds: [root.id, issuing.id], requester: "user:bulk1" },
        { pageSize: 10, pageToken: two.nextPageToken },
      ),
    ).resolves.toBeDefined();
    await expect(core.issuance.list({ caIds: ["x"] }, { pageSize: 10 })).rejects.toSatisfy((err) =>
      isChanceryError(err, "invalid_argument"),
    );
    expect((await core.issuance.list({ caIds: [] }, { pageSize: 10 })).certificates).toEqual([]);
  });

  it("reads a page, first or later, by a backward index scan that stops soon after the page: no sort, no full scan", async () => {
    const second = (await core.issuance.list({ profileName: "device" }, { pageSize: 100 })).nextPageToken;
    const cases: Array<[CertificateFilter, string | undefined]> = [
      [{}, undefined],
      [{ caIds: [issuing.id] }, undefined],
      [{ profileName: "device" }, second],
      [{ requester: "user:bulk7" }, undefined],
      [{ caIds: [root.id], state: "valid", sanContains: "bulk" }, undefined],
    ];
    for (const [filter, token] of cases) {
      const plan = await planOf(filter, token);
      const what = JSON.stringify(filter);
      expect(
        plan.map((n) => n["Node Type"]),
        what,
      ).not.toContain("Sort");
      expect(
        plan.map((n) => n["Node Type"]),
        what,
      ).not.toContain("Seq Scan");
      // Which index the planner picks depends on how selective the filter is; either way it walks
      // (issued_at, id) backwards and stops: a page of 100, the look-ahead row, and what filters skip.
      const scans = plan.filter((n) => n["Index Name"]?.startsWith("certificates_"));
      expect(scans, what).toHaveLength(1);
      expect(scans[0]!["Scan Direction"], what).toBe("Backward");
      expect(scans[0]!["Actual Rows"] + (scans[0]!["Rows Removed by Filter"] ?? 0), what).toBeLessThan(2_000);
    }
  });
});
