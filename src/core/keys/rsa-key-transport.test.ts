import { constants, generateKeyPairSync, privateDecrypt, publicEncrypt, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { rsaDecryptKey, rsaEncryptKey } from "./rsa-key-transport.ts";

const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const other = generateKeyPairSync("rsa", { modulusLength: 2048 });

describe("RSA key transport", () => {
  it("interoperates with node:crypto's own calls in PKCS#1 v1.5 and OAEP with a label", () => {
    const key = randomBytes(32);
    const pkcs1 = rsaEncryptKey(publicKey, { padding: "pkcs1" }, key);
    expect(privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_PADDING }, pkcs1)).toEqual(key);

    const label = Buffer.from("chancery");
    const oaep = publicEncrypt(
      { key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256", oaepLabel: label },
      key,
    );
    expect(rsaDecryptKey(privateKey, { padding: "oaep", oaepHash: "sha256", oaepLabel: label }, oaep)).toEqual(key);
    expect(() => rsaDecryptKey(privateKey, { padding: "oaep", oaepHash: "sha256" }, oaep)).toThrow();
  });

  it("restores stack traces after a call, also when node:crypto throws", () => {
    const before = Error.stackTraceLimit;
    rsaEncryptKey(publicKey, { padding: "pkcs1" }, randomBytes(16));
    expect(Error.stackTraceLimit).toBe(before);

    const sealed = rsaEncryptKey(other.publicKey, { padding: "oaep", oaepHash: "sha1" }, randomBytes(16));
    let thrown: unknown;
    try {
      rsaDecryptKey(privateKey, { padding: "oaep", oaepHash: "sha1" }, sealed);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(Error);
    expect((thrown as Error).message).not.toBe("");
    expect(Error.stackTraceLimit).toBe(before);
  });
});
