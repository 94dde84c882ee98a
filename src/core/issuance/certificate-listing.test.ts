import pg from "pg";
import { type CommonQueryMethods, SchemaValidationError, sql } from "slonik";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startBootstrappedCore, stopTestCore, type TestCore } from "../../../test/support/bootstrapped-core.ts";
import type { TestDatabase } from "../../../test/support/test-database.ts";
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
  let core: TestCore;
  let issuing: CertificateAuthority;
  let root: CertificateAuthority;
  let explain: pg.Client;

  beforeAll(async () => {
    ({ db, core, issuing, root } = await startBootstrappedCore());
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
    await stopTestCore(db, core);
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

  it("finds a SAN needle few certificates have through the trigram index, not by reading every row", async () => {
    const plan = await planOf({ sanContains: "HOST77777.bulk" });
    const trigram = plan.find((n) => n["Index Name"] === "certificates_san_search_trgm");
    expect(trigram?.["Node Type"]).toBe("Bitmap Index Scan");
    // host77777.bulk.example only: the index hands over candidates, not the table.
    expect(trigram!["Actual Rows"]).toBeLessThan(10);
    expect(plan.map((n) => n["Node Type"])).not.toContain("Seq Scan");
    const page = await core.issuance.list({ sanContains: "HOST77777.bulk" }, { pageSize: 10 });
    expect(page.certificates.map((c) => c.sans[0]!.value)).toEqual(["host77777.bulk.example"]);
  });

  it("keeps needles without three letters or digits in a row off the trigram index, which could not narrow them", async () => {
    // pg_trgm takes no trigram from "q." or "7.": a trigram index scan would read the whole index.
    for (const needle of ["q.", "7."]) {
      const plan = await planOf({ sanContains: needle });
      expect(
        plan.map((n) => n["Index Name"]),
        needle,
      ).not.toContain("certificates_san_search_trgm");
    }
    // A common short needle still ends after one page of the newest-first walk.
    const plan = await planOf({ sanContains: "7." });
    const scan = plan.find((n) => n["Index Name"] === "certificates_issued_at_id")!;
    expect(scan["Scan Direction"]).toBe("Backward");
    expect(scan["Actual Rows"] + (scan["Rows Removed by Filter"] ?? 0)).toBeLessThan(2_000);
  });

  describe("SAN contains: the needle is literal text, case-insensitive, within one SAN value", () => {
    const requester = "user:san-edge";
    const sans: string[][] = [
      ["100%.example"],
      ["1000.example"],
      ["a_b.example"],
      ["axb.example"],
      ["back\\slash.example"],
      ["backslash.example"],
      ["MixedCase.Example", "second.example"],
      ["first.example", "other.test"],
      ["x"],
    ];

    beforeAll(async () => {
      for (const [i, values] of sans.entries())
        await db.pool.query(sql.unsafe`
          INSERT INTO certificates (id, ca_id, profile_id, serial_hex, fingerprint_sha256, subject, sans, not_before,
            not_after, der, requester, source_protocol, issued_at)
          VALUES (gen_random_uuid(), ${issuing.id}, NULL, ${`edge${i}`}, ${`fp-edge${i}`}, 'CN=edge',
            ${JSON.stringify(values.map((value) => ({ type: "dns", value })))}::jsonb, now(),
            now() + interval '30 days', '\\x00'::bytea, ${requester}, 'admin', now())`);
    });

    /** The SAN lists of the edge certificates whose SANs contain `needle`. */
    async function matching(needle: string): Promise<string[][]> {
      const page = await listCertificates(db.pool, { requester, sanContains: needle }, { pageSize: 100 }, new Date());
      return page.certificates.map((c) => c.sans.map((s) => s.value)).sort();
    }

    // Needles with three letters or digits in a row go through LIKE and the trigram index, the
    // others through strpos: both must treat %, _ and \ as themselves.
    it.each([
      ["100%.ex", [["100%.example"]]],
      ["a_b.example", [["a_b.example"]]],
      ["back\\slash", [["back\\slash.example"]]],
      ["%", [["100%.example"]]],
      ["0%.", [["100%.example"]]],
      ["_", [["a_b.example"]]],
      ["a_b", [["a_b.example"]]],
      ["\\", [["back\\slash.example"]]],
      ["k\\s", [["back\\slash.example"]]],
      ["MIXEDCASE.example", [["MixedCase.Example", "second.example"]]],
      ["mixedcase.EXAMPLE", [["MixedCase.Example", "second.example"]]],
      ["q", []],
      ["x", [...sans].sort()],
      ["t.", [["first.example", "other.test"]]],
      ["xb", [["axb.example"]]],
    ])("%j matches exactly the SANs that contain it", async (needle, expected) => {
      // Against what each value says, lower-cased, in JavaScript: the same answer, index or not.
      const byHand = sans.filter((values) => values.some((v) => v.toLowerCase().includes(needle.toLowerCase())));
      expect(byHand.sort()).toEqual(expected);
      expect(await matching(needle)).toEqual(expected);
    });

    it("never matches across two SAN values of one certificate", async () => {
      expect(await matching("example\nsecond")).toEqual([]);
      expect(await matching("example second")).toEqual([]);
      expect(await matching("example.other")).toEqual([]);
      expect(await matching("first.example")).toEqual([["first.example", "other.test"]]);
    });
  });

  it("refuses a stored row that does not match its schema instead of passing it on", async () => {
    await db.pool.query(sql.unsafe`
      INSERT INTO certificates (id, ca_id, profile_id, serial_hex, fingerprint_sha256, subject, sans, not_before,
        not_after, der, requester, source_protocol, issued_at)
      VALUES (gen_random_uuid(), ${issuing.id}, NULL, 'broken', 'fp-broken', 'CN=broken',
        '[{"type": "dns", "value": 7}]'::jsonb, now(), now() + interval '1 day', '\\x00'::bytea, 'user:broken',
        'admin', now())`);
    try {
      await expect(
        listCertificates(db.pool, { requester: "user:broken" }, { pageSize: 10 }, new Date()),
      ).rejects.toBeInstanceOf(SchemaValidationError);
    } finally {
      await db.pool.query(sql.unsafe`DELETE FROM certificates WHERE serial_hex = 'broken'`);
    }
  });
});
