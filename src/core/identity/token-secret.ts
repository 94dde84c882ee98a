import { createHash, randomBytes } from "node:crypto";
import { crc32 } from "node:zlib";

/**
 * Personal access token secrets, and enrollment codes (token-enrollment.ts),
 * which share the format with a prefix of their own.
 *
 * Format: a fixed prefix ("chancery_pat_" or "chancery_enr_") +
 * base64url(32 random bytes) (43 characters) + base64url(CRC-32 of
 * everything before it, 4 bytes big-endian) (6 characters): 62 characters,
 * no padding, no separator (the lengths are fixed). The fixed prefix lets
 * secret scanners and people recognise a leaked token and tell a code from
 * a token; the checksum covers the prefix too, so neither passes for the
 * other, and it catches a truncated or mistyped secret before any database
 * lookup, so junk in an Authorization header costs no query. The checksum
 * is not a secret and adds no security: anyone can compute it.
 *
 * Only SHA-256 of the whole secret is stored, and lookup is by that hash.
 * A fast hash is the right tool here: the secret holds 256 random bits, so
 * no amount of guessing speed makes a preimage search feasible. bcrypt,
 * scrypt and argon2 are slow on purpose to protect low-entropy human
 * passwords; for a random token they would add nothing but tens of
 * milliseconds of CPU to every API call (a denial-of-service lever), and
 * their per-hash salt would rule out finding the row by its hash.
 */
export const tokenSecretPrefix = "chancery_pat_";
/** One-time codes that make a user's first token (token-enrollment.ts). */
export const enrollmentCodePrefix = "chancery_enr_";

const randomChars = 43;
const checksumChars = 6;
/** How many characters of the random part the visible prefix shows (36 of its 256 bits). */
const visibleChars = 6;

export interface TokenSecret {
  /** The whole secret: shown to its owner once, never stored, logged or audited. */
  readonly secret: string;
  /** The fixed prefix + the first 6 characters of the random part; safe to show and store. */
  readonly prefix: string;
  /** SHA-256 of `secret`, what the database keeps. */
  readonly hash: Buffer;
}

interface SecretFormat {
  generate(): TokenSecret;
  /**
   * The hash and visible prefix of a well-formed secret, or undefined when
   * `text` is not one (wrong prefix, shape or checksum): such a secret cannot
   * exist, so the caller need not look it up.
   */
  parse(text: string): { hash: Buffer; prefix: string } | undefined;
}

function secretFormat(fixedPrefix: string): SecretFormat {
  const pattern = new RegExp(`^${fixedPrefix}[A-Za-z0-9_-]{${randomChars + checksumChars}}$`);
  const visible = (secret: string) => secret.slice(0, fixedPrefix.length + visibleChars);
  return {
    generate() {
      const body = `${fixedPrefix}${randomBytes(32).toString("base64url")}`;
      const secret = `${body}${checksum(body)}`;
      return { secret, prefix: visible(secret), hash: hashTokenSecret(secret) };
    },
    parse(text) {
      if (!pattern.test(text)) return undefined;
      const body = text.slice(0, fixedPrefix.length + randomChars);
      if (text.slice(body.length) !== checksum(body)) return undefined;
      // Exactly 32 bytes in canonical base64url (no stray bits in the last character).
      const random = body.slice(fixedPrefix.length);
      if (Buffer.from(random, "base64url").toString("base64url") !== random) return undefined;
      return { hash: hashTokenSecret(text), prefix: visible(text) };
    },
  };
}

const tokens = secretFormat(tokenSecretPrefix);
const enrollmentCodes = secretFormat(enrollmentCodePrefix);

export function generateTokenSecret(): TokenSecret {
  return tokens.generate();
}

/** See SecretFormat.parse. */
export function parseTokenSecret(text: string): { hash: Buffer; prefix: string } | undefined {
  return tokens.parse(text);
}

export function generateEnrollmentCode(): TokenSecret {
  return enrollmentCodes.generate();
}

/** See SecretFormat.parse. */
export function parseEnrollmentCode(text: string): { hash: Buffer; prefix: string } | undefined {
  return enrollmentCodes.parse(text);
}

export function hashTokenSecret(secret: string): Buffer {
  return createHash("sha256").update(secret, "utf8").digest();
}

function checksum(body: string): string {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(crc32(body) >>> 0);
  return out.toString("base64url");
}
