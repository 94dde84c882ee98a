import { generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { publicKeyObject } from "./public-key-object.ts";

const spkiOf = (type: "rsa" | "ec" | "ed25519"): Buffer => {
  const { publicKey } =
    type === "rsa"
      ? generateKeyPairSync("rsa", { modulusLength: 2048 })
      : type === "ec"
        ? generateKeyPairSync("ec", { namedCurve: "P-256" })
        : generateKeyPairSync("ed25519");
  return publicKey.export({ type: "spki", format: "der" });
};

describe("publicKeyObject", () => {
  it.each(["rsa", "ec", "ed25519"] as const)("makes the %s key the DER describes", (type) => {
    const spki = spkiOf(type);
    const key = publicKeyObject(spki);
    expect(key.type).toBe("public");
    expect(key.asymmetricKeyType).toBe(type);
    expect(Buffer.from(key.export({ type: "spki", format: "der" })).equals(spki)).toBe(true);
  });

  it("gives the same KeyObject for the same bytes in another buffer, and another for another key", () => {
    const spki = spkiOf("ec");
    const copy = new Uint8Array(spki);
    const inside = Buffer.concat([Buffer.from([1, 2, 3]), spki]).subarray(3);
    expect(publicKeyObject(copy)).toBe(publicKeyObject(spki));
    expect(publicKeyObject(inside)).toBe(publicKeyObject(spki));
    expect(publicKeyObject(spkiOf("ec"))).not.toBe(publicKeyObject(spki));
  });

  it("refuses bytes that are not a public key, and caches nothing for them", () => {
    expect(() => publicKeyObject(Buffer.from("not a key"))).toThrow();
    expect(() => publicKeyObject(new Uint8Array(0))).toThrow();
    expect(() => publicKeyObject(Buffer.from("not a key"))).toThrow();
  });

  it("keeps working past its bound (the oldest keys are made again when asked for)", () => {
    const first = spkiOf("ed25519");
    const key = publicKeyObject(first);
    for (let i = 0; i < 600; i++) publicKeyObject(spkiOf("ed25519"));
    const again = publicKeyObject(first);
    expect(again).not.toBe(key);
    expect(again.equals(key)).toBe(true);
  });
});
