import { createPrivateKey, createPublicKey, generateKeyPairSync, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pemDecode } from "../x509/pem.ts";
import { asn1parse, createScratchDir, openssl } from "../x509/testing/openssl.ts";
import { buildEncryptedKeyPackage, buildSignedKeyPackage, type KeyPackageSigner } from "./server-key-package.ts";

describe("server-generated key packages (RFC 7030 §4.4.2)", () => {
  const scratch = createScratchDir();
  let signer: KeyPackageSigner;
  let signerPem: string;
  const generated = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const pkcs8 = generated.privateKey.export({ type: "pkcs8", format: "der" });

  beforeAll(() => {
    const key = scratch.file("signer.key", "");
    const cert = scratch.file("signer.crt", "");
    const made = openssl([
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      key,
      "-out",
      cert,
      "-subj",
      "/CN=est.example",
      "-days",
      "1",
    ]);
    expect(made.ok, made.stderr).toBe(true);
    signerPem = readFileSync(cert, "utf8");
    signer = {
      certificateDer: pemDecode(signerPem, ["CERTIFICATE"]),
      privateKey: createPrivateKey(readFileSync(key)),
    };
  });
  afterAll(() => scratch.cleanup());

  it("signs the key package so that openssl cms -verify accepts it and yields the PKCS#8 key", () => {
    const signed = buildSignedKeyPackage(pkcs8, signer);
    const signedFile = scratch.file("signed.der", signed);
    const out = scratch.file("package.der", "");
    const verified = openssl([
      "cms",
      "-verify",
      "-inform",
      "DER",
      "-in",
      signedFile,
      "-CAfile",
      scratch.file("ca.pem", signerPem),
      "-purpose",
      "any",
      "-out",
      out,
    ]);
    expect(verified.ok, verified.stderr).toBe(true);
    const keyPackage = readFileSync(out);
    // AsymmetricKeyPackage: a SEQUENCE holding the PKCS#8 PrivateKeyInfo as it was generated.
    expect(keyPackage.subarray(keyPackage.length - pkcs8.length).equals(pkcs8)).toBe(true);
    expect(asn1parse(keyPackage)).toContain("id-ecPublicKey");
  });

  for (const recipientType of ["rsa", "ec"] as const) {
    it(`encrypts to a ${recipientType} key that openssl cms -decrypt opens`, () => {
      const recipient =
        recipientType === "rsa"
          ? generateKeyPairSync("rsa", { modulusLength: 2048 })
          : generateKeyPairSync("ec", { namedCurve: "P-384" });
      const spki = createPublicKey(recipient.privateKey).export({ type: "spki", format: "der" });
      const enveloped = buildEncryptedKeyPackage({
        privateKeyPkcs8: pkcs8,
        signer,
        recipient: { publicKeySpki: spki, keyIdentifier: Buffer.from("0102030405060708090a", "hex") },
      });
      const keyFile = scratch.file(
        `${recipientType}.key`,
        recipient.privateKey.export({ type: "pkcs8", format: "pem" }),
      );
      const inner = scratch.file(`${recipientType}-inner.der`, "");
      const decrypted = openssl([
        "cms",
        "-decrypt",
        "-inform",
        "DER",
        "-in",
        scratch.file(`${recipientType}.p7`, enveloped),
        "-inkey",
        keyFile,
        "-out",
        inner,
      ]);
      expect(decrypted.ok, decrypted.stderr).toBe(true);
      const out = scratch.file(`${recipientType}-package.der`, "");
      const verified = openssl([
        "cms",
        "-verify",
        "-inform",
        "DER",
        "-in",
        inner,
        "-CAfile",
        scratch.file("ca2.pem", signerPem),
        "-purpose",
        "any",
        "-out",
        out,
      ]);
      expect(verified.ok, verified.stderr).toBe(true);
      const keyPackage = readFileSync(out);
      expect(keyPackage.subarray(keyPackage.length - pkcs8.length).equals(pkcs8)).toBe(true);
    });
  }

  it("refuses an Ed25519 recipient (no key transport or agreement for it here)", () => {
    const recipient = generateKeyPairSync("ed25519");
    expect(() =>
      buildEncryptedKeyPackage({
        privateKeyPkcs8: pkcs8,
        signer,
        recipient: {
          publicKeySpki: recipient.publicKey.export({ type: "spki", format: "der" }),
          keyIdentifier: Buffer.alloc(20, 1),
        },
      }),
    ).toThrow(/RSA or ECDSA/);
    expect(new X509Certificate(Buffer.from(signer.certificateDer)).subject).toContain("est.example");
  });
});
