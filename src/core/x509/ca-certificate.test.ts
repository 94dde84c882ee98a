import * as x509 from "@peculiar/x509";
import { describe, expect, it } from "vitest";
import { isChanceryError } from "../errors.ts";
import type { KeyAlgorithm } from "../keys/key-algorithm.ts";
import { createIntermediateCertificate, createRootCertificate } from "./ca-certificate.ts";
import { createCertificateSigningRequest } from "./certificate-signing-request.ts";
import { basicConstraintsExtension, keyUsageExtension } from "./extensions.ts";
import { readCertificate } from "./parse-certificate.ts";
import { parseCsr } from "./parse-csr.ts";
import { keyIdentifier } from "./subject-public-key-info.ts";
import { certificateText, openssl, verifyChain } from "./testing/openssl.ts";
import { createTestSigner } from "./testing/test-signer.ts";

const day = 86_400_000;
const now = Date.now();
const hex = (bytes: Uint8Array | ArrayBuffer) => Buffer.from(bytes as Uint8Array).toString("hex");

async function makeRoot(algorithm: KeyAlgorithm, pathLenConstraint?: number) {
  const signer = createTestSigner(algorithm);
  const der = await createRootCertificate({
    signer,
    subject: [
      { type: "C", value: "CH" },
      { type: "O", value: "Chancery Test" },
      { type: "CN", value: `Root ${algorithm}` },
    ],
    validity: { notBefore: new Date(now - day), notAfter: new Date(now + 3650 * day) },
    pathLenConstraint,
  });
  return { signer, der };
}

describe.each<KeyAlgorithm>(["ecdsa-p256", "ecdsa-p384", "rsa-2048", "ed25519"])(
  "CA certificates with %s",
  (algorithm) => {
    it("builds a root and an intermediate that openssl verifies strictly", async () => {
      const root = await makeRoot(algorithm, 1);
      const subSigner = createTestSigner(algorithm);
      const intermediate = await createIntermediateCertificate({
        issuerCertificateDer: root.der,
        issuerSigner: root.signer,
        subjectPublicKeySpki: subSigner.publicKeySpki,
        subject: [
          { type: "O", value: "Chancery Test" },
          { type: "CN", value: `Issuing ${algorithm}` },
        ],
        validity: { notBefore: new Date(now - day), notAfter: new Date(now + 365 * day) },
        pathLen: 0,
        crlUrl: "http://pki.example.test/crl/root.crl",
        ocspUrl: "http://pki.example.test/ocsp",
        caIssuersUrl: "http://pki.example.test/ca/root.cer",
      });

      expect(verifyChain(root.der, [], root.der).ok).toBe(true);
      const result = verifyChain(root.der, [], intermediate);
      expect(result.stderr).toBe("");
      expect(result.stdout).toContain(": OK");

      // Root: self-issued, CA:TRUE critical with pathLen, KU critical, SKI, and AKI = its own SKI.
      const rootCert = new x509.X509Certificate(root.der);
      expect(rootCert.subject).toBe(rootCert.issuer);
      const rootBc = rootCert.getExtension(x509.BasicConstraintsExtension)!;
      expect([rootBc.critical, rootBc.ca, rootBc.pathLength]).toEqual([true, true, 1]);
      const rootKu = rootCert.getExtension(x509.KeyUsagesExtension)!;
      expect(rootKu.critical).toBe(true);
      expect(rootKu.usages).toBe(
        x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
      );
      const rootSki = rootCert.getExtension(x509.SubjectKeyIdentifierExtension)!.keyId;
      expect(rootSki).toBe(hex(keyIdentifier(root.signer.publicKeySpki)));
      expect(rootCert.getExtension(x509.AuthorityKeyIdentifierExtension)!.keyId).toBe(rootSki);
      expect(await rootCert.verify({ signatureOnly: true })).toBe(true);

      // Intermediate: issuer bytes copied, AKI = root SKI, pathLen 0, CDP and AIA present.
      const sub = new x509.X509Certificate(intermediate);
      expect(sub.issuer).toBe(rootCert.subject);
      const subBc = sub.getExtension(x509.BasicConstraintsExtension)!;
      expect([subBc.critical, subBc.ca, subBc.pathLength]).toEqual([true, true, 0]);
      expect(sub.getExtension(x509.AuthorityKeyIdentifierExtension)!.keyId).toBe(rootSki);
      expect(sub.getExtension(x509.SubjectKeyIdentifierExtension)!.keyId).toBe(
        hex(keyIdentifier(subSigner.publicKeySpki)),
      );
      expect(sub.getExtension(x509.AuthorityInfoAccessExtension)!.ocsp[0]!.value).toBe("http://pki.example.test/ocsp");
      expect(certificateText(intermediate)).toContain("URI:http://pki.example.test/crl/root.crl");
      expect(
        Buffer.from(readCertificate(intermediate).issuer.der).equals(
          Buffer.from(readCertificate(root.der).subject.der),
        ),
      ).toBe(true);
    });

    it("makes a PKCS#10 request for an external parent that openssl verifies", async () => {
      const signer = createTestSigner(algorithm);
      const csr = await createCertificateSigningRequest({
        signer,
        subject: [{ type: "CN", value: `Sub CA ${algorithm}` }],
        extensions: [
          basicConstraintsExtension({ ca: true, pathLen: 0 }),
          keyUsageExtension(["keyCertSign", "cRLSign"]),
        ],
      });
      const result = openssl(["req", "-inform", "DER", "-verify", "-noout", "-text"], csr);
      expect(result.stderr).toMatch(/verify OK/);
      expect(result.stdout).toMatch(/Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
      expect(result.stdout).toContain("Subject: CN = Sub CA");
      // And our parser agrees, including proof of possession.
      const parsed = parseCsr(csr);
      expect(parsed.subjectString).toBe(`CN=Sub CA ${algorithm}`);
      expect(Buffer.from(parsed.publicKeySpki).equals(Buffer.from(signer.publicKeySpki))).toBe(true);
      expect(parsed.requestedExtensions.map((e) => e.oid)).toEqual(["2.5.29.19", "2.5.29.15"]);
    });
  },
);

describe("CA certificate safeguards", () => {
  it("refuses a signer that does not hold the issuer key, and a child outliving its issuer", async () => {
    const root = await makeRoot("ecdsa-p256");
    const other = createTestSigner("ecdsa-p256");
    const base = {
      issuerCertificateDer: root.der,
      subjectPublicKeySpki: other.publicKeySpki,
      subject: [{ type: "CN", value: "x" }],
    };
    await expect(
      createIntermediateCertificate({
        ...base,
        issuerSigner: other,
        validity: { notBefore: new Date(now), notAfter: new Date(now + day) },
      }),
    ).rejects.toThrow(/does not hold the issuer certificate's key/);
    await expect(
      createIntermediateCertificate({
        ...base,
        issuerSigner: root.signer,
        validity: { notBefore: new Date(now), notAfter: new Date(now + 4000 * day) },
      }),
    ).rejects.toThrow(/after the issuer's notAfter/);
  });

  it("enforces the issuer's pathLenConstraint", async () => {
    const root = await makeRoot("ed25519", 0);
    const sub = createTestSigner("ed25519");
    let error: unknown;
    try {
      await createIntermediateCertificate({
        issuerCertificateDer: root.der,
        issuerSigner: root.signer,
        subjectPublicKeySpki: sub.publicKeySpki,
        subject: [{ type: "CN", value: "too deep" }],
        validity: { notBefore: new Date(now), notAfter: new Date(now + day) },
      });
    } catch (err) {
      error = err;
    }
    expect(isChanceryError(error, "failed_precondition")).toBe(true);
  });

  it("refuses an empty CA subject (RFC 5280 §4.1.2.6)", async () => {
    await expect(
      createRootCertificate({
        signer: createTestSigner("ecdsa-p256"),
        subject: [],
        validity: { notBefore: new Date(now), notAfter: new Date(now + day) },
      }),
    ).rejects.toThrow(/non-empty subject/);
  });
});
