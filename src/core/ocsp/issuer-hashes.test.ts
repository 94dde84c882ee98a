import { createHash } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { readCertificate } from "../x509/parse-certificate.ts";
import { encodeCertId } from "./cert-id.ts";
import { certIdFor, createIssuerIndex, issuerHashes, issuerIndexKey } from "./issuer-hashes.ts";
import { parseOcspRequest } from "./ocsp-request.ts";
import { opensslOcspRequest } from "./testing/openssl-ocsp.ts";
import { createTestPki, type TestPki } from "./testing/test-pki.ts";

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

describe("issuer hashes and the issuer index", () => {
  let a: TestPki;
  let b: TestPki;
  beforeAll(async () => {
    [a, b] = await Promise.all([createTestPki("ecdsa-p256"), createTestPki("rsa-2048")]);
  });

  it("hash the CA's DER subject and subjectPublicKey value, as openssl does in its CertIDs", () => {
    for (const pki of [a, b]) {
      for (const sha256 of [false, true]) {
        const request = parseOcspRequest(opensslOcspRequest({ issuerDer: pki.issuing.der, serials: ["0x01"], sha256 }));
        if (!request.ok) throw request.error;
        const [id] = request.value.certIds;
        const hashes = issuerHashes(pki.issuing.der)[sha256 ? "sha256" : "sha1"];
        expect(hex(hashes.issuerNameHash)).toBe(hex(id!.issuerNameHash));
        expect(hex(hashes.issuerKeyHash)).toBe(hex(id!.issuerKeyHash));
      }
    }
    // And by definition (RFC 6960 §4.1.1), computed independently here.
    const ca = readCertificate(a.issuing.der);
    const hashes = issuerHashes(a.issuing.der);
    expect(hex(hashes.sha256.issuerNameHash)).toBe(createHash("sha256").update(ca.subject.der).digest("hex"));
    expect(hex(hashes.sha1.issuerKeyHash)).toBe(createHash("sha1").update(ca.publicKey.subjectPublicKey).digest("hex"));
  });

  it("finds the CA of a CertID by (algorithm, name hash, key hash), and nothing for other issuers", () => {
    const index = createIssuerIndex([
      { certificateDer: a.issuing.der, value: "a-issuing" },
      { certificateDer: b.issuing.der, value: "b-issuing" },
      { certificateDer: a.root.der, value: "a-root" },
    ]);
    for (const sha256 of [false, true]) {
      const request = parseOcspRequest(opensslOcspRequest({ issuerDer: b.issuing.der, serials: ["0x02"], sha256 }));
      if (!request.ok) throw request.error;
      expect(index.lookup(request.value.certIds[0]!)).toEqual(["b-issuing"]);
    }
    const hashes = issuerHashes(a.root.der).sha1;
    expect(index.lookup({ hashAlgorithm: "sha1", ...hashes })).toEqual(["a-root"]);
    // The right hashes under the wrong algorithm label do not match.
    expect(index.lookup({ hashAlgorithm: "sha256", ...hashes })).toEqual([]);
    const stranger = createIssuerIndex([{ certificateDer: a.issuing.der, value: 1 }]);
    expect(stranger.lookup({ hashAlgorithm: "sha1", ...issuerHashes(b.issuing.der).sha1 })).toEqual([]);
  });

  it("keeps every CA that shares a name and key (one OCSP issuer)", () => {
    const index = createIssuerIndex([
      { certificateDer: a.issuing.der, value: "first" },
      { certificateDer: a.issuing.der, value: "renewed" },
    ]);
    expect(index.lookup({ hashAlgorithm: "sha256", ...issuerHashes(a.issuing.der).sha256 })).toEqual([
      "first",
      "renewed",
    ]);
  });

  it("builds canonical CertIDs equal to the ones openssl sends", () => {
    const serial = Uint8Array.of(0x00, 0xfe, 0x01);
    for (const sha256 of [false, true]) {
      const request = parseOcspRequest(opensslOcspRequest({ issuerDer: a.issuing.der, serials: ["0xfe01"], sha256 }));
      if (!request.ok) throw request.error;
      const id = certIdFor(issuerHashes(a.issuing.der), sha256 ? "sha256" : "sha1", serial);
      expect(hex(id.der)).toBe(hex(request.value.certIds[0]!.der));
      expect(id.serialHex).toBe("fe01");
    }
    expect(() =>
      encodeCertId({ hashAlgorithm: "sha256", ...issuerHashes(a.issuing.der).sha1, serialNumber: serial }),
    ).toThrow(/32 octets/);
    expect(issuerIndexKey("sha1", Uint8Array.of(1), Uint8Array.of(2))).toBe("sha1:01:02");
  });
});
