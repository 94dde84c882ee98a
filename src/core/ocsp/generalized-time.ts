import { ChanceryError } from "../errors.ts";
import { tags, tlv } from "../x509/der-writer.ts";

function pad(n: number, width: number): string {
  return String(n).padStart(width, "0");
}

/**
 * GeneralizedTime as RFC 6960 uses it for producedAt, thisUpdate, nextUpdate
 * and revocationTime (always GeneralizedTime, unlike certificate validity),
 * in the RFC 5280 §4.1.2.5.2 profile: Zulu, with seconds, no fractions.
 * Milliseconds are truncated, so the value never lies in the future of `date`.
 */
export function generalizedTime(date: Date): Uint8Array {
  const ms = date.getTime();
  if (!Number.isFinite(ms)) throw new ChanceryError("invalid_argument", "invalid date");
  const year = date.getUTCFullYear();
  if (year < 0 || year > 9999) throw new ChanceryError("invalid_argument", `year ${year} cannot be encoded`);
  const text =
    pad(year, 4) +
    pad(date.getUTCMonth() + 1, 2) +
    pad(date.getUTCDate(), 2) +
    pad(date.getUTCHours(), 2) +
    pad(date.getUTCMinutes(), 2) +
    pad(date.getUTCSeconds(), 2) +
    "Z";
  return tlv(tags.generalizedTime, Buffer.from(text, "latin1"));
}
