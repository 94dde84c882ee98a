import pg from "pg";
import type { CommonQueryMethods, DatabasePool } from "slonik";
import { parseCertificateFilter } from "../../../src/admin/certificate-filter.ts";
import { type CertificateFilter, listCertificates } from "../../../src/core/issuance/certificate-listing.ts";
import type { ShapeContext } from "./query-shapes.ts";
import { shapes } from "./query-shapes.ts";

/**
 * EXPLAIN (ANALYZE, BUFFERS) of the query each shape sends, as an admin
 * would send it (no scope narrowing). The SQL is the one the listing code
 * builds: a stand-in `db` catches the query token instead of running it.
 */
export async function explainShapes(
  pool: DatabasePool,
  connectionUri: string,
  ctx: ShapeContext,
  pageSize: number,
): Promise<string> {
  const client = new pg.Client({ connectionString: connectionUri, application_name: "bench-explain" });
  await client.connect();
  const out: string[] = [];
  try {
    for (const shape of shapes(ctx)) {
      const parsed = parseCertificateFilter(shape.filter);
      const filter: CertificateFilter = { ...parsed, caIds: parsed.caId ? [parsed.caId] : undefined };
      let pageToken: string | undefined;
      for (let p = 1; p < shape.page; p++)
        pageToken = (await listCertificates(pool, filter, { pageSize, pageToken }, new Date())).nextPageToken;
      let plan = "";
      const catcher = {
        async any(token: { sql: string; values: readonly unknown[] }) {
          // slonik numbers its placeholders $slonik_N until it sends the query; pg wants $N.
          const result = await client.query<{ "QUERY PLAN": string }>(
            `EXPLAIN (ANALYZE, BUFFERS) ${token.sql.replaceAll("$slonik_", "$")}`,
            token.values as unknown[],
          );
          plan = result.rows.map((r) => r["QUERY PLAN"]).join("\n");
          return [];
        },
      } as unknown as CommonQueryMethods;
      await listCertificates(catcher, filter, { pageSize, pageToken }, new Date());
      out.push(`-- ${shape.key}: ${shape.description}\n-- filter: ${shape.filter || "(none)"}\n${plan}\n`);
    }
  } finally {
    await client.end();
  }
  return out.join("\n");
}
