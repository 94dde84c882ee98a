import { createPrivateKey, createPublicKey } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { generateKeyPair } from "../keys/generate-key-pair.ts";
import { buildPkcs12 } from "./build-pkcs12.ts";
import { createScratchDir, openssl } from "./testing/openssl.ts";

/** A self-signed certificate for `keyFile` made by openssl, DER. */
function selfSigned(scratch: ReturnType<typeof createScratchDir>, keyPem: string, cn: string): Buffer {
  const keyFile = scratch.file(`${cn}.key`, keyPem);
  const out = join(scratch.dir, `${cn}.der`);
  const made = openssl([
    "req",
    "-x509",
    "-new",
    "-key",
    keyFile,
    "-subj",
    `/CN=${cn}`,
    "-days",
    "1",
    "-outform",
    "DER",
    "-out",
    out,
  ]);
  if (!made.ok) throw new Error(made.stderr);
  return readFileSync(out);
}

describe("buildPkcs12", () => {
  for (const algorithm of ["ecdsa-p256", "rsa-2048", "ed25519"] as const) {
    it(`writes a ${algorithm} key with its certificate and chain that openssl opens with the passphrase`, async () => {
      const scratch = createScratchDir();
      try {
        const pair = generateKeyPair(algorithm);
        const keyPem = createPrivateKey({ key: pair.privateKeyPkcs8, format: "der", type: "pkcs8" })
          .export({ type: "pkcs8", format: "pem" })
          .toString();
        const leaf = selfSigned(scratch, keyPem, "leaf");
        const issuerKey = createPrivateKey({
          key: generateKeyPair("ecdsa-p256").privateKeyPkcs8,
          format: "der",
          type: "pkcs8",
        });
        const issuer = selfSigned(scratch, issuerKey.export({ type: "pkcs8", format: "pem" }).toString(), "issuer");
        // Non-ASCII: PBES2 takes UTF-8, the MAC a BMPString (RFC 7292 Appendix B.1); openssl must agree on both.
        const passphrase = "pässwörd-€uro";
        const p12 = await buildPkcs12({
          privateKeyPkcs8: pair.privateKeyPkcs8,
          certificateDer: leaf,
          chainDer: [issuer],
          passphrase,
          friendlyName: "leaf",
        });
        const file = scratch.file("out.p12", p12);
        const info = openssl(["pkcs12", "-in", file, "-info", "-nokeys", "-passin", `pass:${passphrase}`]);
        expect(info.ok, info.stderr).toBe(true);
        expect(info.stderr).toMatch(/MAC: sha256, Iteration 2048/);
        expect(info.stderr).toMatch(
          /Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 600000, PRF hmacWithSHA256/,
        );
        expect(info.stdout.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
        expect(info.stdout).toContain("friendlyName: leaf");

        const all = openssl(["pkcs12", "-in", file, "-nodes", "-nocerts", "-passin", `pass:${passphrase}`]);
        expect(all.ok, all.stderr).toBe(true);
        const opened = createPrivateKey(all.stdout.slice(all.stdout.indexOf("-----BEGIN PRIVATE KEY-----")));
        expect(createPublicKey(opened).export({ type: "spki", format: "der" }).equals(pair.publicKeySpki)).toBe(true);
        expect(openssl(["pkcs12", "-in", file, "-nokeys", "-passin", "pass:passwörd-€uro"]).ok).toBe(false);
      } finally {
        scratch.cleanup();
      }
    });
  }

  it("refuses an empty passphrase", async () => {
    const pair = generateKeyPair("ed25519");
    await expect(
      buildPkcs12({
        privateKeyPkcs8: pair.privateKeyPkcs8,
        certificateDer: Buffer.alloc(1),
        chainDer: [],
        passphrase: "",
      }),
    ).rejects.toMatchObject({ code: "invalid_argument" });
  });
});
