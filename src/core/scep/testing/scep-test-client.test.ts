import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { parseCsr } from "../../x509/parse-csr.ts";
import { pemEncode } from "../../x509/pem.ts";
import { createScratchDir, openssl } from "../../x509/testing/openssl.ts";
import { loadScepclientFixture, type ScepclientFixture } from "./fixtures/scepclient-fixture.ts";
import { buildTestCsr, generateRsaKey, pkcsReq, type ScepTestSigner, selfSignedSigner } from "./scep-test-client.ts";

let fixture: ScepclientFixture;
let signer: ScepTestSigner;
let csr: Buffer;

beforeAll(() => {
  fixture = loadScepclientFixture();
  const key = generateRsaKey().privateKey;
  signer = selfSignedSigner(key, { commonName: "client" });
  csr = buildTestCsr({
    privateKey: key,
    subject: [
      ["O", "Example"],
      ["CN", "device-42"],
    ],
    challengePassword: "one-time secret",
    sans: ["dns:device-42.example", "ip:192.0.2.7", "email:ops@example.com", "uri:urn:device:42"],
  });
});

/** openssl's view of a request: verifies the SignedData, decrypts the envelope with the RA key, returns the content. */
function opensslOpens(der: Uint8Array, providers: readonly string[] = []): Buffer {
  const scratch = createScratchDir();
  try {
    const envelope = join(scratch.dir, "envelope.der");
    const content = join(scratch.dir, "content.der");
    const verified = openssl([
      "cms",
      "-verify",
      "-noverify",
      "-inform",
      "DER",
      "-in",
      scratch.file("m.der", der),
      "-out",
      envelope,
    ]);
    if (!verified.ok) throw new Error(`cms -verify: ${verified.stderr}`);
    const key = scratch.file("ra.key", readFileSync(join(import.meta.dirname, "fixtures/scepclient-ra.key")));
    const decrypted = openssl([
      "cms",
      "-decrypt",
      ...providers,
      "-inform",
      "DER",
      "-in",
      envelope,
      "-inkey",
      key,
      "-out",
      content,
    ]);
    if (!decrypted.ok) throw new Error(`cms -decrypt: ${decrypted.stderr}`);
    return readFileSync(content);
  } finally {
    scratch.cleanup();
  }
}

describe("scep test client", () => {
  it("builds CSRs that openssl verifies and parseCsr reads, challenge and SANs included", () => {
    expect(openssl(["req", "-inform", "DER", "-verify", "-noout"], csr).ok).toBe(true);
    const parsed = parseCsr(csr);
    expect(parsed.subjectString).toBe("CN=device-42,O=Example");
    expect(parsed.challengePassword).toBe("one-time secret");
    expect(parsed.requestedSans.map((san) => `${san.type}:${san.value}`)).toEqual([
      "dns:device-42.example",
      "ip:192.0.2.7",
      "email:ops@example.com",
      "uri:urn:device:42",
    ]);
    expect(openssl(["x509", "-noout", "-subject"], pemEncode("CERTIFICATE", signer.certificateDer)).stdout).toContain(
      "CN = client",
    );
  });

  it.each([
    ["DER, AES-128, PKCS#1 v1.5", { ber: false }],
    [
      "BER, AES-256, OAEP-SHA-256, SKI recipient",
      {
        ber: true,
        cipher: "aes-256-cbc",
        keyTransport: "rsa-oaep-sha256",
        recipientIdentifier: "subject-key-identifier",
      },
    ],
    ["DER, 3DES, OAEP-SHA-1, SHA-512", { cipher: "des-ede3-cbc", keyTransport: "rsa-oaep-sha1", digest: "sha512" }],
    ["BER, RSASSA-PSS", { ber: true, signatureStyle: "pss" }],
  ] as const)("writes requests openssl cms verifies and decrypts: %s", (_name, options) => {
    const built = pkcsReq(csr, { raCertificateDer: fixture.ra.certificateDer, signer, ...options });
    expect(opensslOpens(built.der)).toEqual(csr);
  });

  it("encrypts single DES as OpenSSL's legacy DES-CBC decrypts it", () => {
    const built = pkcsReq(csr, {
      raCertificateDer: fixture.ra.certificateDer,
      signer,
      cipher: "des-cbc",
      digest: "sha1",
    });
    expect(opensslOpens(built.der, ["-provider", "legacy", "-provider", "default"])).toEqual(csr);
  });
});
