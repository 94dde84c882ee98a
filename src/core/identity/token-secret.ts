import { createHash, randomBytes } from "node:crypto";
import { crc32 } from "node:zlib";

/**
 * Personal access token secrets.
 *
 * Format: "chancery_pat_" + base64url(32 random bytes) (43 characters) +
 * base64url(CRC-32 of everything before it, 4 bytes big-endian)
 * (6 characters): 62 characters, no padding, no separator (the lengths are
 * fixed). The fixed prefix lets secret scanners and people recognise a
 * leaked token; the checksum catches a truncated or mistyped token before
 * any database lookup, so junk in an Authorization header costs no query.
 * The checksum is not a secret and adds no security: anyone can compute it.
 *
 * Only SHA-256 of the whole token is stored, and lookup is by that hash.
 * A fast hash is the right tool here: the secret holds 256 random bits, so
 * no amount of guessing speed makes a preimage search feasible. bcrypt,
 * scrypt and argon2 are slow on purpose to protect low-entropy human
 * passwords; for a random token they would add nothing but tens of
 * milliseconds of CPU to every API call (a denial-of-service lever), and
 * their per-hash salt would rule out finding the row by its hash.
 */
export const tokenSecretPrefix = "chancery_pat_";

const randomChars = 43;
const checksumChars = 6;
/** How many characters of the random part the visible prefix shows (36 of its 256 bits). */
const visibleChars = 6;
const secretPattern = new RegExp(`^${tokenSecretPrefix}[A-Za-z0-9_-]{${randomChars + checksumChars}}$`);

export interface TokenSecret {
  /** The whole token: shown to its owner once, never stored, logged or audited. */
  readonly secret: string;
  /** "chancery_pat_" + the first 6 characters of the random part; safe to show and store. */
  readonly prefix: string;
  /** SHA-256 of `secret`, what the database keeps. */
  readonly hash: Buffer;
}

export function generateTokenSecret(): TokenSecret {
  const body = `${tokenSecretPrefix}${randomBytes(32).toString("base64url")}`;
  const secret = `${body}${checksum(body)}`;
  return { secret, prefix: visiblePrefix(secret), hash: hashTokenSecret(secret) };
}

/**
 * The hash and visible prefix of a well-formed token, or undefined when
 * `text` is not one (wrong shape or checksum): such a token cannot exist,
 * so the caller need not look it up.
 */
export function parseTokenSecret(text: string): { hash: Buffer; prefix: string } | undefined {
  if (!secretPattern.test(text)) return undefined;
  const body = text.slice(0, tokenSecretPrefix.length + randomChars);
  if (text.slice(body.length) !== checksum(body)) return undefined;
  // Exactly 32 bytes in canonical base64url (no stray bits in the last character).
  const random = body.slice(tokenSecretPrefix.length);
  if (Buffer.from(random, "base64url").toString("base64url") !== random) return undefined;
  return { hash: hashTokenSecret(text), prefix: visiblePrefix(text) };
}

export function hashTokenSecret(secret: string): Buffer {
  return createHash("sha256").update(secret, "utf8").digest();
}

function visiblePrefix(secret: string): string {
  return secret.slice(0, tokenSecretPrefix.length + visibleChars);
}

function checksum(body: string): string {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(crc32(body) >>> 0);
  return out.toString("base64url");
}
