import { generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { isChanceryError } from "../errors.ts";
import { bitString, derInteger, derNull, derOid, integerFromContent, sequence } from "./der-writer.ts";
import { oids } from "./oids.ts";
import { readSubjectPublicKeyInfo } from "./subject-public-key-info.ts";

/** An rsaEncryption SubjectPublicKeyInfo with the modulus INTEGER's content octets as given. */
const rsaSpki = (modulusContent: number[]) =>
  sequence([
    sequence([derOid(oids.rsaEncryption), derNull]),
    bitString(sequence([integerFromContent(Uint8Array.from(modulusContent)), derInteger(65537)])),
  ]);

describe("readSubjectPublicKeyInfo, RSA", () => {
  it.each([1024, 2047, 2048, 3072, 4096])("reads the size of a %i-bit modulus", (modulusLength) => {
    const spki = generateKeyPairSync("rsa", { modulusLength }).publicKey.export({ type: "spki", format: "der" });
    expect(readSubjectPublicKeyInfo(spki).key).toEqual({ type: "rsa", bits: modulusLength, publicExponent: 65537n });
  });

  it.each([
    [[0x01], 1],
    [[0x7f], 7],
    [[0x00, 0x80], 8],
    [[0x00, 0xff, 0x00], 16],
    [[0x01, 0x00, 0x00], 17],
  ])("counts the bits of modulus octets %j as %i", (octets, bits) => {
    expect(readSubjectPublicKeyInfo(rsaSpki(octets)).key).toMatchObject({ type: "rsa", bits });
  });

  it.each([[[0x00]], [[0x80]], [[0xff, 0x01]]])("refuses a modulus that is not positive (%j)", (octets) => {
    let refusal: unknown;
    try {
      readSubjectPublicKeyInfo(rsaSpki(octets));
    } catch (err) {
      refusal = err;
    }
    expect(isChanceryError(refusal, "invalid_argument")).toBe(true);
    expect((refusal as Error).message).toMatch(/must be positive/);
  });
});
