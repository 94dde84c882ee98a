import { execFileSync } from "node:child_process";
import { createPrivateKey, sign, verify, X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { getEngine, setEngine } from "pkijs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChanceryError } from "../errors.ts";
import { type KeyAlgorithm, keyAlgorithms } from "../keys/key-algorithm.ts";
import { type CaKeyImportInput, type ImportedCaKey, importCaKey } from "./ca-key-import.ts";

// Every input here is made by the real openssl CLI, the tool operators export their CAs with.
const opensslPath = "/usr/bin/openssl";
let dir: string;

/** Runs one openssl command line, split on whitespace; passphrases go in through `env:NAME`, so they may hold spaces. */
function openssl(commandLine: string, env: Record<string, string> = {}): void {
  execFileSync(opensslPath, commandLine.trim().split(/\s+/), {
    cwd: dir,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
}
function file(name: string): Buffer {
  return readFileSync(join(dir, name));
}
function text(name: string): string {
  return readFileSync(join(dir, name), "utf8");
}
function der(pemName: string): Buffer {
  return new X509Certificate(file(pemName)).raw;
}

const genpkeyOptions: Record<KeyAlgorithm | "ecdsa-p521", string> = {
  "ecdsa-p256": "-algorithm EC -pkeyopt ec_paramgen_curve:P-256",
  "ecdsa-p384": "-algorithm EC -pkeyopt ec_paramgen_curve:P-384",
  "ecdsa-p521": "-algorithm EC -pkeyopt ec_paramgen_curve:P-521",
  "rsa-2048": "-algorithm RSA -pkeyopt rsa_keygen_bits:2048",
  "rsa-3072": "-algorithm RSA -pkeyopt rsa_keygen_bits:3072",
  "rsa-4096": "-algorithm RSA -pkeyopt rsa_keygen_bits:4096",
  ed25519: "-algorithm ED25519",
};

const caExtensions = "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign";

/** `<name>.key` (PKCS#8 PEM) and `<name>.pem`, a self-signed certificate for it with the given extensions. */
function selfSigned(name: string, algorithm: KeyAlgorithm | "ecdsa-p521", extensions = caExtensions): void {
  openssl(`genpkey ${genpkeyOptions[algorithm]} -out ${name}.key`);
  // -config: our own minimal file, so the system openssl.cnf adds no extensions of its own.
  openssl(`req -config req.cnf -x509 -new -key ${name}.key -subj /CN=${name} -days 30 ${extensions} -out ${name}.pem`);
}

/** `<name>.key` / `<name>.pem`: a CA certified by `issuer`. */
function issuedCa(name: string, issuer: string, algorithm: KeyAlgorithm): void {
  openssl(`genpkey ${genpkeyOptions[algorithm]} -out ${name}.key`);
  openssl(`req -config req.cnf -new -key ${name}.key -subj /CN=${name} -out ${name}.csr`);
  openssl(
    `x509 -req -in ${name}.csr -CA ${issuer}.pem -CAkey ${issuer}.key -set_serial 2 -days 30 ` +
      `-extfile ext.cnf -extensions intermediate -out ${name}.pem`,
  );
}

async function refusal(input: CaKeyImportInput): Promise<ChanceryError> {
  try {
    await importCaKey(input);
  } catch (err) {
    expect(err).toBeInstanceOf(ChanceryError);
    expect((err as ChanceryError).code).toBe("invalid_argument");
    return err as ChanceryError;
  }
  throw new Error("expected importCaKey to refuse the input");
}

/** The imported key signs, and the certificate's public key verifies it: the pair really belongs together. */
function expectUsable(imported: ImportedCaKey, certificateFile: string, algorithm: KeyAlgorithm): void {
  expect(imported.algorithm).toBe(algorithm);
  expect(imported.certificateDer.equals(der(certificateFile))).toBe(true);
  const privateKey = createPrivateKey({ key: imported.privateKeyPkcs8, format: "der", type: "pkcs8" });
  const hash = algorithm === "ed25519" ? null : algorithm === "ecdsa-p384" ? "sha384" : "sha256";
  const data = Buffer.from("tbs");
  const publicKey = new X509Certificate(imported.certificateDer).publicKey;
  expect(verify(hash, data, publicKey, sign(hash, data, privateKey))).toBe(true);
}

const p12Pass = { PASS: "p12 pass" };

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "chancery-ca-import-"));
  writeFileSync(join(dir, "req.cnf"), "[req]\ndistinguished_name = dn\n[dn]\n");
  writeFileSync(
    join(dir, "ext.cnf"),
    [
      "[intermediate]",
      "basicConstraints = critical, CA:TRUE, pathlen:0",
      "keyUsage = critical, keyCertSign, cRLSign",
      "subjectKeyIdentifier = hash",
      "authorityKeyIdentifier = keyid",
      "",
    ].join("\n"),
  );

  // CAs of every algorithm, a two-level hierarchy, and certificates that must be refused.
  for (const algorithm of keyAlgorithms) selfSigned(algorithm, algorithm);
  selfSigned("root", "ecdsa-p384");
  issuedCa("intermediate", "root", "ecdsa-p256");
  selfSigned("stranger", "ecdsa-p256");
  selfSigned("p521", "ecdsa-p521");
  selfSigned("leaf", "ecdsa-p256", "-addext basicConstraints=critical,CA:FALSE");
  selfSigned("no-bc", "ecdsa-p256", "-addext keyUsage=critical,keyCertSign");
  selfSigned(
    "no-certsign",
    "ecdsa-p256",
    "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=digitalSignature",
  );
  selfSigned("no-ku", "ed25519", "-addext basicConstraints=critical,CA:TRUE");

  // Other private key encodings.
  openssl("ec -in ecdsa-p256.key -out sec1.key");
  openssl("rsa -in rsa-2048.key -traditional -out pkcs1.key");
  openssl("pkcs8 -topk8 -nocrypt -in ed25519.key -outform DER -out ed25519.key.der");
  openssl("pkcs8 -topk8 -v2 aes-256-cbc -in rsa-3072.key -passout env:PASS -out enc.key", p12Pass);
  openssl("pkcs8 -topk8 -v2 aes-256-cbc -in ecdsa-p384.key -passout env:PASS -outform DER -out enc.key.der", p12Pass);
  openssl("ec -in ecdsa-p256.key -aes256 -passout env:PASS -out sec1-enc.key", p12Pass);

  // PKCS#12 files of the intermediate CA with the root as chain.
  const export12 = "pkcs12 -export -in intermediate.pem -inkey intermediate.key -certfile root.pem -passout env:PASS";
  // OpenSSL 3 defaults: PBES2 / PBKDF2 / AES-256-CBC for key and certificates, HMAC-SHA256 MAC.
  openssl(`${export12} -out default.p12`, p12Pass);
  // The 3DES forms older OpenSSL, Windows and Java produce.
  openssl(`${export12} -keypbe PBE-SHA1-3DES -certpbe PBE-SHA1-3DES -macalg sha1 -out 3des.p12`, p12Pass);
  openssl(`${export12} -keypbe PBE-SHA1-2DES -certpbe PBE-SHA1-2DES -out 2des.p12`, p12Pass);
  // -legacy: RC2-40 over the certificates (OpenSSL's legacy provider).
  openssl(`${export12} -legacy -out legacy.p12`, p12Pass);
  // No MAC; no encryption at all.
  openssl(`${export12} -nomac -out nomac.p12`, p12Pass);
  openssl(`${export12} -keypbe NONE -certpbe NONE -out plain.p12`, p12Pass);
  // Non-ASCII and empty passphrases: PBES2 takes UTF-8 bytes, the PKCS#12 KDF a BMPString (RFC 7292 Appendix B.1).
  const utf8Pass = { PASS: "pässwörd€" };
  openssl(`${export12} -out utf8.p12`, utf8Pass);
  openssl(`${export12} -keypbe PBE-SHA1-3DES -certpbe PBE-SHA1-3DES -out utf8-3des.p12`, utf8Pass);
  openssl(`${export12} -out empty.p12`, { PASS: "" });
  openssl("pkcs12 -export -in rsa-2048.pem -inkey rsa-2048.key -passout pass:x -out rsa.p12");
  openssl("pkcs12 -export -in leaf.pem -inkey leaf.key -passout pass:x -out leaf.p12");
  openssl("pkcs12 -export -nocerts -inkey ed25519.key -passout pass:x -out nocerts.p12");
}, 120_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("importCaKey from PEM and DER files", () => {
  for (const algorithm of keyAlgorithms) {
    it(`imports a ${algorithm} CA from a PKCS#8 PEM key and a PEM certificate`, async () => {
      expect(text(`${algorithm}.key`)).toContain("-----BEGIN PRIVATE KEY-----");
      const imported = await importCaKey({
        certificates: text(`${algorithm}.pem`),
        privateKey: text(`${algorithm}.key`),
      });
      expectUsable(imported, `${algorithm}.pem`, algorithm);
      expect(imported.chainDer).toEqual([]);
    });
  }

  it("reads a SEC1 EC PRIVATE KEY", async () => {
    expect(text("sec1.key")).toContain("-----BEGIN EC PRIVATE KEY-----");
    const imported = await importCaKey({ certificates: text("ecdsa-p256.pem"), privateKey: text("sec1.key") });
    expectUsable(imported, "ecdsa-p256.pem", "ecdsa-p256");
  });

  it("reads a PKCS#1 RSA PRIVATE KEY, given as file bytes", async () => {
    expect(text("pkcs1.key")).toContain("-----BEGIN RSA PRIVATE KEY-----");
    const imported = await importCaKey({ certificates: file("rsa-2048.pem"), privateKey: file("pkcs1.key") });
    expectUsable(imported, "rsa-2048.pem", "rsa-2048");
  });

  it("reads a DER PKCS#8 key and a DER certificate", async () => {
    const imported = await importCaKey({ certificates: der("ed25519.pem"), privateKey: file("ed25519.key.der") });
    expectUsable(imported, "ed25519.pem", "ed25519");
  });

  describe("encrypted keys", () => {
    it("reads an ENCRYPTED PRIVATE KEY (PBES2, AES-256-CBC) with its passphrase", async () => {
      expect(text("enc.key")).toContain("-----BEGIN ENCRYPTED PRIVATE KEY-----");
      const imported = await importCaKey({
        certificates: text("rsa-3072.pem"),
        privateKey: text("enc.key"),
        passphrase: "p12 pass",
      });
      expectUsable(imported, "rsa-3072.pem", "rsa-3072");
    });

    it("reads an encrypted DER PKCS#8 key with its passphrase", async () => {
      const imported = await importCaKey({
        certificates: text("ecdsa-p384.pem"),
        privateKey: file("enc.key.der"),
        passphrase: "p12 pass",
      });
      expectUsable(imported, "ecdsa-p384.pem", "ecdsa-p384");
    });

    it("reads an OpenSSL-encrypted SEC1 key (Proc-Type: 4,ENCRYPTED)", async () => {
      expect(text("sec1-enc.key")).toContain("Proc-Type: 4,ENCRYPTED");
      const imported = await importCaKey({
        certificates: text("ecdsa-p256.pem"),
        privateKey: text("sec1-enc.key"),
        passphrase: "p12 pass",
      });
      expectUsable(imported, "ecdsa-p256.pem", "ecdsa-p256");
    });

    it("says 'wrong passphrase or corrupt key' for a wrong passphrase, in every encoding", async () => {
      for (const [certificate, privateKey] of [
        ["rsa-3072.pem", text("enc.key")],
        ["ecdsa-p384.pem", file("enc.key.der")],
        ["ecdsa-p256.pem", text("sec1-enc.key")],
      ] as const) {
        const err = await refusal({ certificates: text(certificate), privateKey, passphrase: "P12 pass" });
        expect(err.message).toBe("wrong passphrase or corrupt key");
      }
    });

    it("asks for the passphrase when there is none", async () => {
      for (const [certificate, privateKey] of [
        ["rsa-3072.pem", text("enc.key")],
        ["ecdsa-p384.pem", file("enc.key.der")],
        ["ecdsa-p256.pem", text("sec1-enc.key")],
      ] as const) {
        const err = await refusal({ certificates: text(certificate), privateKey });
        expect(err.message).toBe("the private key is encrypted; a passphrase is required");
      }
    });
  });

  it("puts the issuers given with an intermediate CA into chainDer, nearest first", async () => {
    // Root first in the bundle: the order given does not matter.
    const imported = await importCaKey({
      certificates: text("root.pem") + text("intermediate.pem"),
      privateKey: text("intermediate.key"),
    });
    expectUsable(imported, "intermediate.pem", "ecdsa-p256");
    expect(imported.chainDer).toHaveLength(1);
    expect(imported.chainDer[0]!.equals(der("root.pem"))).toBe(true);
  });

  it("imports an intermediate CA without its chain", async () => {
    const imported = await importCaKey({
      certificates: text("intermediate.pem"),
      privateKey: text("intermediate.key"),
    });
    expect(imported.chainDer).toEqual([]);
  });

  it("refuses a certificate that is not in the issuer chain", async () => {
    const err = await refusal({
      certificates: text("intermediate.pem") + text("root.pem") + text("stranger.pem"),
      privateKey: text("intermediate.key"),
    });
    expect(err.message).toMatch(
      /^certificate \(subject CN=stranger\) is not in the issuer chain of the CA certificate/,
    );
  });

  it("refuses a certificate that is not a CA (basicConstraints cA FALSE)", async () => {
    const err = await refusal({ certificates: text("leaf.pem"), privateKey: text("leaf.key") });
    expect(err.message).toBe(
      "the certificate (subject CN=leaf) is not a CA certificate: its basicConstraints has cA FALSE (RFC 5280 §4.2.1.9)",
    );
  });

  it("refuses a certificate without basicConstraints", async () => {
    const err = await refusal({ certificates: text("no-bc.pem"), privateKey: text("no-bc.key") });
    expect(err.message).toBe(
      "the certificate (subject CN=no-bc) is not a CA certificate: it has no basicConstraints extension (RFC 5280 §4.2.1.9)",
    );
  });

  it("refuses a CA certificate whose keyUsage lacks keyCertSign", async () => {
    const err = await refusal({ certificates: text("no-certsign.pem"), privateKey: text("no-certsign.key") });
    expect(err.message).toBe(
      "the certificate (subject CN=no-certsign) cannot sign certificates: its keyUsage lacks keyCertSign (RFC 5280 §4.2.1.3)",
    );
  });

  it("accepts a CA certificate without keyUsage (it is optional, RFC 5280 §4.2.1.3)", async () => {
    const imported = await importCaKey({ certificates: text("no-ku.pem"), privateKey: text("no-ku.key") });
    expectUsable(imported, "no-ku.pem", "ed25519");
  });

  it("refuses a key that does not match the certificate", async () => {
    const err = await refusal({ certificates: text("ecdsa-p256.pem"), privateKey: text("stranger.key") });
    expect(err.message).toBe("the private key does not match the certificate's public key");
    const several = await refusal({
      certificates: text("root.pem") + text("intermediate.pem"),
      privateKey: text("stranger.key"),
    });
    expect(several.message).toBe("the private key matches none of the 2 certificates given");
  });

  it("refuses a key of an algorithm we do not sign with, naming it", async () => {
    const err = await refusal({ certificates: text("p521.pem"), privateKey: text("p521.key") });
    expect(err.message).toBe("EC key on curve P-521 cannot be used as a CA key (supported curves: P-256, P-384)");
  });

  it("refuses input that is not PEM or DER of the expected kind", async () => {
    const key = text("ed25519.key");
    expect((await refusal({ certificates: "hello", privateKey: key })).message).toBe(
      "no PEM CERTIFICATE block found in the certificates given",
    );
    expect((await refusal({ certificates: Buffer.from("junk"), privateKey: key })).message).toBe(
      "certificate #1 is not a valid X.509 certificate",
    );
    expect((await refusal({ certificates: text("ed25519.pem"), privateKey: text("ed25519.pem") })).message).toMatch(
      /^no PEM private key found/,
    );
    expect((await refusal({ certificates: text("ed25519.pem"), privateKey: Buffer.from("junk") })).message).toBe(
      "the private key could not be read: expected PEM, or DER PKCS#8 (plain or encrypted)",
    );
  });
});

describe("importCaKey from PKCS#12", () => {
  for (const [name, passphrase] of [
    ["default", "p12 pass"],
    ["3des", "p12 pass"],
    ["2des", "p12 pass"],
    ["nomac", "p12 pass"],
    ["plain", "p12 pass"],
    ["utf8", "pässwörd€"],
    ["utf8-3des", "pässwörd€"],
    ["empty", ""],
  ] as const) {
    it(`reads key and chain from the ${name} form`, async () => {
      const imported = await importCaKey({ pkcs12: file(`${name}.p12`), passphrase });
      expectUsable(imported, "intermediate.pem", "ecdsa-p256");
      expect(imported.chainDer).toHaveLength(1);
      expect(imported.chainDer[0]!.equals(der("root.pem"))).toBe(true);
    });
  }

  it("reads an RSA CA", async () => {
    expectUsable(await importCaKey({ pkcs12: file("rsa.p12"), passphrase: "x" }), "rsa-2048.pem", "rsa-2048");
  });

  for (const name of ["default", "3des", "utf8"]) {
    it(`says the passphrase is wrong (MAC check) for the ${name} form`, async () => {
      const err = await refusal({ pkcs12: file(`${name}.p12`), passphrase: "P12 pass" });
      expect(err.message).toBe("wrong passphrase or corrupt key: the PKCS#12 integrity check (MAC) failed");
    });
  }

  it("says the passphrase is wrong for a file without MAC", async () => {
    const err = await refusal({ pkcs12: file("nomac.p12"), passphrase: "nope" });
    expect(err.message).toMatch(/^wrong passphrase or corrupt key/);
  });

  it("says a tampered file is corrupt", async () => {
    const bytes = file("default.p12");
    // The file ends with MacData's digest, then macSalt (04 08 + 8 bytes) and iterations (02 02 08 00).
    expect(bytes.subarray(bytes.length - 4).toString("hex")).toBe("02020800");
    bytes[bytes.length - 15]! ^= 0x01;
    const err = await refusal({ pkcs12: bytes, passphrase: "p12 pass" });
    expect(err.message).toBe("wrong passphrase or corrupt key: the PKCS#12 integrity check (MAC) failed");
  });

  it("refuses RC2-40 (-legacy) with a message that says what to do", async () => {
    const err = await refusal({ pkcs12: file("legacy.p12"), passphrase: "p12 pass" });
    expect(err.message).toMatch(/^the PKCS#12 file is encrypted with pbeWithSHAAnd40BitRC2-CBC, a legacy cipher/);
    expect(err.message).toMatch(/re-export it with AES/);
  });

  it("refuses a PKCS#12 whose certificate is not a CA", async () => {
    const err = await refusal({ pkcs12: file("leaf.p12"), passphrase: "x" });
    expect(err.message).toMatch(/^the certificate \(subject CN=leaf\) is not a CA certificate/);
  });

  it("takes the certificate from certificates when the PKCS#12 has none", async () => {
    const err = await refusal({ pkcs12: file("nocerts.p12"), passphrase: "x" });
    expect(err.message).toBe("the PKCS#12 file holds no certificate; pass the CA certificate in certificates");
    const imported = await importCaKey({
      pkcs12: file("nocerts.p12"),
      passphrase: "x",
      certificates: text("ed25519.pem"),
    });
    expectUsable(imported, "ed25519.pem", "ed25519");
  });

  it("refuses bytes that are not PKCS#12, and points a PKCS#12 given as privateKey the right way", async () => {
    expect((await refusal({ pkcs12: Buffer.from("junk"), passphrase: "x" })).message).toBe("not a PKCS#12 (PFX) file");
    const err = await refusal({ certificates: text("rsa-2048.pem"), privateKey: file("rsa.p12") });
    expect(err.message).toBe("the private key looks like a PKCS#12 file; pass it as pkcs12 instead");
  });
});

describe("importCaKey and pkijs's global crypto engine", () => {
  it("does not depend on it: PKCS#12 files open with the global engine broken", async () => {
    const saved = getEngine();
    setEngine("broken", {} as unknown as Parameters<typeof setEngine>[1]);
    try {
      const imported = await importCaKey({ pkcs12: file("default.p12"), passphrase: "p12 pass" });
      expectUsable(imported, "intermediate.pem", "ecdsa-p256");
      expectUsable(
        await importCaKey({ pkcs12: file("3des.p12"), passphrase: "p12 pass" }),
        "intermediate.pem",
        "ecdsa-p256",
      );
    } finally {
      setEngine(saved.name, saved.crypto ?? undefined);
    }
  });
});
