import type { z } from "zod";
import { ChanceryError } from "./errors.ts";

/**
 * Page tokens of the core's keyset-paginated lists: the position after the
 * last item of a page as base64url JSON. Opaque to clients but not secret:
 * forging one only moves where the listing starts, and the schema bounds
 * what a token can say.
 */
export function encodePageCursor(cursor: object): string {
  return Buffer.from(JSON.stringify(cursor), "utf8").toString("base64url");
}

/** The cursor a token holds; invalid_argument for anything a list did not return. */
export function decodePageCursor<T>(token: string, schema: z.ZodType<T>): T {
  let parsed: z.SafeParseReturnType<unknown, T> | undefined;
  try {
    parsed = schema.safeParse(JSON.parse(Buffer.from(token, "base64url").toString("utf8")));
  } catch {
    parsed = undefined;
  }
  if (!parsed?.success) throw new ChanceryError("invalid_argument", "page_token is not one this list returned");
  return parsed.data;
}

/** AIP-158 page_size: 0 or unset is the default, more than the maximum is the maximum, negative is refused. */
export function pageSizeWithin(value: number | undefined, limits: { default: number; max: number }): number {
  if (value === undefined || value === 0) return limits.default;
  if (!Number.isInteger(value) || value < 0)
    throw new ChanceryError("invalid_argument", `page_size must be a whole number from 0 to ${limits.max}`);
  return Math.min(value, limits.max);
}

/**
 * One page of a keyset listing read with one row more than the page holds:
 * whether that row came back tells whether another page follows. Returns the
 * rows to show and the token after the last of them ("" on the last page).
 */
export function keysetPage<R>(
  rows: readonly R[],
  size: number,
  tokenAfter: (last: R) => string,
): { shown: R[]; nextPageToken: string } {
  const shown = rows.slice(0, size);
  const last = shown[shown.length - 1];
  return { shown, nextPageToken: rows.length > size && last !== undefined ? tokenAfter(last) : "" };
}
