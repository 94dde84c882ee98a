import { generateKeyPairSync, generateKeyPair as nodeGenerateKeyPair } from "node:crypto";
import { ChanceryError } from "../errors.ts";
import type { KeyAlgorithm } from "./key-algorithm.ts";

export interface GeneratedKeyPair {
  /** DER PKCS#8 PrivateKeyInfo (RFC 5208), unencrypted: seal it before it is stored. */
  privateKeyPkcs8: Buffer;
  /** DER SubjectPublicKeyInfo (RFC 5280 §4.1.2.7). */
  publicKeySpki: Buffer;
}

const publicKeyEncoding = { type: "spki", format: "der" } as const;
const privateKeyEncoding = { type: "pkcs8", format: "der" } as const;

/** RFC 8017 / CA/B Forum BR §6.1.6: the conventional exponent 2^16+1. */
const rsaPublicExponent = 0x10001;

/**
 * Generates a key pair on the calling thread. Cheap for EC and Ed25519; RSA
 * (4096 bits especially, seconds at times) blocks the event loop, so a server
 * that keeps answering requests meanwhile should use generateKeyPairAsync.
 */
export function generateKeyPair(algorithm: KeyAlgorithm): GeneratedKeyPair {
  switch (algorithm) {
    case "ecdsa-p256":
      return toPair(generateKeyPairSync("ec", { namedCurve: "P-256", publicKeyEncoding, privateKeyEncoding }));
    case "ecdsa-p384":
      return toPair(generateKeyPairSync("ec", { namedCurve: "P-384", publicKeyEncoding, privateKeyEncoding }));
    case "rsa-2048":
    case "rsa-3072":
    case "rsa-4096":
      return toPair(
        generateKeyPairSync("rsa", {
          modulusLength: rsaBits(algorithm),
          publicExponent: rsaPublicExponent,
          publicKeyEncoding,
          privateKeyEncoding,
        }),
      );
    case "ed25519":
      return toPair(generateKeyPairSync("ed25519", { publicKeyEncoding, privateKeyEncoding }));
    default:
      throw unknownAlgorithm(algorithm);
  }
}

/** Same as generateKeyPair, but the work runs on libuv's thread pool. */
export function generateKeyPairAsync(algorithm: KeyAlgorithm): Promise<GeneratedKeyPair> {
  return new Promise((resolve, reject) => {
    const done = (err: Error | null, publicKey: Buffer, privateKey: Buffer) => {
      if (err) reject(new ChanceryError("internal", `key generation failed for ${algorithm}`, { cause: err }));
      else resolve({ privateKeyPkcs8: privateKey, publicKeySpki: publicKey });
    };
    switch (algorithm) {
      case "ecdsa-p256":
        nodeGenerateKeyPair("ec", { namedCurve: "P-256", publicKeyEncoding, privateKeyEncoding }, done);
        return;
      case "ecdsa-p384":
        nodeGenerateKeyPair("ec", { namedCurve: "P-384", publicKeyEncoding, privateKeyEncoding }, done);
        return;
      case "rsa-2048":
      case "rsa-3072":
      case "rsa-4096":
        nodeGenerateKeyPair(
          "rsa",
          {
            modulusLength: rsaBits(algorithm),
            publicExponent: rsaPublicExponent,
            publicKeyEncoding,
            privateKeyEncoding,
          },
          done,
        );
        return;
      case "ed25519":
        nodeGenerateKeyPair("ed25519", { publicKeyEncoding, privateKeyEncoding }, done);
        return;
      default:
        reject(unknownAlgorithm(algorithm));
    }
  });
}

function rsaBits(algorithm: "rsa-2048" | "rsa-3072" | "rsa-4096"): number {
  return algorithm === "rsa-2048" ? 2048 : algorithm === "rsa-3072" ? 3072 : 4096;
}

function toPair(pair: { publicKey: Buffer; privateKey: Buffer }): GeneratedKeyPair {
  return { privateKeyPkcs8: pair.privateKey, publicKeySpki: pair.publicKey };
}

// Reached only when a caller bypasses the type (a string from config or the API that was never checked).
function unknownAlgorithm(algorithm: never): ChanceryError {
  return new ChanceryError("invalid_argument", `unknown key algorithm ${String(algorithm)}`);
}
