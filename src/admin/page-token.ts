import { ChanceryError } from "../core/errors.ts";

/**
 * Opaque AIP-158 page tokens: base64url JSON of a position, bound to the
 * list it came from, so a token from one list is refused by another rather
 * than silently paging something else.
 */
export function encodePageToken(list: string, position: bigint | number): string {
  return Buffer.from(JSON.stringify({ l: list, p: position.toString() })).toString("base64url");
}

/** The position a token of `list` carries; invalid_argument for anything else. */
export function decodePageToken(list: string, token: string): bigint {
  try {
    const parsed = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as { l?: unknown; p?: unknown };
    if (parsed.l === list && typeof parsed.p === "string" && /^\d{1,19}$/.test(parsed.p)) return BigInt(parsed.p);
  } catch {
    // fall through to the refusal
  }
  throw new ChanceryError("invalid_argument", "page_token is not a token this list returned");
}
