import { createPublicKey, createSecretKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ChanceryError } from "../errors.ts";
import { keyAlgorithmOf } from "./key-algorithm-of.ts";

function spki(key: KeyObject): Buffer {
  return (key.type === "public" ? key : createPublicKey(key)).export({ type: "spki", format: "der" });
}

function refusal(key: KeyObject | Uint8Array): ChanceryError {
  try {
    keyAlgorithmOf(key);
  } catch (err) {
    expect(err).toBeInstanceOf(ChanceryError);
    expect((err as ChanceryError).code).toBe("invalid_argument");
    return err as ChanceryError;
  }
  throw new Error("expected keyAlgorithmOf to refuse the key");
}

describe("keyAlgorithmOf", () => {
  const accepted: [string, KeyObject, string][] = [
    ["P-256", generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey, "ecdsa-p256"],
    ["P-384", generateKeyPairSync("ec", { namedCurve: "P-384" }).privateKey, "ecdsa-p384"],
    ["RSA 2048", generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey, "rsa-2048"],
    ["RSA 3072", generateKeyPairSync("rsa", { modulusLength: 3072 }).privateKey, "rsa-3072"],
    ["Ed25519", generateKeyPairSync("ed25519").privateKey, "ed25519"],
  ];
  for (const [name, privateKey, expected] of accepted) {
    it(`names a ${name} key from its private key, public key and SPKI`, () => {
      expect(keyAlgorithmOf(privateKey)).toBe(expected);
      expect(keyAlgorithmOf(createPublicKey(privateKey))).toBe(expected);
      expect(keyAlgorithmOf(spki(privateKey))).toBe(expected);
    });
  }

  it("names an RSA 4096 key from its SPKI", () => {
    const { publicKey } = generateKeyPairSync("rsa", { modulusLength: 4096 });
    expect(keyAlgorithmOf(spki(publicKey))).toBe("rsa-4096");
  });

  it("refuses P-521, naming the curve", () => {
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-521" });
    expect(refusal(privateKey).message).toBe(
      "EC key on curve P-521 cannot be used as a CA key (supported curves: P-256, P-384)",
    );
    expect(refusal(spki(privateKey)).message).toContain("P-521");
  });

  it("refuses other named curves by their OpenSSL name", () => {
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "secp256k1" });
    expect(refusal(privateKey).message).toContain("curve secp256k1");
  });

  it("refuses Ed448", () => {
    expect(refusal(generateKeyPairSync("ed448").privateKey).message).toMatch(/^Ed448 keys cannot be used as CA keys/);
  });

  it("refuses RSA sizes other than 2048/3072/4096, naming the size", () => {
    expect(refusal(generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey).message).toBe(
      "RSA key of 1024 bits cannot be used as a CA key (supported sizes: 2048, 3072, 4096)",
    );
    expect(refusal(generateKeyPairSync("rsa", { modulusLength: 2560 }).publicKey).message).toContain("2560 bits");
  });

  it("refuses an RSA key with an even public exponent", () => {
    // OpenSSL will not generate one, but a crafted SPKI can carry it: rebuild one through JWK with e = 65538.
    const jwk = generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey.export({ format: "jwk" });
    const even = createPublicKey({
      key: { ...jwk, e: Buffer.from([0x01, 0x00, 0x02]).toString("base64url") },
      format: "jwk",
    });
    expect(refusal(even).message).toBe("RSA key has an invalid public exponent 65538");
  });

  it("refuses RSA-PSS keys, which cannot make PKCS#1 v1.5 signatures", () => {
    const { privateKey } = generateKeyPairSync("rsa-pss", { modulusLength: 2048 });
    expect(refusal(privateKey).message).toMatch(/RSA-PSS/);
  });

  it("refuses key types that cannot sign", () => {
    expect(refusal(generateKeyPairSync("x25519").publicKey).message).toMatch(/^x25519 keys cannot be used as CA keys/);
    expect(refusal(createSecretKey(Buffer.alloc(32, 1))).message).toMatch(/secret \(symmetric\) key/);
  });

  it("refuses bytes that are not a SubjectPublicKeyInfo", () => {
    expect(refusal(Buffer.from("not a key")).message).toBe("public key is not a valid SubjectPublicKeyInfo");
  });
});
