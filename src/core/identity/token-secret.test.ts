import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  enrollmentCodePrefix,
  generateEnrollmentCode,
  generateTokenSecret,
  parseEnrollmentCode,
  parseTokenSecret,
  tokenSecretPrefix,
} from "./token-secret.ts";

describe("token secrets", () => {
  it("are chancery_pat_ + 43 random characters + a 6-character checksum, stored as SHA-256", () => {
    const token = generateTokenSecret();
    expect(token.secret).toMatch(/^chancery_pat_[A-Za-z0-9_-]{49}$/);
    expect(token.prefix).toBe(token.secret.slice(0, tokenSecretPrefix.length + 6));
    expect(token.hash.equals(createHash("sha256").update(token.secret).digest())).toBe(true);
    expect(parseTokenSecret(token.secret)).toEqual({ hash: token.hash, prefix: token.prefix });
    expect(generateTokenSecret().secret).not.toBe(token.secret);
  });

  it("refuses any single-character typo, truncation or other shape without a lookup", () => {
    const { secret } = generateTokenSecret();
    for (let i = tokenSecretPrefix.length; i < secret.length; i++) {
      const typo = `${secret.slice(0, i)}${secret[i] === "A" ? "B" : "A"}${secret.slice(i + 1)}`;
      expect(parseTokenSecret(typo), `typo at ${i}`).toBeUndefined();
    }
    expect(parseTokenSecret(secret.slice(0, -1))).toBeUndefined();
    expect(parseTokenSecret(`${secret}A`)).toBeUndefined();
    expect(parseTokenSecret(secret.replace("chancery_pat_", "chancery_pak_"))).toBeUndefined();
    expect(parseTokenSecret("")).toBeUndefined();
    expect(parseTokenSecret(`Bearer ${secret}`)).toBeUndefined();
  });

  it("enrollment codes have their own prefix, and neither passes for the other", () => {
    const code = generateEnrollmentCode();
    expect(code.secret).toMatch(/^chancery_enr_[A-Za-z0-9_-]{49}$/);
    expect(code.prefix).toBe(code.secret.slice(0, enrollmentCodePrefix.length + 6));
    expect(parseEnrollmentCode(code.secret)).toEqual({ hash: code.hash, prefix: code.prefix });
    expect(parseTokenSecret(code.secret)).toBeUndefined();
    const token = generateTokenSecret();
    expect(parseEnrollmentCode(token.secret)).toBeUndefined();
    // The checksum covers the prefix: swapping it is caught, not just the pattern.
    expect(parseTokenSecret(code.secret.replace(enrollmentCodePrefix, tokenSecretPrefix))).toBeUndefined();
    expect(parseEnrollmentCode(token.secret.replace(tokenSecretPrefix, enrollmentCodePrefix))).toBeUndefined();
  });
});
