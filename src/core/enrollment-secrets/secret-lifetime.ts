import { ChanceryError } from "../errors.ts";

/**
 * The lifetimes a one-time enrollment secret may have, whichever protocol it
 * is for: a minute to 30 days. The same range bounds the default lifetime of
 * a SCEP endpoint's and an EST label's secrets (the CHECKs of migrations/0018
 * challenge_lifetime_seconds and 0019 secret_lifetime_seconds).
 */
export const minSecretLifetimeSeconds = 60;
export const maxSecretLifetimeSeconds = 2_592_000;

/** `seconds` when it is a whole number within the range; invalid_argument naming `field` otherwise. */
export function secretLifetimeWithin(field: string, seconds: number): number {
  if (!Number.isInteger(seconds) || seconds < minSecretLifetimeSeconds || seconds > maxSecretLifetimeSeconds)
    throw new ChanceryError(
      "invalid_argument",
      `${field}: must be a whole number from ${minSecretLifetimeSeconds} to ${maxSecretLifetimeSeconds}`,
    );
  return seconds;
}
