import { readFileSync } from "node:fs";
import * as x509 from "@peculiar/x509";
import { afterAll, describe, expect, it } from "vitest";
import { createSoftwareSigner } from "../ca/software-signer.ts";
import { isChanceryError } from "../errors.ts";
import { createCertificateTemplate } from "../issuance/build-end-entity-certificate.ts";
import { createPolicyChecker } from "../issuance/policy-check.ts";
import { buildCaUrls } from "../profiles/ca-urls.ts";
import { createDefaultProfiles } from "../profiles/default-profiles.ts";
import { createCertificateSigningRequest } from "./certificate-signing-request.ts";
import { readCertificate } from "./parse-certificate.ts";
import { parseCsr } from "./parse-csr.ts";
import { pemDecode } from "./pem.ts";
import { generateSerial } from "./serial-number.ts";
import { createScratchDir, openssl, verifyChain } from "./testing/openssl.ts";
import { createTestSigner } from "./testing/test-signer.ts";

const scratch = createScratchDir();
afterAll(() => scratch.cleanup());

/** A CA certificate and key made entirely by openssl (as an imported external CA would be). */
function opensslCa() {
  const key = scratch.file("ext-ca.key", "");
  const cert = scratch.file("ext-ca.pem", "");
  const result = openssl([
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-384",
    "-nodes",
    "-keyout",
    key,
    "-out",
    cert,
    "-days",
    "30",
    "-subj",
    "/C=DE/O=External Ltd/CN=External Issuing CA",
    "-addext",
    "basicConstraints=critical,CA:TRUE,pathlen:2",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  if (!result.ok) throw new Error(result.stderr);
  const certDer = pemDecode(readFileSync(cert, "utf8"), ["CERTIFICATE"]);
  const keyDer = pemDecode(openssl(["pkcs8", "-topk8", "-nocrypt", "-in", key]).stdout, ["PRIVATE KEY"]);
  return { certDer, keyDer };
}

describe("readCertificate on a certificate openssl made", () => {
  const external = opensslCa();

  it("reads names, validity, key, SKI, basic constraints and key usage", () => {
    const view = readCertificate(external.certDer);
    const peculiar = new x509.X509Certificate(external.certDer);
    expect(view.subject.text).toBe("CN=External Issuing CA,O=External Ltd,C=DE");
    expect(view.issuer.text).toBe(view.subject.text);
    expect(view.notBefore.getTime()).toBe(peculiar.notBefore.getTime());
    expect(view.notAfter.getTime()).toBe(peculiar.notAfter.getTime());
    expect(view.serialHex).toBe(peculiar.serialNumber.toLowerCase().replace(/^(00)+/, ""));
    expect(view.publicKey.key).toEqual({ type: "ec", curve: "P-384", bits: 384 });
    // openssl's default SKI is RFC 5280 method 1 (SHA-1); we read whatever the certificate says.
    expect(Buffer.from(view.subjectKeyIdentifier!).toString("hex")).toBe(
      peculiar.getExtension(x509.SubjectKeyIdentifierExtension)!.keyId,
    );
    expect(view.basicConstraints).toEqual({ ca: true, pathLen: 2 });
    expect(view.keyUsage).toEqual(["keyCertSign", "cRLSign"]);
  });

  it("lets an imported CA issue through a template, with AKI = the CA's own SKI", async () => {
    const signer = createSoftwareSigner(external.keyDer, { threadPool: false });
    const profile = createDefaultProfiles().find((p) => p.name === "tls-server")!;
    const template = createCertificateTemplate({
      issuerCertificateDer: external.certDer,
      issuerSigner: signer,
      profile,
      urls: buildCaUrls("http://pki.example.test", "external"),
    });
    const csr = parseCsr(
      await createCertificateSigningRequest({
        signer: createTestSigner("ed25519"),
        subject: [{ type: "CN", value: "a.example.com" }],
      }),
    );
    const content = createPolicyChecker(profile).check({
      csr,
      request: { approved: { sans: [{ type: "dns", value: "a.example.com" }] } },
      issuer: {
        notBefore: template.issuer.notBefore,
        notAfter: template.issuer.notAfter,
        publicKeySpki: signer.publicKeySpki,
      },
      now: new Date(),
    });
    const issued = await template.issue(content, generateSerial());
    // The leaf cannot outlive the 30-day CA.
    expect(issued.notAfter.getTime()).toBe(template.issuer.notAfter.getTime());
    const leaf = new x509.X509Certificate(issued.der);
    expect(leaf.getExtension(x509.AuthorityKeyIdentifierExtension)!.keyId).toBe(
      Buffer.from(template.issuer.subjectKeyIdentifier!).toString("hex"),
    );
    const result = verifyChain(external.certDer, [], issued.der, ["-purpose", "sslserver"]);
    expect(result.stderr).toBe("");
    expect(result.ok).toBe(true);
  });

  it("reads a bytes object once: the same view again for it, a fresh read for a copy", () => {
    const der = new Uint8Array(external.certDer);
    const view = readCertificate(der);
    expect(readCertificate(der)).toBe(view);
    const copy = new Uint8Array(der);
    const other = readCertificate(copy);
    expect(other).not.toBe(view);
    expect(other.der).toBe(copy);
    expect(other.serialHex).toBe(view.serialHex);
  });

  it("throws invalid_argument for something that is not a certificate", () => {
    const inputs = [new Uint8Array(0), Uint8Array.of(0x30, 0x00), external.certDer.subarray(0, 100)];
    // Twice each: a refusal is not remembered as a view.
    for (const input of [...inputs, ...inputs]) {
      let error: unknown;
      try {
        readCertificate(input);
      } catch (err) {
        error = err;
      }
      expect(isChanceryError(error, "invalid_argument")).toBe(true);
    }
  });
});
