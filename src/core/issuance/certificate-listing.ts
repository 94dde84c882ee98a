import { createHash } from "node:crypto";
import type { CommonQueryMethods } from "slonik";
import { z } from "zod";
import { type CertificateQuery, findCertificateViews, type NotAfterBound } from "../../store/certificate-store.ts";
import { ChanceryError } from "../errors.ts";
import { keysetPage } from "../page-cursor.ts";
import { uuidPattern } from "../uuid-pattern.ts";
import { type CertificateRecord, type CertificateState, toCertificateRecord } from "./certificate-record.ts";

export type { NotAfterBound };

/** Which certificates a listing returns; every condition given must hold. */
export interface CertificateFilter {
  /** Issued by any of these CAs; an empty list matches nothing (an operator with no CA). */
  readonly caIds?: readonly string[] | undefined;
  readonly profileName?: string | undefined;
  readonly state?: CertificateState | undefined;
  readonly notAfter?: readonly NotAfterBound[] | undefined;
  /** Some SAN value contains this, case-insensitively. */
  readonly sanContains?: string | undefined;
  readonly requester?: string | undefined;
}

export interface CertificatePage {
  readonly certificates: CertificateRecord[];
  /** Opaque; empty on the last page. */
  readonly nextPageToken: string;
}

const maxPageSize = 1000;

/**
 * One page of certificates, newest first, keyset-paginated on (issued_at,
 * id). The page token carries the last row's position and a digest of the
 * filter, so a token is refused with any other filter (AIP-158) instead of
 * silently paging a different list.
 */
export async function listCertificates(
  db: CommonQueryMethods,
  filter: CertificateFilter,
  page: { pageSize: number; pageToken?: string | undefined },
  now: Date,
): Promise<CertificatePage> {
  if (!Number.isInteger(page.pageSize) || page.pageSize < 1 || page.pageSize > maxPageSize)
    throw new ChanceryError("invalid_argument", `page size must be 1-${maxPageSize}`);
  for (const id of filter.caIds ?? [])
    if (!uuidPattern.test(id)) throw new ChanceryError("invalid_argument", `"${id}" is not a CA id`);
  const digest = filterDigest(filter);
  const cursor = page.pageToken ? decodePageToken(page.pageToken, digest) : null;
  // One row more than asked tells whether another page follows.
  const rows = await findCertificateViews(db, toQuery(filter, now), cursor, page.pageSize + 1);
  const { shown, nextPageToken } = keysetPage(rows, page.pageSize, (last) =>
    encodePageToken({ t: last.cursor_time, i: last.id, f: digest }),
  );
  return { certificates: shown.map((row) => toCertificateRecord(row, now)), nextPageToken };
}

function toQuery(filter: CertificateFilter, now: Date): CertificateQuery {
  const notAfter = [...(filter.notAfter ?? [])];
  let status: CertificateQuery["status"];
  // The state is derived from the clock, as CertificateRecord.state is.
  if (filter.state === "revoked") status = "revoked";
  else if (filter.state === "valid") {
    status = "valid";
    notAfter.push({ op: ">=", at: now });
  } else if (filter.state === "expired") {
    status = "valid";
    notAfter.push({ op: "<", at: now });
  }
  return {
    caIds: filter.caIds,
    profileName: filter.profileName,
    requester: filter.requester,
    status,
    notAfter,
    sanContains: filter.sanContains,
  };
}

/** Stable across equal filters written differently (CA order, bound order). */
function filterDigest(filter: CertificateFilter): string {
  const canonical = {
    c: filter.caIds ? [...filter.caIds].map((id) => id.toLowerCase()).sort() : null,
    p: filter.profileName ?? null,
    s: filter.state ?? null,
    n: (filter.notAfter ?? []).map((b) => `${b.op}${b.at.toISOString()}`).sort(),
    a: filter.sanContains?.toLowerCase() ?? null,
    r: filter.requester ?? null,
  };
  return createHash("sha256").update(JSON.stringify(canonical)).digest("base64url").slice(0, 16);
}

// The page token is the last row's sort key, base64url JSON. It is opaque to
// clients but not secret: forging one only moves where a listing the caller
// may already read starts (the caller's scope is applied on every page).
const pageCursor = z
  .object({
    t: z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/),
    i: z.string().regex(uuidPattern),
    f: z.string().regex(/^[A-Za-z0-9_-]{16}$/),
  })
  .strict();

type PageCursor = z.infer<typeof pageCursor>;

function encodePageToken(cursor: PageCursor): string {
  return Buffer.from(JSON.stringify(cursor), "utf8").toString("base64url");
}

function decodePageToken(token: string, digest: string): { issuedAt: string; id: string } {
  let parsed: z.SafeParseReturnType<unknown, PageCursor> | undefined;
  try {
    parsed = pageCursor.safeParse(JSON.parse(Buffer.from(token, "base64url").toString("utf8")));
  } catch {
    parsed = undefined;
  }
  if (!parsed?.success) throw new ChanceryError("invalid_argument", "page_token is not one this list returned");
  if (parsed.data.f !== digest)
    throw new ChanceryError("invalid_argument", "page_token was returned for a different filter");
  return { issuedAt: parsed.data.t, id: parsed.data.i };
}
