import { KeyObject } from "node:crypto";
import { ChanceryError } from "../errors.ts";
import type { KeyAlgorithm } from "./key-algorithm.ts";
import { publicKeyObject } from "./public-key-object.ts";

const rsaAlgorithms: Partial<Record<number, KeyAlgorithm>> = { 2048: "rsa-2048", 3072: "rsa-3072", 4096: "rsa-4096" };

/**
 * Names the KeyAlgorithm of a key a CA is about to sign with (a generated,
 * imported or stored CA key), and refuses every key we cannot use as one:
 * P-521, Ed448, RSA-PSS-only keys, RSA sizes other than 2048/3072/4096, and
 * key types that cannot sign at all (X25519, DH, ...).
 *
 * Accepts a private or public KeyObject, or a DER SubjectPublicKeyInfo.
 */
export function keyAlgorithmOf(key: KeyObject | Uint8Array): KeyAlgorithm {
  const keyObject = key instanceof KeyObject ? key : publicKeyFromSpki(key);
  if (keyObject.type === "secret") {
    throw new ChanceryError("invalid_argument", "expected an asymmetric key, got a secret (symmetric) key");
  }
  const details = keyObject.asymmetricKeyDetails ?? {};
  const type = keyObject.asymmetricKeyType;
  switch (type) {
    case "ec":
      // RFC 5480 §2.1.1.1: only named curves; OpenSSL reports them by its own names.
      if (details.namedCurve === "prime256v1") return "ecdsa-p256";
      if (details.namedCurve === "secp384r1") return "ecdsa-p384";
      throw new ChanceryError(
        "invalid_argument",
        `EC key on curve ${curveLabel(details.namedCurve)} cannot be used as a CA key (supported curves: P-256, P-384)`,
      );
    case "rsa": {
      const bits = details.modulusLength ?? 0;
      const algorithm = rsaAlgorithms[bits];
      if (algorithm === undefined) {
        throw new ChanceryError(
          "invalid_argument",
          `RSA key of ${bits} bits cannot be used as a CA key (supported sizes: 2048, 3072, 4096)`,
        );
      }
      // CA/Browser Forum Baseline Requirements §6.1.6: the public exponent is odd and at least 3.
      const e = details.publicExponent ?? 0n;
      if (e < 3n || e % 2n === 0n) {
        throw new ChanceryError("invalid_argument", `RSA key has an invalid public exponent ${e}`);
      }
      return algorithm;
    }
    case "ed25519":
      return "ed25519";
    case "rsa-pss":
      // An id-RSASSA-PSS key (RFC 4055 §1.2) may only make PSS signatures, but our RSA CAs sign with PKCS#1 v1.5.
      throw new ChanceryError(
        "invalid_argument",
        "RSA-PSS (id-RSASSA-PSS) keys cannot be used as CA keys; use an rsaEncryption RSA key",
      );
    case "ed448":
      throw new ChanceryError(
        "invalid_argument",
        "Ed448 keys cannot be used as CA keys (supported: P-256, P-384, RSA 2048/3072/4096, Ed25519)",
      );
    default:
      throw new ChanceryError(
        "invalid_argument",
        `${type ?? "unknown"} keys cannot be used as CA keys (supported: P-256, P-384, RSA 2048/3072/4096, Ed25519)`,
      );
  }
}

function publicKeyFromSpki(spkiDer: Uint8Array): KeyObject {
  try {
    return publicKeyObject(spkiDer);
  } catch (cause) {
    throw new ChanceryError("invalid_argument", "public key is not a valid SubjectPublicKeyInfo", { cause });
  }
}

const curveLabels: Record<string, string> = { secp521r1: "P-521", prime256v1: "P-256", secp384r1: "P-384" };

function curveLabel(namedCurve: string | undefined): string {
  if (namedCurve === undefined) return "(explicit parameters)";
  return curveLabels[namedCurve] ?? namedCurve;
}
