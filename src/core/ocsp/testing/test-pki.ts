import type { KeyAlgorithm } from "../../keys/key-algorithm.ts";
import { createIntermediateCertificate, createRootCertificate } from "../../x509/ca-certificate.ts";
import { basicConstraintsExtension, keyUsageExtension } from "../../x509/extensions.ts";
import { encodeName } from "../../x509/name.ts";
import { readCertificate } from "../../x509/parse-certificate.ts";
import { generateSerial } from "../../x509/serial-number.ts";
import { signCertificate } from "../../x509/sign-certificate.ts";
import { createTestSigner, type TestSigner } from "../../x509/testing/test-signer.ts";

const day = 86_400_000;

export interface TestCa {
  readonly der: Uint8Array;
  readonly signer: TestSigner;
}

export interface TestLeaf {
  readonly der: Uint8Array;
  /** INTEGER content octets. */
  readonly serialNumber: Uint8Array;
  readonly serialHex: string;
}

export interface TestPki {
  readonly root: TestCa;
  readonly issuing: TestCa;
  /** Issues a minimal end-entity certificate from the issuing CA (openssl only needs its issuer and serial). */
  leaf(commonName: string): Promise<TestLeaf>;
}

/**
 * Test-only: a root, an issuing CA under it, and leaves from the issuing CA,
 * built with our own X.509 code, for OCSP requests and responses that
 * openssl then checks.
 */
export async function createTestPki(algorithm: KeyAlgorithm = "ecdsa-p256"): Promise<TestPki> {
  const now = Date.now();
  const rootSigner = createTestSigner(algorithm);
  const rootDer = await createRootCertificate({
    signer: rootSigner,
    subject: [
      { type: "O", value: "Chancery Test" },
      { type: "CN", value: `OCSP Test Root ${algorithm}` },
    ],
    validity: { notBefore: new Date(now - 10 * day), notAfter: new Date(now + 3650 * day) },
  });
  const issuingSigner = createTestSigner(algorithm);
  const issuingDer = await createIntermediateCertificate({
    issuerCertificateDer: rootDer,
    issuerSigner: rootSigner,
    subjectPublicKeySpki: issuingSigner.publicKeySpki,
    subject: [
      { type: "C", value: "CH" },
      { type: "O", value: "Chancery Test" },
      { type: "CN", value: `OCSP Test Issuing CA ${algorithm}` },
    ],
    validity: { notBefore: new Date(now - 10 * day), notAfter: new Date(now + 1000 * day) },
    pathLen: 0,
  });
  const issuing = readCertificate(issuingDer);
  return {
    root: { der: rootDer, signer: rootSigner },
    issuing: { der: issuingDer, signer: issuingSigner },
    async leaf(commonName) {
      const key = createTestSigner("ecdsa-p256");
      const serial = generateSerial();
      const der = await signCertificate(
        {
          serial,
          issuerDer: issuing.subject.der,
          validity: { notBefore: new Date(now - day), notAfter: new Date(now + 90 * day) },
          subjectDer: encodeName([{ type: "CN", value: commonName }]),
          subjectPublicKeySpki: key.publicKeySpki,
          extensions: [basicConstraintsExtension({ ca: false }), keyUsageExtension(["digitalSignature"])],
        },
        issuingSigner,
      );
      return { der, serialNumber: serial.der, serialHex: serial.hex };
    },
  };
}
