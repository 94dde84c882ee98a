import { createPublicKey, generateKeyPairSync, verify } from "node:crypto";
import { AsnConvert } from "@peculiar/asn1-schema";
import { AlgorithmIdentifier } from "@peculiar/asn1-x509";
import * as asn1js from "asn1js";
import { describe, expect, it } from "vitest";
import { ChanceryError } from "../errors.ts";
import { generateKeyPair } from "../keys/generate-key-pair.ts";
import { type KeyAlgorithm, keyAlgorithms } from "../keys/key-algorithm.ts";
import { createSoftwareSigner } from "./software-signer.ts";

const expected: Record<KeyAlgorithm, { oid: string; hash: string | null; nullParameters: boolean }> = {
  // RFC 5758 §3.2: ecdsa-with-SHA256 / SHA384, parameters absent.
  "ecdsa-p256": { oid: "1.2.840.10045.4.3.2", hash: "sha256", nullParameters: false },
  "ecdsa-p384": { oid: "1.2.840.10045.4.3.3", hash: "sha384", nullParameters: false },
  // RFC 4055 §5: sha256WithRSAEncryption, parameters NULL.
  "rsa-2048": { oid: "1.2.840.113549.1.1.11", hash: "sha256", nullParameters: true },
  "rsa-3072": { oid: "1.2.840.113549.1.1.11", hash: "sha256", nullParameters: true },
  "rsa-4096": { oid: "1.2.840.113549.1.1.11", hash: "sha256", nullParameters: true },
  // RFC 8410 §3: id-Ed25519, parameters absent.
  ed25519: { oid: "1.3.101.112", hash: null, nullParameters: false },
};

const tbs = Buffer.from("3082010a0201020304", "hex");

describe("createSoftwareSigner", () => {
  for (const algorithm of keyAlgorithms) {
    describe(algorithm, () => {
      const pair = generateKeyPair(algorithm);
      const signer = createSoftwareSigner(pair.privateKeyPkcs8);
      const publicKey = createPublicKey({ key: pair.publicKeySpki, format: "der", type: "spki" });

      it("knows its algorithm and public key", () => {
        expect(signer.algorithm).toBe(algorithm);
        expect(Buffer.from(signer.publicKeySpki).equals(pair.publicKeySpki)).toBe(true);
      });

      it("signs so that node:crypto verifies the signature", async () => {
        const signature = await signer.sign(tbs);
        expect(verify(expected[algorithm].hash, tbs, publicKey, signature)).toBe(true);
        expect(verify(expected[algorithm].hash, Buffer.from("other data"), publicKey, signature)).toBe(false);
      });

      it("signs verifiably both inline and on the thread pool", async () => {
        for (const threadPool of [false, true]) {
          const s = createSoftwareSigner(pair.privateKeyPkcs8, { threadPool });
          expect(verify(expected[algorithm].hash, tbs, publicKey, await s.sign(tbs))).toBe(true);
        }
      });

      it("gives the AlgorithmIdentifier of RFC 5758 / 4055 / 8410 as DER", () => {
        const parsed = AsnConvert.parse(signer.signatureAlgorithmDer, AlgorithmIdentifier);
        expect(parsed.algorithm).toBe(expected[algorithm].oid);
        // Cross-check with a second decoder, down to the presence of the parameters field.
        const decoded = asn1js.fromBER(Uint8Array.from(signer.signatureAlgorithmDer));
        expect(decoded.offset).toBe(signer.signatureAlgorithmDer.length);
        const fields = (decoded.result as asn1js.Sequence).valueBlock.value;
        expect((fields[0] as asn1js.ObjectIdentifier).valueBlock.toString()).toBe(expected[algorithm].oid);
        if (expected[algorithm].nullParameters) {
          expect(fields).toHaveLength(2);
          expect(fields[1]).toBeInstanceOf(asn1js.Null);
        } else {
          expect(fields).toHaveLength(1);
        }
      });
    });
  }

  it("makes DER ECDSA-Sig-Value signatures, not raw r||s (RFC 5758 §3.2)", async () => {
    const signer = createSoftwareSigner(generateKeyPair("ecdsa-p256").privateKeyPkcs8);
    const signature = await signer.sign(tbs);
    const decoded = asn1js.fromBER(Uint8Array.from(signature));
    expect(decoded.offset).toBe(signature.length);
    const [r, s] = (decoded.result as asn1js.Sequence).valueBlock.value;
    expect(r).toBeInstanceOf(asn1js.Integer);
    expect(s).toBeInstanceOf(asn1js.Integer);
  });

  it("makes 64-byte Ed25519 signatures", async () => {
    const signer = createSoftwareSigner(generateKeyPair("ed25519").privateKeyPkcs8);
    expect((await signer.sign(tbs)).length).toBe(64);
  });

  it("gives each signer its own copy of the AlgorithmIdentifier bytes", () => {
    const a = createSoftwareSigner(generateKeyPair("ecdsa-p256").privateKeyPkcs8);
    const b = createSoftwareSigner(generateKeyPair("ecdsa-p256").privateKeyPkcs8);
    (a.signatureAlgorithmDer as Uint8Array)[0] = 0;
    expect(b.signatureAlgorithmDer[0]).toBe(0x30);
  });

  it("refuses keys that cannot be CA keys, and bytes that are not PKCS#8", () => {
    const p521 = generateKeyPairSync("ec", {
      namedCurve: "P-521",
      privateKeyEncoding: { type: "pkcs8", format: "der" },
      publicKeyEncoding: { type: "spki", format: "der" },
    });
    expect(() => createSoftwareSigner(p521.privateKey)).toThrow(/P-521/);
    expect(() => createSoftwareSigner(Buffer.from("junk"))).toThrow(ChanceryError);
    expect(() => createSoftwareSigner(Buffer.from("junk"))).toThrow(
      "CA private key is not a valid DER PKCS#8 PrivateKeyInfo",
    );
  });

  it("turns a signing failure into an internal ChanceryError on both paths", async () => {
    const pkcs8 = generateKeyPair("ecdsa-p256").privateKeyPkcs8;
    for (const threadPool of [false, true]) {
      const signer = createSoftwareSigner(pkcs8, { threadPool });
      await expect(signer.sign(42 as unknown as Uint8Array)).rejects.toMatchObject({ code: "internal" });
    }
  });
});
