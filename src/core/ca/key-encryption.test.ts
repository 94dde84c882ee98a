import { createHash, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ChanceryError } from "../errors.ts";
import { createKeyEncryption, parseKek } from "./key-encryption.ts";

const kek = Buffer.from("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", "hex");
const secret = Buffer.from("-----BEGIN PRIVATE KEY----- pretend this is a CA key");

function failure(action: () => unknown): ChanceryError {
  try {
    action();
  } catch (err) {
    expect(err).toBeInstanceOf(ChanceryError);
    return err as ChanceryError;
  }
  throw new Error("expected a ChanceryError");
}

/** The message and detail of an error must never carry key material or the sealed plaintext. */
function expectNoSecrets(err: ChanceryError): void {
  const text = `${err.message} ${JSON.stringify(err.detail ?? {})}`;
  for (const needle of [kek.toString("hex"), kek.toString("base64"), secret.toString("utf8"), secret.toString("hex")]) {
    expect(text).not.toContain(needle);
  }
}

describe("createKeyEncryption", () => {
  it("round-trips a key under the same KEK and associated data", () => {
    const sealer = createKeyEncryption(kek);
    const sealed = sealer.seal(secret, "ca:0190f5c2");
    expect(sealer.open(sealed, "ca:0190f5c2").equals(secret)).toBe(true);
    // A second instance over the same KEK (another replica, a restart) opens it too.
    expect(createKeyEncryption(Buffer.from(kek)).open(sealed, "ca:0190f5c2").equals(secret)).toBe(true);
  });

  it("writes version 1, the KEK id, a 12-byte IV, the ciphertext and a 16-byte tag", () => {
    const sealer = createKeyEncryption(kek);
    const sealed = sealer.seal(secret, "ca:1");
    expect(sealed.length).toBe(1 + 8 + 12 + secret.length + 16);
    expect(sealed[0]).toBe(1);
    const expectedId = createHash("sha256")
      .update("chancery/kek-id/v1")
      .update(kek)
      .digest()
      .subarray(0, 8)
      .toString("hex");
    expect(sealer.kekId).toBe(expectedId);
    expect(sealed.subarray(1, 9).toString("hex")).toBe(expectedId);
    // The plaintext does not appear in the blob.
    expect(sealed.includes(secret.subarray(0, 16))).toBe(false);
  });

  it("uses a fresh IV each time, so equal keys seal differently", () => {
    const sealer = createKeyEncryption(kek);
    const a = sealer.seal(secret, "ca:1");
    const b = sealer.seal(secret, "ca:1");
    expect(a.subarray(9, 21).equals(b.subarray(9, 21))).toBe(false);
    expect(a.equals(b)).toBe(false);
  });

  it("round-trips an empty plaintext and a large one", () => {
    const sealer = createKeyEncryption(kek);
    expect(sealer.open(sealer.seal(Buffer.alloc(0), "x"), "x").length).toBe(0);
    const big = randomBytes(10_000);
    expect(sealer.open(sealer.seal(big, "x"), "x").equals(big)).toBe(true);
  });

  it("reports a different KEK as failed_precondition, not as tampering", () => {
    const sealed = createKeyEncryption(kek).seal(secret, "ca:1");
    const other = createKeyEncryption(randomBytes(32));
    const err = failure(() => other.open(sealed, "ca:1"));
    expect(err.code).toBe("failed_precondition");
    expect(err.message).toBe("this key was sealed under a different key-encryption key than the one configured");
    expect(err.detail).toEqual({ sealedKekId: createKeyEncryption(kek).kekId, configuredKekId: other.kekId });
    expectNoSecrets(err);
  });

  it("refuses to open under different associated data (a sealed key copied to another CA's row)", () => {
    const sealer = createKeyEncryption(kek);
    const err = failure(() => sealer.open(sealer.seal(secret, "ca:1"), "ca:2"));
    expect(err.code).toBe("internal");
    expect(err.message).toMatch(/failed its integrity check/);
    expectNoSecrets(err);
  });

  it("detects a flipped bit anywhere in IV, ciphertext or tag", () => {
    const sealer = createKeyEncryption(kek);
    const sealed = sealer.seal(secret, "ca:1");
    for (const offset of [9, 20, 21, 21 + Math.floor(secret.length / 2), sealed.length - 1]) {
      const tampered = Buffer.from(sealed);
      tampered[offset]! ^= 0x01;
      const err = failure(() => sealer.open(tampered, "ca:1"));
      expect(err.code).toBe("internal");
      expect(err.message).toMatch(/failed its integrity check/);
      expectNoSecrets(err);
    }
  });

  it("reports a changed KEK id byte as a different KEK, and a changed version byte as an unknown format", () => {
    const sealer = createKeyEncryption(kek);
    const sealed = sealer.seal(secret, "ca:1");
    const otherId = Buffer.from(sealed);
    otherId[3]! ^= 0xff;
    expect(failure(() => sealer.open(otherId, "ca:1")).code).toBe("failed_precondition");
    const otherVersion = Buffer.from(sealed);
    otherVersion[0] = 2;
    const err = failure(() => sealer.open(otherVersion, "ca:1"));
    expect(err.code).toBe("internal");
    expect(err.message).toBe("sealed key has unknown format version 2");
  });

  it("refuses truncated blobs", () => {
    const sealer = createKeyEncryption(kek);
    const sealed = sealer.seal(secret, "ca:1");
    const short = failure(() => sealer.open(sealed.subarray(0, 20), "ca:1"));
    expect(short.code).toBe("internal");
    expect(short.message).toBe("sealed key is truncated: 20 bytes, at least 37 expected");
    // Cut inside the ciphertext: long enough to parse, but the tag no longer matches.
    const cut = failure(() => sealer.open(sealed.subarray(0, sealed.length - 5), "ca:1"));
    expect(cut.code).toBe("internal");
    expect(failure(() => sealer.open(Buffer.alloc(0), "ca:1")).code).toBe("internal");
  });

  it("opens a blob that sits inside a larger buffer (as a database driver may hand it over)", () => {
    const sealer = createKeyEncryption(kek);
    const sealed = sealer.seal(secret, "ca:1");
    const pool = Buffer.concat([Buffer.alloc(7, 0xaa), sealed, Buffer.alloc(5, 0xbb)]);
    expect(sealer.open(pool.subarray(7, 7 + sealed.length), "ca:1").equals(secret)).toBe(true);
  });

  it("requires a 32-byte KEK and a non-empty owner", () => {
    expect(failure(() => createKeyEncryption(Buffer.alloc(16, 1))).message).toBe(
      "key-encryption key must be exactly 32 bytes, got 16",
    );
    const sealer = createKeyEncryption(kek);
    expect(failure(() => sealer.seal(secret, "")).code).toBe("invalid_argument");
  });

  it("is not affected when the caller wipes its KEK buffer afterwards", () => {
    const copy = Buffer.from(kek);
    const sealer = createKeyEncryption(copy);
    copy.fill(0);
    expect(createKeyEncryption(kek).open(sealer.seal(secret, "a"), "a").equals(secret)).toBe(true);
  });
});

describe("parseKek", () => {
  it("accepts 64 hex digits, either case, with surrounding whitespace", () => {
    expect(parseKek(kek.toString("hex")).equals(kek)).toBe(true);
    expect(parseKek(`  ${kek.toString("hex").toUpperCase()}\n`).equals(kek)).toBe(true);
  });

  it("accepts base64 and base64url, padded or not", () => {
    const key = Buffer.from("fbff".repeat(16), "hex");
    expect(parseKek(key.toString("base64")).equals(key)).toBe(true);
    expect(parseKek(key.toString("base64").replace(/=+$/, "")).equals(key)).toBe(true);
    expect(parseKek(key.toString("base64url")).equals(key)).toBe(true);
  });

  it("names the problem with a wrong length without echoing the key", () => {
    const short = randomBytes(16).toString("base64");
    const err = failure(() => parseKek(short));
    expect(err.code).toBe("invalid_argument");
    expect(err.message).toBe("key-encryption key must be exactly 32 bytes; the base64 given decodes to 16 bytes");
    expect(err.message).not.toContain(short);
    // 62 hex digits are not hex of 32 bytes; read as base64 they are not 32 bytes either.
    expect(failure(() => parseKek("ab".repeat(31))).message).toMatch(
      /decodes to 46 bytes \(or 31 bytes if meant as hex\)/,
    );
  });

  it("refuses text that is neither hex nor base64, and empty text", () => {
    expect(failure(() => parseKek("correct horse battery staple")).message).toMatch(
      /neither hex nor base64 \(28 characters\)/,
    );
    expect(failure(() => parseKek("   ")).message).toMatch(/empty/);
  });

  it("refuses an all-zero KEK", () => {
    expect(failure(() => parseKek("0".repeat(64))).message).toMatch(/all zero bytes/);
  });
});
