import { createCipheriv, createDecipheriv, createHash, createSecretKey, randomBytes } from "node:crypto";
import { ChanceryError } from "../errors.ts";

/**
 * Seals CA private keys at rest (DESIGN rule 10: CA keys are never stored in
 * plaintext) with AES-256-GCM (NIST SP 800-38D) under a 32-byte
 * key-encryption key (KEK) that lives outside the database.
 *
 * Sealed format, version 1:
 *
 *   offset  0  1 byte   version (1)
 *   offset  1  8 bytes  KEK id: SHA-256("chancery/kek-id/v1" || KEK)[0..8]
 *   offset  9  12 bytes random IV (SP 800-38D §8.2.2 random construction)
 *   offset 21  n bytes  ciphertext
 *   then       16 bytes GCM tag
 *
 * The GCM additional authenticated data is the 9-byte header followed by
 * the caller's associatedData (UTF-8), so neither the header nor the owner
 * binding can be changed without the tag failing. The header has a fixed
 * length, so the concatenation is unambiguous.
 */
export interface KeyEncryption {
  /** Hex of the 8-byte KEK id; safe to log and to store beside sealed keys. */
  readonly kekId: string;
  /**
   * Encrypts `plaintext`, bound to `associatedData` (for example the CA id):
   * the blob only opens with the same string, so a sealed key copied into
   * another row does not open there.
   */
  seal(plaintext: Uint8Array, associatedData: string): Buffer;
  open(sealed: Uint8Array, associatedData: string): Buffer;
}

const formatVersion = 1;
const kekIdLength = 8;
const ivLength = 12;
const tagLength = 16;
const headerLength = 1 + kekIdLength;
const minimumSealedLength = headerLength + ivLength + tagLength;
const kekLength = 32;
/** Domain separation: the id hash must never equal a hash of the KEK made for another purpose. */
const kekIdDomain = Buffer.from("chancery/kek-id/v1", "utf8");

export function createKeyEncryption(kek: Uint8Array): KeyEncryption {
  if (!(kek instanceof Uint8Array) || kek.length !== kekLength) {
    throw new ChanceryError(
      "invalid_argument",
      `key-encryption key must be exactly ${kekLength} bytes, got ${kek instanceof Uint8Array ? kek.length : typeof kek}`,
    );
  }
  const kekBytes = Buffer.from(kek);
  const kekIdBytes = createHash("sha256").update(kekIdDomain).update(kekBytes).digest().subarray(0, kekIdLength);
  // A KeyObject keeps the key in native memory, out of reach of heap snapshots and accidental logging.
  const key = createSecretKey(kekBytes);
  kekBytes.fill(0);
  const kekId = kekIdBytes.toString("hex");

  return {
    kekId,
    seal(plaintext, associatedData) {
      requireAssociatedData(associatedData);
      const header = Buffer.alloc(headerLength);
      header[0] = formatVersion;
      kekIdBytes.copy(header, 1);
      const iv = randomBytes(ivLength);
      const cipher = createCipheriv("aes-256-gcm", key, iv, { authTagLength: tagLength });
      cipher.setAAD(Buffer.concat([header, Buffer.from(associatedData, "utf8")]));
      const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
      return Buffer.concat([header, iv, ciphertext, cipher.getAuthTag()]);
    },
    open(sealed, associatedData) {
      requireAssociatedData(associatedData);
      if (!(sealed instanceof Uint8Array) || sealed.length < minimumSealedLength) {
        throw new ChanceryError(
          "internal",
          `sealed key is truncated: ${sealed instanceof Uint8Array ? sealed.length : 0} bytes, at least ${minimumSealedLength} expected`,
        );
      }
      const blob = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
      if (blob[0] !== formatVersion) {
        throw new ChanceryError("internal", `sealed key has unknown format version ${blob[0]}`);
      }
      const sealedKekId = blob.subarray(1, headerLength);
      if (!sealedKekId.equals(kekIdBytes)) {
        throw new ChanceryError(
          "failed_precondition",
          "this key was sealed under a different key-encryption key than the one configured",
          { detail: { sealedKekId: sealedKekId.toString("hex"), configuredKekId: kekId } },
        );
      }
      const iv = blob.subarray(headerLength, headerLength + ivLength);
      const ciphertext = blob.subarray(headerLength + ivLength, blob.length - tagLength);
      const tag = blob.subarray(blob.length - tagLength);
      const decipher = createDecipheriv("aes-256-gcm", key, iv, { authTagLength: tagLength });
      decipher.setAAD(Buffer.concat([blob.subarray(0, headerLength), Buffer.from(associatedData, "utf8")]));
      decipher.setAuthTag(tag);
      const plaintext = decipher.update(ciphertext);
      try {
        return Buffer.concat([plaintext, decipher.final()]);
      } catch (cause) {
        // GCM released no plaintext we should keep: wipe what update() produced before reporting.
        plaintext.fill(0);
        throw new ChanceryError(
          "internal",
          "sealed key failed its integrity check: it was altered, or it was sealed for a different owner",
          { cause, detail: { kekId, associatedData } },
        );
      }
    },
  };
}

function requireAssociatedData(associatedData: string): void {
  if (typeof associatedData !== "string" || associatedData.length === 0) {
    throw new ChanceryError("invalid_argument", "associatedData must name the owner of the sealed key");
  }
}

/**
 * Reads a KEK from configuration text: 64 hex digits, or base64 / base64url
 * (padding optional) of exactly 32 bytes. Surrounding whitespace is ignored.
 * Error messages describe the shape of the input, never its content.
 */
export function parseKek(text: string): Buffer {
  const trimmed = typeof text === "string" ? text.trim() : "";
  if (trimmed.length === 0) {
    throw new ChanceryError("invalid_argument", "key-encryption key is empty; expected 32 bytes as hex or base64");
  }
  let bytes: Buffer;
  if (/^[0-9a-fA-F]+$/.test(trimmed) && trimmed.length === kekLength * 2) {
    bytes = Buffer.from(trimmed, "hex");
  } else if (/^[A-Za-z0-9+/]+={0,2}$/.test(trimmed) || /^[A-Za-z0-9_-]+={0,2}$/.test(trimmed)) {
    bytes = Buffer.from(trimmed, trimmed.includes("-") || trimmed.includes("_") ? "base64url" : "base64");
    if (bytes.length !== kekLength) {
      const looksHex = /^[0-9a-fA-F]+$/.test(trimmed) && trimmed.length % 2 === 0;
      const hexHint = looksHex ? ` (or ${trimmed.length / 2} bytes if meant as hex)` : "";
      throw new ChanceryError(
        "invalid_argument",
        `key-encryption key must be exactly ${kekLength} bytes; the base64 given decodes to ${bytes.length} bytes${hexHint}`,
      );
    }
  } else {
    throw new ChanceryError(
      "invalid_argument",
      `key-encryption key is neither hex nor base64 (${trimmed.length} characters); expected 64 hex digits or base64 of 32 bytes`,
    );
  }
  if (bytes.every((b) => b === 0)) {
    throw new ChanceryError("invalid_argument", "key-encryption key is all zero bytes; generate a random one");
  }
  return bytes;
}
