import { createPrivateKey, createPublicKey, sign, verify } from "node:crypto";
import { describe, expect, it } from "vitest";
import { isChanceryError } from "../errors.ts";
import { generateKeyPair, generateKeyPairAsync } from "./generate-key-pair.ts";
import { type KeyAlgorithm, keyAlgorithms } from "./key-algorithm.ts";
import { keyAlgorithmOf } from "./key-algorithm-of.ts";

const hashFor: Record<KeyAlgorithm, string | null> = {
  "ecdsa-p256": "sha256",
  "ecdsa-p384": "sha384",
  "rsa-2048": "sha256",
  "rsa-3072": "sha256",
  "rsa-4096": "sha256",
  ed25519: null,
};

function checkPair(algorithm: KeyAlgorithm, pair: { privateKeyPkcs8: Buffer; publicKeySpki: Buffer }): void {
  const privateKey = createPrivateKey({ key: pair.privateKeyPkcs8, format: "der", type: "pkcs8" });
  const publicKey = createPublicKey({ key: pair.publicKeySpki, format: "der", type: "spki" });
  expect(keyAlgorithmOf(privateKey)).toBe(algorithm);
  expect(keyAlgorithmOf(pair.publicKeySpki)).toBe(algorithm);
  // The two halves belong together: the public key derived from the private one is the SPKI returned.
  expect(createPublicKey(privateKey).export({ type: "spki", format: "der" }).equals(pair.publicKeySpki)).toBe(true);
  const data = Buffer.from("to be signed");
  expect(verify(hashFor[algorithm], data, publicKey, sign(hashFor[algorithm], data, privateKey))).toBe(true);
  if (algorithm.startsWith("rsa-")) {
    expect(privateKey.asymmetricKeyDetails?.publicExponent).toBe(65537n);
  }
}

describe("generateKeyPair", () => {
  for (const algorithm of keyAlgorithms) {
    it(`makes a working ${algorithm} pair as PKCS#8 and SPKI DER`, () => {
      checkPair(algorithm, generateKeyPair(algorithm));
    });
  }

  it("makes a different key every time", () => {
    expect(generateKeyPair("ed25519").publicKeySpki.equals(generateKeyPair("ed25519").publicKeySpki)).toBe(false);
  });

  it("refuses an algorithm name that slipped past the type", () => {
    expect(() => generateKeyPair("ecdsa-p521" as KeyAlgorithm)).toThrow(/unknown key algorithm ecdsa-p521/);
    try {
      generateKeyPair("dsa-1024" as KeyAlgorithm);
    } catch (err) {
      expect(isChanceryError(err, "invalid_argument")).toBe(true);
    }
  });
});

describe("generateKeyPairAsync", () => {
  for (const algorithm of keyAlgorithms) {
    it(`makes a working ${algorithm} pair off the event loop`, async () => {
      checkPair(algorithm, await generateKeyPairAsync(algorithm));
    });
  }

  it("rejects an unknown algorithm name", async () => {
    await expect(generateKeyPairAsync("ed448" as KeyAlgorithm)).rejects.toMatchObject({
      code: "invalid_argument",
      message: "unknown key algorithm ed448",
    });
  });
});
