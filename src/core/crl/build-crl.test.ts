import { AsnConvert } from "@peculiar/asn1-schema";
import { CertificateList } from "@peculiar/asn1-x509";
import { describe, expect, it } from "vitest";
import { isChanceryError } from "../errors.ts";
import type { KeyAlgorithm } from "../keys/key-algorithm.ts";
import { createRootCertificate } from "../x509/ca-certificate.ts";
import { derTime } from "../x509/der-writer.ts";
import { certificatePem, createScratchDir, openssl } from "../x509/testing/openssl.ts";
import { createTestSigner } from "../x509/testing/test-signer.ts";
import { buildCrl, type CrlInput, crlPem, encodeRevokedCertificates, type RevokedEntry } from "./build-crl.ts";

const day = 86_400_000;
const now = Math.floor(Date.now() / 1000) * 1000;
const url = "http://pki.example.test/crl/0b7e1c52-8f3a-4a55-9c1e-2d1f0a9b8c7d.crl";

async function makeCa(algorithm: KeyAlgorithm = "ecdsa-p256") {
  const signer = createTestSigner(algorithm);
  const der = await createRootCertificate({
    signer,
    subject: [
      { type: "O", value: "Chancery Test" },
      { type: "CN", value: `CRL Root ${algorithm}` },
    ],
    validity: { notBefore: new Date(now - day), notAfter: new Date(now + 3650 * day) },
  });
  return { signer, der };
}

function input(ca: Awaited<ReturnType<typeof makeCa>>, entries: readonly RevokedEntry[], number = 7n): CrlInput {
  return {
    issuerCertificateDer: ca.der,
    signer: ca.signer,
    crlNumber: number,
    thisUpdate: new Date(now),
    nextUpdate: new Date(now + day),
    distributionPointUrl: url,
    entries,
  };
}

/** `openssl crl -verify` against the CA and `-text`, both on the same CRL file. */
function checkWithOpenssl(caDer: Uint8Array, crlDer: Uint8Array): { verify: string; text: string } {
  const scratch = createScratchDir();
  try {
    const ca = scratch.file("ca.pem", certificatePem(caDer));
    const crl = scratch.file("crl.der", crlDer);
    const verify = openssl(["crl", "-inform", "DER", "-in", crl, "-CAfile", ca, "-verify", "-noout"]);
    expect(verify.ok, verify.stderr).toBe(true);
    const text = openssl(["crl", "-inform", "DER", "-in", crl, "-text", "-noout"]);
    expect(text.ok, text.stderr).toBe(true);
    return { verify: verify.stdout + verify.stderr, text: text.stdout };
  } finally {
    scratch.cleanup();
  }
}

describe("buildCrl", () => {
  it.each<KeyAlgorithm>(["ecdsa-p256", "rsa-2048", "ed25519"])(
    "builds a v2 CRL openssl verifies, with number, AKI, critical IDP and reasons (%s)",
    async (algorithm) => {
      const ca = await makeCa(algorithm);
      const der = await buildCrl(
        input(ca, [
          { serialHex: "0a1b2c", revokedAt: new Date(now - 3600_000), reason: "keyCompromise" },
          { serialHex: "ff01", revokedAt: new Date(now - 7200_000), reason: "unspecified" },
          { serialHex: "7e", revokedAt: new Date(now - 60_000) },
          { serialHex: "1234", revokedAt: new Date(now - 60_000), reason: "superseded" },
        ]),
      );
      const { verify, text } = checkWithOpenssl(ca.der, der);
      expect(verify).toContain("verify OK");
      expect(text).toContain("Version 2 (0x1)");
      expect(text).toMatch(/X509v3 CRL Number:\s*\n\s*7\n/);
      expect(text).toMatch(
        /X509v3 Issuing Distribution Point: critical\s*\n\s*Full Name:\s*\n\s*URI:http:\/\/pki\.example\.test\/crl\/0b7e1c52/,
      );
      expect(text).toContain("X509v3 Authority Key Identifier:");
      expect(text).toMatch(
        /Serial Number: 0A1B2C\s*\n\s*Revocation Date: .*\n\s*CRL entry extensions:\s*\n\s*X509v3 CRL Reason Code:\s*\n\s*Key Compromise/,
      );
      expect(text).toMatch(
        /Serial Number: 1234\s*\n\s*Revocation Date: .*\n\s*CRL entry extensions:\s*\n\s*X509v3 CRL Reason Code:\s*\n\s*Superseded/,
      );
      // §5.3.1: no reasonCode for unspecified (or absent) reasons.
      expect(text).toMatch(/Serial Number: FF01\s*\n\s*Revocation Date: [^\n]*\n\s*Serial Number: 7E/);
      expect(text).not.toContain("Unspecified");

      // And through a parser that shares nothing with the builder.
      const crl = AsnConvert.parse(der, CertificateList);
      expect(crl.tbsCertList.version).toBe(1);
      expect(crl.tbsCertList.revokedCertificates).toHaveLength(4);
      const aki = crl.tbsCertList.crlExtensions?.find((e) => e.extnID === "2.5.29.35");
      const idp = crl.tbsCertList.crlExtensions?.find((e) => e.extnID === "2.5.29.28");
      const number = crl.tbsCertList.crlExtensions?.find((e) => e.extnID === "2.5.29.20");
      expect(aki?.critical).toBe(false);
      expect(number?.critical).toBe(false);
      expect(idp?.critical).toBe(true);
    },
  );

  it("omits revokedCertificates entirely when nothing is revoked (§5.1.2.6)", async () => {
    const ca = await makeCa();
    const der = await buildCrl(input(ca, [], 1n));
    const { verify, text } = checkWithOpenssl(ca.der, der);
    expect(verify).toContain("verify OK");
    expect(text).toContain("No Revoked Certificates.");
    expect(AsnConvert.parse(der, CertificateList).tbsCertList.revokedCertificates).toBeUndefined();
  });

  it("encodes serials in minimal positive form and times as derTime does, across the 2049/2050 switch", () => {
    const dates = [
      new Date(Date.UTC(1950, 0, 1, 0, 0, 0)),
      new Date(Date.UTC(1999, 11, 31, 23, 59, 59)),
      new Date(Date.UTC(2000, 1, 29, 12, 34, 56, 789)),
      new Date(Date.UTC(2024, 1, 29, 1, 2, 3)),
      new Date(Date.UTC(2049, 11, 31, 23, 59, 59)),
      new Date(Date.UTC(2050, 0, 1, 0, 0, 0)),
      new Date(Date.UTC(2100, 2, 1, 0, 0, 0)),
      new Date(Date.UTC(9999, 11, 31, 23, 59, 59)),
    ];
    for (const date of dates) {
      const entries = encodeRevokedCertificates([{ serialHex: "01", revokedAt: date }]);
      const time = derTime(date);
      // SEQUENCE OF { SEQUENCE { INTEGER 01, Time } }
      expect(Buffer.from(entries.subarray(7))).toEqual(Buffer.from(time));
    }
    const serials: Array<[string, string]> = [
      ["7f", "02017f"],
      ["80", "02020080"],
      ["00ff", "020200ff"],
      ["abc", "02020abc"],
      ["0000000001", "020101"],
      ["f".repeat(38), `0214${"00"}${"ff".repeat(19)}`],
    ];
    for (const [hex, integer] of serials) {
      const entries = Buffer.from(encodeRevokedCertificates([{ serialHex: hex, revokedAt: new Date(now) }]));
      expect(entries.subarray(4, 4 + integer.length / 2).toString("hex")).toBe(integer);
    }
  });

  it("refuses bad input with invalid_argument or failed_precondition", async () => {
    const ca = await makeCa();
    const bad = async (change: Partial<CrlInput>) =>
      buildCrl({ ...input(ca, []), ...change }).catch((err: unknown) => err);
    expect(isChanceryError(await bad({ nextUpdate: new Date(now) }), "invalid_argument")).toBe(true);
    expect(isChanceryError(await bad({ crlNumber: -1n }), "invalid_argument")).toBe(true);
    expect(isChanceryError(await bad({ crlNumber: 1n << 159n }), "invalid_argument")).toBe(true);
    expect(isChanceryError(await bad({ signer: createTestSigner("ecdsa-p256") }), "invalid_argument")).toBe(true);
    for (const serialHex of ["", "00", "xyz", "ff".repeat(20)])
      expect(
        isChanceryError(await bad({ entries: [{ serialHex, revokedAt: new Date(now) }] }), "invalid_argument"),
      ).toBe(true);
    expect(
      isChanceryError(
        await bad({ entries: [{ serialHex: "01", revokedAt: new Date(Date.UTC(1949, 11, 31)) }] }),
        "invalid_argument",
      ),
    ).toBe(true);
    expect(
      isChanceryError(
        await bad({ entries: [{ serialHex: "01", revokedAt: new Date(now), reason: "certificateHold" as never }] }),
        "invalid_argument",
      ),
    ).toBe(true);
  });

  it("builds a 100 000-entry CRL in well under a second, and openssl reads it", async () => {
    const ca = await makeCa();
    const entries: RevokedEntry[] = [];
    for (let i = 0; i < 100_000; i++) {
      entries.push({
        serialHex: (0x7f00000000000000000000000000000n + BigInt(i) * 7919n).toString(16),
        revokedAt: new Date(now - i * 1000),
        reason: i % 3 === 0 ? "keyCompromise" : i % 3 === 1 ? "superseded" : undefined,
      });
    }
    const started = performance.now();
    const der = await buildCrl(input(ca, entries));
    const elapsed = performance.now() - started;
    expect(elapsed).toBeLessThan(500);
    const { verify, text } = checkWithOpenssl(ca.der, der);
    expect(verify).toContain("verify OK");
    // (@peculiar's parser stops at its node limit here; openssl lists them all.)
    expect(text.match(/Serial Number: /g)).toHaveLength(100_000);
    expect(text.match(/Key Compromise/g)).toHaveLength(33_334);
    expect(crlPem(der)).toMatch(/^-----BEGIN X509 CRL-----\n/);
  });
});
