import type { Duration } from "@bufbuild/protobuf/wkt";
import { ChanceryError } from "../core/errors.ts";

/**
 * Whole seconds of a Duration field of the admin API (a SCEP challenge
 * lifetime, an EST secret lifetime, an enrollment secret's ttl), or
 * undefined when unset, so the core applies its default. Fractions and
 * values past int32 are invalid_argument naming `field`; the core checks
 * the field's own range.
 */
export function wholeSeconds(value: Duration | undefined, field: string): number | undefined {
  if (!value) return undefined;
  if (value.nanos !== 0 || value.seconds <= 0n || value.seconds > 2_147_483_647n)
    throw new ChanceryError("invalid_argument", `${field} must be a positive whole number of seconds`);
  return Number(value.seconds);
}
