import * as x509 from "@peculiar/x509";
import { beforeAll, describe, expect, it } from "vitest";
import { createRootCertificate } from "../x509/ca-certificate.ts";
import { oids } from "../x509/oids.ts";
import { readCertificate } from "../x509/parse-certificate.ts";
import { certificateText, verifyChain } from "../x509/testing/openssl.ts";
import { createTestSigner } from "../x509/testing/test-signer.ts";
import {
  createResponderCertificate,
  defaultResponderBackdateSeconds,
  generateResponder,
  maxResponderLifetimeSeconds,
} from "./responder-certificate.ts";
import { createTestPki, type TestPki } from "./testing/test-pki.ts";

const second = 1000;
const day = 86_400 * second;

describe("delegated OCSP responder certificates", () => {
  let pki: TestPki;
  beforeAll(async () => {
    pki = await createTestPki();
  });

  it("carries EKU OCSPSigning only, nocheck, KU digitalSignature, CA:FALSE, and no AIA or CDP", async () => {
    const now = new Date(Date.now() + 1234);
    const responder = await generateResponder({
      issuerCertificateDer: pki.issuing.der,
      issuerSigner: pki.issuing.signer,
      now,
      lifetimeSeconds: 7 * 86_400,
    });
    const cert = new x509.X509Certificate(responder.certificate.der);
    const eku = cert.getExtension(x509.ExtendedKeyUsageExtension)!;
    expect(eku.usages).toEqual([x509.ExtendedKeyUsage.ocspSigning]);
    expect(eku.critical).toBe(false);
    const ku = cert.getExtension(x509.KeyUsagesExtension)!;
    expect([ku.critical, ku.usages]).toEqual([true, x509.KeyUsageFlags.digitalSignature]);
    const bc = cert.getExtension(x509.BasicConstraintsExtension)!;
    expect([bc.critical, bc.ca]).toEqual([true, false]);
    const nocheck = cert.getExtension(oids.ocspNoCheck)!;
    expect(nocheck.critical).toBe(false);
    expect(Buffer.from(nocheck.value).toString("hex")).toBe("0500");
    expect(cert.getExtension(oids.authorityInfoAccess)).toBeNull();
    expect(cert.getExtension(oids.crlDistributionPoints)).toBeNull();
    // AKI = the CA's SKI, issuer = the CA's subject.
    const ca = readCertificate(pki.issuing.der);
    expect(cert.getExtension(x509.AuthorityKeyIdentifierExtension)!.keyId).toBe(
      Buffer.from(ca.subjectKeyIdentifier!).toString("hex"),
    );
    expect(cert.issuer).toBe(ca.subject.text.split(",").reverse().join(", "));
    expect(cert.subject).toBe("C=CH, O=Chancery Test, CN=OCSP Test Issuing CA ecdsa-p256 OCSP Responder");
    expect(
      await cert.verify({ publicKey: new x509.X509Certificate(pki.issuing.der).publicKey, signatureOnly: true }),
    ).toBe(true);

    // Validity: backdated by the default, whole seconds, lifetime from now.
    const nowSeconds = Math.floor(now.getTime() / second) * second;
    expect(responder.certificate.notBefore.getTime()).toBe(nowSeconds - defaultResponderBackdateSeconds * second);
    expect(responder.certificate.notAfter.getTime()).toBe(nowSeconds + 7 * day);
    expect(cert.notBefore.getTime()).toBe(responder.certificate.notBefore.getTime());
    expect(cert.notAfter.getTime()).toBe(responder.certificate.notAfter.getTime());
    expect(responder.certificate.serialHex).toBe(cert.serialNumber.toLowerCase().replace(/^(00)+(?=[0-9a-f])/, ""));

    // The key matches its signer, and is of the CA's algorithm by default.
    expect(Buffer.from(responder.signer.publicKeySpki)).toEqual(
      Buffer.from(readCertificate(responder.certificate.der).publicKey.der),
    );
    expect(responder.signer.algorithm).toBe("ecdsa-p256");

    const text = certificateText(responder.certificate.der);
    expect(text).toContain("OCSP Signing");
    expect(text).toContain("OCSP No Check");
  });

  it("passes openssl verify -purpose ocsphelper against the CA chain", async () => {
    const responder = await generateResponder({
      issuerCertificateDer: pki.issuing.der,
      issuerSigner: pki.issuing.signer,
      now: new Date(),
      lifetimeSeconds: 86_400,
      algorithm: "rsa-2048",
    });
    expect(responder.signer.algorithm).toBe("rsa-2048");
    const result = verifyChain(pki.root.der, [pki.issuing.der], responder.certificate.der, ["-purpose", "ocsphelper"]);
    expect(result.stderr).toBe("");
    expect(result.stdout).toContain(": OK");
  });

  it("caps notAfter at the CA's notAfter and notBefore at the CA's notBefore", async () => {
    const ca = readCertificate(pki.issuing.der);
    const key = createTestSigner("ecdsa-p256");
    const nearEnd = await createResponderCertificate({
      issuerCertificateDer: pki.issuing.der,
      issuerSigner: pki.issuing.signer,
      responderPublicKeySpki: key.publicKeySpki,
      now: new Date(ca.notAfter.getTime() - day),
      lifetimeSeconds: 7 * 86_400,
    });
    expect(nearEnd.notAfter.getTime()).toBe(ca.notAfter.getTime());
    const atStart = await createResponderCertificate({
      issuerCertificateDer: pki.issuing.der,
      issuerSigner: pki.issuing.signer,
      responderPublicKeySpki: key.publicKeySpki,
      now: new Date(ca.notBefore.getTime() + 10 * second),
      lifetimeSeconds: 3600,
      backdateSeconds: 86_400,
    });
    expect(atStart.notBefore.getTime()).toBe(ca.notBefore.getTime());
  });

  it("keeps a long CA name's CN within 64 characters, and takes a given subject", async () => {
    const key = createTestSigner("ecdsa-p256");
    const longName = await createTestPkiWithName("Ä".repeat(60));
    const cert = await createResponderCertificate({
      issuerCertificateDer: longName.der,
      issuerSigner: longName.signer,
      responderPublicKeySpki: key.publicKeySpki,
      now: new Date(),
      lifetimeSeconds: 3600,
    });
    const cn = readCertificate(cert.der).subject.attributes.find((a) => a.type === "CN")!.value;
    expect(cn).toBe(`${"Ä".repeat(49)} OCSP Responder`);
    expect(Array.from(cn)).toHaveLength(64);
    const named = await createResponderCertificate({
      issuerCertificateDer: pki.issuing.der,
      issuerSigner: pki.issuing.signer,
      responderPublicKeySpki: key.publicKeySpki,
      now: new Date(),
      lifetimeSeconds: 3600,
      subject: [{ type: "CN", value: "ocsp.example" }],
    });
    expect(readCertificate(named.der).subject.text).toBe("CN=ocsp.example");
  });

  it("refuses long or empty lifetimes, a bad backdate, an expired CA and a signer that is not the CA's", async () => {
    const key = createTestSigner("ecdsa-p256");
    const base = {
      issuerCertificateDer: pki.issuing.der,
      issuerSigner: pki.issuing.signer,
      responderPublicKeySpki: key.publicKeySpki,
      now: new Date(),
      lifetimeSeconds: 3600,
    };
    const ca = readCertificate(pki.issuing.der);
    const cases: [object, string][] = [
      [{ lifetimeSeconds: maxResponderLifetimeSeconds + 1 }, "invalid_argument"],
      [{ lifetimeSeconds: 0 }, "invalid_argument"],
      [{ lifetimeSeconds: 1.5 }, "invalid_argument"],
      [{ backdateSeconds: -1 }, "invalid_argument"],
      [{ backdateSeconds: 86_401 }, "invalid_argument"],
      [{ now: new Date(Number.NaN) }, "invalid_argument"],
      [{ now: new Date(ca.notAfter.getTime() + second) }, "failed_precondition"],
      [{ issuerSigner: pki.root.signer }, "invalid_argument"],
    ];
    for (const [override, code] of cases) {
      const error = await createResponderCertificate({ ...base, ...override }).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(error, JSON.stringify(override)).toMatchObject({ code });
    }
  });
});

/** A root CA with the given CN only. */
async function createTestPkiWithName(cn: string) {
  const signer = createTestSigner("ecdsa-p256");
  const der = await createRootCertificate({
    signer,
    subject: [{ type: "CN", value: cn }],
    validity: { notBefore: new Date(Date.now() - day), notAfter: new Date(Date.now() + 30 * day) },
  });
  return { der, signer };
}
