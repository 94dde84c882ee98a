import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChanceryError, isChanceryError } from "../errors.ts";
import { createCertificateSigningRequest } from "./certificate-signing-request.ts";
import { bitString, contextConstructed, derInteger, sequence, tlvOf } from "./der-writer.ts";
import { encodeName } from "./name.ts";
import { maxCsrBytes, parseCsr, readCsr, verifiedCsr } from "./parse-csr.ts";
import { pemEncode } from "./pem.ts";
import { createScratchDir, openssl } from "./testing/openssl.ts";
import { createTestSigner } from "./testing/test-signer.ts";

function badCsr(input: unknown): ChanceryError {
  try {
    parseCsr(input as Uint8Array);
  } catch (err) {
    expect(err).toBeInstanceOf(ChanceryError);
    expect((err as ChanceryError).code).toBe("bad_csr");
    return err as ChanceryError;
  }
  throw new Error("parseCsr accepted the input");
}

const scratch = createScratchDir();
afterAll(() => scratch.cleanup());

function opensslKey(name: string, args: string[]): string {
  const path = scratch.file(`${name}.key`, "");
  const result = openssl(["genpkey", ...args, "-out", path]);
  if (!result.ok) throw new Error(result.stderr);
  return path;
}

/** A CSR made by the openssl CLI, as DER. */
function opensslCsr(key: string, args: string[]): Uint8Array {
  const out = scratch.file(`csr-${Math.random().toString(36).slice(2)}.der`, "");
  const result = openssl(["req", "-new", "-key", key, "-outform", "DER", "-out", out, ...args]);
  if (!result.ok) throw new Error(result.stderr);
  return new Uint8Array(readFileSync(out));
}

const richSubject = "/C=US/ST=California/O=Example Corp/OU=Devices/CN=host.example.com/emailAddress=ops@example.com";
const richExtensions = [
  "-addext",
  "subjectAltName=DNS:a.example.com,DNS:*.b.example.com,IP:192.0.2.10,IP:2001:db8::5,email:ops@example.com,URI:https://example.com/device/7",
  "-addext",
  "basicConstraints=critical,CA:TRUE",
  "-addext",
  "keyUsage=critical,keyCertSign,cRLSign",
];

describe("parseCsr on CSRs made by openssl", () => {
  const cases: [string, string[], string[], string, object][] = [
    [
      "ECDSA P-256 / SHA-256",
      ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
      ["-sha256"],
      "ecdsa-with-SHA256",
      { type: "ec", curve: "P-256", bits: 256 },
    ],
    [
      "ECDSA P-384 / SHA-384",
      ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
      ["-sha384"],
      "ecdsa-with-SHA384",
      { type: "ec", curve: "P-384", bits: 384 },
    ],
    [
      "ECDSA P-521 / SHA-512",
      ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-521"],
      ["-sha512"],
      "ecdsa-with-SHA512",
      { type: "ec", curve: "P-521", bits: 521 },
    ],
    [
      "RSA 2048 PKCS#1 v1.5 / SHA-256",
      ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
      ["-sha256"],
      "sha256WithRSAEncryption",
      { type: "rsa", bits: 2048, publicExponent: 65537n },
    ],
    [
      "RSA 2048 PSS / SHA-256",
      ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
      ["-sha256", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32"],
      "RSASSA-PSS-SHA256",
      { type: "rsa", bits: 2048, publicExponent: 65537n },
    ],
    [
      "RSA 3072 PSS / SHA-384",
      ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072"],
      ["-sha384", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:48"],
      "RSASSA-PSS-SHA384",
      { type: "rsa", bits: 3072, publicExponent: 65537n },
    ],
    ["Ed25519", ["-algorithm", "ED25519"], [], "Ed25519", { type: "ed25519", bits: 256 }],
  ];

  it.each(cases)(
    "%s: verifies, reads subject, key, SANs and extensions",
    (_label, keyArgs, reqArgs, algorithm, key) => {
      const keyPath = opensslKey(algorithm, keyArgs);
      const der = opensslCsr(keyPath, ["-subj", richSubject, ...richExtensions, ...reqArgs]);
      const csr = parseCsr(der);
      expect(csr.signatureAlgorithm).toBe(algorithm);
      expect(csr.publicKey).toEqual(key);
      expect(csr.subject).toEqual([
        { type: "C", value: "US" },
        { type: "ST", value: "California" },
        { type: "O", value: "Example Corp" },
        { type: "OU", value: "Devices" },
        { type: "CN", value: "host.example.com" },
        { type: "emailAddress", value: "ops@example.com" },
      ]);
      expect(csr.subjectString).toBe(
        "emailAddress=ops@example.com,CN=host.example.com,OU=Devices,O=Example Corp,ST=California,C=US",
      );
      expect(csr.requestedSans).toEqual([
        { type: "dns", value: "a.example.com" },
        { type: "dns", value: "*.b.example.com" },
        { type: "ip", value: "192.0.2.10" },
        { type: "ip", value: "2001:db8::5" },
        { type: "email", value: "ops@example.com" },
        { type: "uri", value: "https://example.com/device/7" },
      ]);
      expect(csr.requestedExtensions.map((e) => [e.oid, e.critical])).toEqual([
        ["2.5.29.17", false],
        ["2.5.29.19", true],
        ["2.5.29.15", true],
      ]);
      expect(csr.challengePassword).toBeUndefined();
      // The SPKI is the one openssl put in (compare with openssl's own export of the public key).
      const spkiPath = scratch.file(`${algorithm}.spki`, "");
      expect(openssl(["pkey", "-in", keyPath, "-pubout", "-outform", "DER", "-out", spkiPath]).ok).toBe(true);
      expect(Buffer.from(csr.publicKeySpki).equals(readFileSync(spkiPath))).toBe(true);
    },
  );

  it("reads a challengePassword (SCEP/EST)", () => {
    const keyPath = opensslKey("challenge", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]);
    const config = scratch.file(
      "challenge.cnf",
      "[req]\nprompt = no\ndistinguished_name = dn\nattributes = attrs\n[dn]\nCN = scep-device-42\n[attrs]\nchallengePassword = s3cret-Challenge\n",
    );
    const csr = parseCsr(opensslCsr(keyPath, ["-config", config]));
    expect(csr.challengePassword).toBe("s3cret-Challenge");
    expect(csr.subjectString).toBe("CN=scep-device-42");
    expect(csr.requestedSans).toEqual([]);
  });

  it("remembers a verified parse by the identity of its bytes only (the issuance core's second check is skipped)", () => {
    const keyPath = opensslKey("verified", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]);
    const der = opensslCsr(keyPath, ["-subj", "/CN=verified"]);
    expect(verifiedCsr(der)).toBeUndefined();
    // readCsr does not check the signature, so it registers nothing.
    const read = readCsr(der).csr;
    expect(verifiedCsr(read.der)).toBeUndefined();
    const csr = parseCsr(der);
    expect(verifiedCsr(csr.der)).toBe(csr);
    // The same content in other bytes is not vouched for: it is parsed and checked again.
    expect(verifiedCsr(Buffer.from(csr.der))).toBeUndefined();
  });

  it("accepts PEM (both labels), PEM as bytes, and bare base64", () => {
    const keyPath = opensslKey("forms", ["-algorithm", "ED25519"]);
    const der = opensslCsr(keyPath, ["-subj", "/CN=forms.example.com"]);
    const pem = pemEncode("CERTIFICATE REQUEST", der);
    for (const input of [
      pem,
      `junk before\n${pem.replace(/CERTIFICATE REQUEST/g, "NEW CERTIFICATE REQUEST")}`,
      new TextEncoder().encode(pem),
      Buffer.from(der).toString("base64"),
      Buffer.from(der)
        .toString("base64")
        .replace(/(.{64})/g, "$1\r\n"),
    ])
      expect(parseCsr(input).subjectString).toBe("CN=forms.example.com");
  });

  it("refuses SHA-1 signatures", () => {
    const keyPath = opensslKey("sha1", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]);
    const error = badCsr(opensslCsr(keyPath, ["-subj", "/CN=old", "-sha1"]));
    expect(error.message).toMatch(/SHA-1/);
  });
});

describe("parseCsr proof of possession and hostile input", () => {
  let good: Uint8Array;
  beforeAll(async () => {
    good = await createCertificateSigningRequest({
      signer: createTestSigner("ecdsa-p256"),
      subject: [{ type: "CN", value: "victim.example.com" }],
    });
  });

  it("accepts the untouched CSR", () => {
    expect(parseCsr(good).subjectString).toBe("CN=victim.example.com");
  });

  it("rejects a CSR whose signature was made by another key", async () => {
    const owner = createTestSigner("ecdsa-p256");
    const thief = createTestSigner("ecdsa-p256");
    const info = sequence([
      derInteger(0),
      encodeName([{ type: "CN", value: "x" }]),
      owner.publicKeySpki,
      tlvOf(contextConstructed(0), []),
    ]);
    const forged = sequence([info, thief.signatureAlgorithmDer, bitString(await thief.sign(info))]);
    expect(badCsr(forged).message).toMatch(/does not verify/);
  });

  it("rejects a signature algorithm that does not match the key", async () => {
    const ec = createTestSigner("ecdsa-p256");
    const ed = createTestSigner("ed25519");
    const info = sequence([derInteger(0), encodeName([]), ec.publicKeySpki, tlvOf(contextConstructed(0), [])]);
    const mixed = sequence([info, ed.signatureAlgorithmDer, bitString(await ed.sign(info))]);
    expect(badCsr(mixed).message).toMatch(/does not verify/);
  });

  it("rejects every single-byte change (structure or signature breaks)", () => {
    for (let i = 0; i < good.length; i++) {
      const changed = good.slice();
      changed[i] = changed[i]! ^ (1 << (i % 8));
      badCsr(changed);
    }
  });

  it("rejects every truncation", () => {
    for (let length = 0; length < good.length; length++) badCsr(good.subarray(0, length));
  });

  it("rejects random bytes and random prefixes of valid structure", () => {
    for (let i = 0; i < 500; i++) {
      const noise = randomBytes(1 + Math.floor(Math.random() * 600));
      if (i % 2 === 0) noise[0] = 0x30; // looks like a SEQUENCE
      badCsr(noise);
      // A valid CSR with random bytes spliced in somewhere.
      const at = Math.floor(Math.random() * good.length);
      badCsr(Buffer.concat([good.subarray(0, at), randomBytes(1 + (i % 7)), good.subarray(at)]));
    }
  });

  it("rejects oversized input before parsing it", () => {
    expect(badCsr(new Uint8Array(maxCsrBytes + 1).fill(0x30)).message).toMatch(/larger than/);
    expect(badCsr("A".repeat(maxCsrBytes * 2 + 1)).message).toMatch(/larger than/);
  });

  it("rejects garbage text and wrong input types with bad_csr only", () => {
    for (const input of [
      "",
      "hello",
      "-----BEGIN CERTIFICATE REQUEST-----\n!!!!\n-----END CERTIFICATE REQUEST-----\n",
      pemEncode("CERTIFICATE", good),
      undefined,
      null,
      42,
      {},
    ])
      expect(isChanceryError(badCsr(input), "bad_csr")).toBe(true);
  });

  it("rejects trailing data after the request", () => {
    expect(badCsr(Buffer.concat([good, Uint8Array.of(0)])).message).toMatch(/trailing/);
  });
});
