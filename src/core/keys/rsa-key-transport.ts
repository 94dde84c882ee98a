import { constants, type KeyObject, privateDecrypt, publicEncrypt } from "node:crypto";

/**
 * RSA key transport (RFC 8017: PKCS#1 v1.5, RSAES-OAEP) through node:crypto,
 * without the Error node builds for every call.
 *
 * The padding can only be given in an options object (`{ key, padding }`),
 * and Node 24 tells such an object from a KeyObject by calling a native
 * accessor that throws a TypeError for anything else (isKeyObject in
 * lib/internal/crypto/keys.js), then catching it. Capturing that error's
 * stack trace was most of the JavaScript cost of the call (publicEncrypt,
 * RSA-2048: 45 µs with it, 29 µs without). Both operations are synchronous,
 * so stack capture is off only while node:crypto runs; an error they throw
 * carries its message and code but no stack.
 */
export type KeyTransportPadding =
  | { readonly padding: "pkcs1" }
  | { readonly padding: "oaep"; readonly oaepHash: string; readonly oaepLabel?: Uint8Array };

export function rsaEncryptKey(publicKey: KeyObject, padding: KeyTransportPadding, key: Uint8Array): Buffer {
  return withoutStackTraces(() => publicEncrypt(options(publicKey, padding), key));
}

export function rsaDecryptKey(privateKey: KeyObject, padding: KeyTransportPadding, encryptedKey: Uint8Array): Buffer {
  return withoutStackTraces(() => privateDecrypt(options(privateKey, padding), encryptedKey));
}

function options(key: KeyObject, padding: KeyTransportPadding) {
  if (padding.padding === "pkcs1") return { key, padding: constants.RSA_PKCS1_PADDING };
  return {
    key,
    padding: constants.RSA_PKCS1_OAEP_PADDING,
    oaepHash: padding.oaepHash,
    ...(padding.oaepLabel && padding.oaepLabel.length > 0 ? { oaepLabel: padding.oaepLabel } : {}),
  };
}

function withoutStackTraces<T>(run: () => T): T {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return run();
  } finally {
    Error.stackTraceLimit = limit;
  }
}
