import * as x509 from "@peculiar/x509";
import { describe, expect, it } from "vitest";
import { ChanceryError, isChanceryError } from "../errors.ts";
import type { KeyAlgorithm } from "../keys/key-algorithm.ts";
import { buildCaUrls } from "../profiles/ca-urls.ts";
import { createDefaultProfiles } from "../profiles/default-profiles.ts";
import { type Profile, type ProfileInput, parseProfile } from "../profiles/profile-schema.ts";
import { createIntermediateCertificate, createRootCertificate } from "../x509/ca-certificate.ts";
import { createCertificateSigningRequest } from "../x509/certificate-signing-request.ts";
import { utf8String } from "../x509/der-writer.ts";
import {
  basicConstraintsExtension,
  type Extension,
  keyUsageExtension,
  type NameConstraints,
  subjectAltNameExtension,
} from "../x509/extensions.ts";
import type { SubjectAltName } from "../x509/general-name.ts";
import type { NameAttribute } from "../x509/name.ts";
import { readCertificate } from "../x509/parse-certificate.ts";
import { parseCsr } from "../x509/parse-csr.ts";
import { createSerialGenerator, generateSerial } from "../x509/serial-number.ts";
import { keyIdentifier } from "../x509/subject-public-key-info.ts";
import { asn1parse, certificateText, openssl, verifyChain } from "../x509/testing/openssl.ts";
import { createTestSigner, type TestSigner } from "../x509/testing/test-signer.ts";
import { createCertificateTemplate } from "./build-end-entity-certificate.ts";
import { createPolicyChecker } from "./policy-check.ts";

const day = 86_400_000;
const hex = (bytes: Uint8Array | ArrayBuffer) => Buffer.from(bytes as Uint8Array).toString("hex");
const defaults = Object.fromEntries(createDefaultProfiles().map((p) => [p.name, p]));
const urls = buildCaUrls("http://pki.example.test", "issuing-1");

interface Chain {
  rootDer: Uint8Array;
  intermediateDer: Uint8Array;
  intermediateSigner: TestSigner;
}

async function createChain(
  algorithm: KeyAlgorithm,
  options: { nameConstraints?: NameConstraints; intermediateDays?: number } = {},
): Promise<Chain> {
  const now = Date.now();
  const rootSigner = createTestSigner(algorithm);
  const rootDer = await createRootCertificate({
    signer: rootSigner,
    subject: [
      { type: "O", value: "Chancery Test" },
      { type: "CN", value: `Root ${algorithm}` },
    ],
    validity: { notBefore: new Date(now - day), notAfter: new Date(now + 3650 * day) },
  });
  const intermediateSigner = createTestSigner(algorithm);
  const intermediateDer = await createIntermediateCertificate({
    issuerCertificateDer: rootDer,
    issuerSigner: rootSigner,
    subjectPublicKeySpki: intermediateSigner.publicKeySpki,
    subject: [
      { type: "O", value: "Chancery Test" },
      { type: "CN", value: `Issuing ${algorithm}` },
    ],
    validity: { notBefore: new Date(now - day), notAfter: new Date(now + (options.intermediateDays ?? 1825) * day) },
    pathLen: 0,
    nameConstraints: options.nameConstraints,
    crlUrl: "http://pki.example.test/crl/root.crl",
    caIssuersUrl: "http://pki.example.test/ca/root.cer",
  });
  return { rootDer, intermediateDer, intermediateSigner };
}

/** The whole pipeline minus the database: CSR -> parse -> policy -> template.issue. */
async function issue(
  chain: Chain,
  profile: Profile,
  request: {
    algorithm?: KeyAlgorithm;
    csrSubject?: NameAttribute[];
    csrExtensions?: Extension[];
    sans: SubjectAltName[];
    subject?: NameAttribute[];
    validity?: { notBefore?: Date; notAfter?: Date };
  },
) {
  const leafSigner = createTestSigner(request.algorithm ?? "ecdsa-p256");
  const csr = parseCsr(
    await createCertificateSigningRequest({
      signer: leafSigner,
      subject: request.csrSubject ?? [{ type: "CN", value: request.sans[0]?.value ?? "leaf" }],
      extensions: request.csrExtensions,
    }),
  );
  const template = createCertificateTemplate({
    issuerCertificateDer: chain.intermediateDer,
    issuerSigner: chain.intermediateSigner,
    profile,
    urls,
  });
  const content = createPolicyChecker(profile).check({
    csr,
    request: { approved: { sans: request.sans, subject: request.subject }, validity: request.validity },
    issuer: {
      notBefore: template.issuer.notBefore,
      notAfter: template.issuer.notAfter,
      publicKeySpki: template.issuer.publicKey.der,
    },
    now: new Date(),
  });
  const issued = await template.issue(content, generateSerial());
  return { issued, cert: new x509.X509Certificate(issued.der), leafSigner, template };
}

function withProfile(base: Profile, changes: Partial<ProfileInput>): Profile {
  return parseProfile({ ...base, ...changes });
}

describe.each<KeyAlgorithm>(["ecdsa-p256", "ecdsa-p384", "rsa-2048", "ed25519"])(
  "root + intermediate + leaf, %s",
  (algorithm) => {
    it("issues a tls-server leaf that openssl verifies strictly for TLS server use", async () => {
      const chain = await createChain(algorithm);
      const { issued, cert, leafSigner } = await issue(chain, defaults["tls-server"]!, {
        algorithm,
        sans: [
          { type: "dns", value: "www.example.com" },
          { type: "ip", value: "192.0.2.80" },
        ],
      });

      const result = verifyChain(chain.rootDer, [chain.intermediateDer], issued.der, ["-purpose", "sslserver"]);
      expect(result.stderr).toBe("");
      expect(result.stdout).toMatch(/: OK\s*$/);

      // Field by field with @peculiar/x509.
      const intermediate = new x509.X509Certificate(chain.intermediateDer);
      expect(cert.issuer).toBe(intermediate.subject);
      expect(cert.subject).toBe("CN=www.example.com");
      const bc = cert.getExtension(x509.BasicConstraintsExtension)!;
      expect([bc.critical, bc.ca]).toEqual([true, false]);
      const ku = cert.getExtension(x509.KeyUsagesExtension)!;
      expect(ku.critical).toBe(true);
      // keyEncipherment only for RSA keys (RFC 8813 §3 and RFC 8410 §5 forbid it for EC and Ed25519).
      expect(ku.usages).toBe(
        algorithm.startsWith("rsa")
          ? x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment
          : x509.KeyUsageFlags.digitalSignature,
      );
      const eku = cert.getExtension(x509.ExtendedKeyUsageExtension)!;
      expect([eku.critical, eku.usages]).toEqual([false, ["1.3.6.1.5.5.7.3.1"]]);
      expect(cert.getExtension(x509.SubjectKeyIdentifierExtension)!.keyId).toBe(
        hex(keyIdentifier(leafSigner.publicKeySpki)),
      );
      expect(cert.getExtension(x509.AuthorityKeyIdentifierExtension)!.keyId).toBe(
        intermediate.getExtension(x509.SubjectKeyIdentifierExtension)!.keyId,
      );
      const san = cert.getExtension(x509.SubjectAlternativeNameExtension)!;
      expect(san.critical).toBe(false);
      expect(san.names.items.map((n) => [n.type, n.value])).toEqual([
        ["dns", "www.example.com"],
        ["ip", "192.0.2.80"],
      ]);
      const cdp = cert.getExtension(x509.CRLDistributionPointsExtension)!;
      expect(cdp.distributionPoints[0]!.distributionPoint!.fullName![0]!.uniformResourceIdentifier).toBe(urls.crl);
      const aia = cert.getExtension(x509.AuthorityInfoAccessExtension)!;
      expect(aia.ocsp.map((n) => n.value)).toEqual([urls.ocsp]);
      expect(aia.caIssuers.map((n) => n.value)).toEqual([urls.caIssuers]);
      expect(cert.getExtension("1.3.6.1.5.5.7.1.24")).toBeNull();
      expect(await cert.verify({ publicKey: intermediate.publicKey, signatureOnly: true })).toBe(true);

      // The facts returned for the store match what openssl reads from the DER.
      const serial = openssl(["x509", "-inform", "DER", "-noout", "-serial"], issued.der).stdout.trim();
      expect(serial.replace("serial=", "").toLowerCase().replace(/^0+/, "")).toBe(issued.serialHex.replace(/^0+/, ""));
      const fingerprint = openssl(["x509", "-inform", "DER", "-noout", "-fingerprint", "-sha256"], issued.der).stdout;
      expect(fingerprint.split("=")[1]!.trim().replace(/:/g, "").toLowerCase()).toBe(issued.fingerprintSha256);
      expect(issued.subject).toBe("CN=www.example.com");
      expect(issued.sans).toEqual([
        { type: "dns", value: "www.example.com" },
        { type: "ip", value: "192.0.2.80" },
      ]);
      expect(cert.notBefore.getTime()).toBe(issued.notBefore.getTime());
      expect(cert.notAfter.getTime()).toBe(issued.notAfter.getTime());
      expect(hex(issued.authorityKeyIdentifier)).toBe(
        intermediate.getExtension(x509.SubjectKeyIdentifierExtension)!.keyId,
      );
      expect(issued.shortLived).toBe(false);
      // And the DER is well-formed to openssl's own ASN.1 parser, down to the last byte.
      expect(asn1parse(issued.der)).toMatch(/^\s*0:d=0\s+hl=\d\s+l=\s*\d+ cons: SEQUENCE/);
    });
  },
);

describe("what the CSR asks for does not matter", () => {
  it("a CSR asking for CA:TRUE and keyCertSign yields a CA:FALSE end-entity certificate", async () => {
    const chain = await createChain("ecdsa-p256");
    const { issued, cert } = await issue(chain, defaults["tls-server"]!, {
      sans: [{ type: "dns", value: "sneaky.example.com" }],
      csrExtensions: [
        basicConstraintsExtension({ ca: true }),
        keyUsageExtension(["keyCertSign", "cRLSign", "digitalSignature"]),
      ],
    });
    const bc = cert.getExtension(x509.BasicConstraintsExtension)!;
    expect(bc.ca).toBe(false);
    expect(cert.getExtension(x509.KeyUsagesExtension)!.usages).toBe(x509.KeyUsageFlags.digitalSignature);
    const text = certificateText(issued.der);
    expect(text).toMatch(/Basic Constraints: critical\s+CA:FALSE/);
    expect(text).not.toContain("Certificate Sign");
    // openssl refuses to use it as a CA.
    const asCa = openssl(["x509", "-inform", "DER", "-noout", "-purpose"], issued.der).stdout;
    expect(asCa).toMatch(/SSL server CA : No/);
  });

  it("SANs in the CSR that the approved request does not list are not in the certificate", async () => {
    const chain = await createChain("ecdsa-p256");
    const { cert } = await issue(chain, defaults["tls-server"]!, {
      csrSubject: [{ type: "CN", value: "approved.example.com" }],
      csrExtensions: [
        subjectAltNameExtension(
          [
            { type: "dns", value: "approved.example.com" },
            { type: "dns", value: "bank.example.net" },
            { type: "ip", value: "10.0.0.1" },
          ],
          false,
        ),
      ],
      sans: [{ type: "dns", value: "approved.example.com" }],
    });
    const names = cert.getExtension(x509.SubjectAlternativeNameExtension)!.names.items.map((n) => n.value);
    expect(names).toEqual(["approved.example.com"]);
  });

  it("subject attributes outside the profile are dropped", async () => {
    const chain = await createChain("ecdsa-p256");
    const { cert } = await issue(chain, defaults["tls-server"]!, {
      csrSubject: [
        { type: "C", value: "US" },
        { type: "O", value: "Definitely Google" },
        { type: "CN", value: "x.example.com" },
      ],
      sans: [{ type: "dns", value: "x.example.com" }],
    });
    expect(cert.subject).toBe("CN=x.example.com");
  });
});

describe("extension rules", () => {
  it("an empty subject makes the SAN extension critical (RFC 5280 §4.2.1.6), and openssl -x509_strict agrees", async () => {
    const chain = await createChain("ecdsa-p256");
    const { issued, cert } = await issue(chain, defaults["tls-server"]!, {
      csrSubject: [],
      sans: [{ type: "dns", value: "nameless.example.com" }],
    });
    expect(cert.subject).toBe("");
    expect(cert.getExtension(x509.SubjectAlternativeNameExtension)!.critical).toBe(true);
    expect(issued.subject).toBe("");
    expect(verifyChain(chain.rootDer, [chain.intermediateDer], issued.der).stdout).toMatch(/: OK/);
  });

  it("encodes an IPv6 SAN as 16 octets", async () => {
    const chain = await createChain("ecdsa-p256");
    const { issued, cert } = await issue(chain, defaults["tls-server"]!, {
      csrSubject: [],
      sans: [
        { type: "ip", value: "2001:0DB8:0000:0000:0000:0000:0000:0001" },
        { type: "ip", value: "::ffff:192.0.2.1" },
      ],
    });
    expect(issued.sans).toEqual([
      { type: "ip", value: "2001:db8::1" },
      { type: "ip", value: "::ffff:192.0.2.1" },
    ]);
    const san = cert.getExtension(x509.SubjectAlternativeNameExtension)!;
    expect(hex(san.value)).toBe(
      `3024${"8710"}20010db8000000000000000000000001${"8710"}00000000000000000000ffffc0000201`,
    );
    expect(certificateText(issued.der)).toContain("IP Address:2001:DB8:0:0:0:0:0:1");
    expect(verifyChain(chain.rootDer, [chain.intermediateDer], issued.der, ["-purpose", "sslserver"]).ok).toBe(true);
  });

  it("adds OCSP must-staple (RFC 7633) when the profile asks", async () => {
    const chain = await createChain("ecdsa-p256");
    const profile = withProfile(defaults["tls-server"]!, { ocspMustStaple: true });
    const { issued, cert } = await issue(chain, profile, { sans: [{ type: "dns", value: "staple.example.com" }] });
    const feature = cert.getExtension("1.3.6.1.5.5.7.1.24")!;
    expect(feature.critical).toBe(false);
    expect(hex(feature.value)).toBe("3003020105");
    expect(certificateText(issued.der)).toMatch(/TLS Feature:\s+status_request/);
    expect(verifyChain(chain.rootDer, [chain.intermediateDer], issued.der).ok).toBe(true);
  });

  it("short-lived certificates carry no CRL/OCSP pointers and say noRevAvail (RFC 9608)", async () => {
    const chain = await createChain("ecdsa-p256");
    const profile = withProfile(defaults["tls-server"]!, { ocspMustStaple: true });
    const { issued, cert } = await issue(chain, profile, {
      sans: [{ type: "dns", value: "brief.example.com" }],
      validity: { notAfter: new Date(Date.now() + 3 * day) },
    });
    expect(issued.shortLived).toBe(true);
    expect(cert.getExtension(x509.CRLDistributionPointsExtension)).toBeNull();
    const aia = cert.getExtension(x509.AuthorityInfoAccessExtension)!;
    expect(aia.ocsp).toEqual([]);
    expect(aia.caIssuers.map((n) => n.value)).toEqual([urls.caIssuers]);
    expect(cert.getExtension("1.3.6.1.5.5.7.1.24")).toBeNull();
    const noRevAvail = cert.getExtension("2.5.29.56")!;
    expect([noRevAvail.critical, hex(noRevAvail.value)]).toEqual([false, "0500"]);
    expect(verifyChain(chain.rootDer, [chain.intermediateDer], issued.der).ok).toBe(true);
  });

  it("adds certificate policies and custom extensions from the profile", async () => {
    const chain = await createChain("ecdsa-p256");
    const profile = withProfile(defaults["device"]!, {
      certificatePolicies: [{ oid: "1.3.6.1.4.1.99999.1.2", cpsUri: "http://pki.example.test/cps" }],
      customExtensions: [
        {
          oid: "1.3.6.1.4.1.99999.3",
          critical: false,
          valueBase64: Buffer.from(utf8String("tag-7")).toString("base64"),
        },
      ],
    });
    const { issued, cert } = await issue(chain, profile, {
      csrSubject: [{ type: "CN", value: "device-7" }],
      sans: [{ type: "uri", value: "urn:dev:7" }],
    });
    expect(cert.getExtension(x509.CertificatePolicyExtension)!.policies).toEqual(["1.3.6.1.4.1.99999.1.2"]);
    expect(hex(cert.getExtension("1.3.6.1.4.1.99999.3")!.value)).toBe(hex(utf8String("tag-7")));
    expect(cert.getExtension(x509.ExtendedKeyUsageExtension)!.usages).toEqual(["1.3.6.1.5.5.7.3.2"]);
    expect(certificateText(issued.der)).toContain("CPS: http://pki.example.test/cps");
    expect(verifyChain(chain.rootDer, [chain.intermediateDer], issued.der, ["-purpose", "sslclient"]).ok).toBe(true);
  });
});

describe("validity in the issued certificate", () => {
  it("notAfter is capped by the issuer's notAfter, and the chain still verifies", async () => {
    const chain = await createChain("ecdsa-p256", { intermediateDays: 20 });
    const { issued } = await issue(chain, defaults["tls-server"]!, {
      sans: [{ type: "dns", value: "capped.example.com" }],
    });
    const intermediate = readCertificate(chain.intermediateDer);
    expect(issued.notAfter.getTime()).toBe(intermediate.notAfter.getTime());
    expect(readCertificate(issued.der).notAfter.getTime()).toBe(intermediate.notAfter.getTime());
    expect(verifyChain(chain.rootDer, [chain.intermediateDer], issued.der).ok).toBe(true);
  });

  it("notAfter is capped by the profile maximum", async () => {
    const chain = await createChain("ecdsa-p256");
    const { issued } = await issue(chain, defaults["tls-server"]!, {
      sans: [{ type: "dns", value: "long.example.com" }],
      validity: { notAfter: new Date(Date.now() + 1000 * day) },
    });
    const seconds = (issued.notAfter.getTime() - issued.notBefore.getTime()) / 1000 + 1;
    expect(seconds).toBe(397 * 86_400);
    const text = certificateText(issued.der);
    expect(text).toContain(`Not After : ${opensslDate(issued.notAfter)}`);
  });
});

function opensslDate(date: Date): string {
  const months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  const pad = (n: number) => String(n).padStart(2, "0");
  const dayOfMonth = String(date.getUTCDate()).padStart(2, " ");
  return `${months[date.getUTCMonth()]} ${dayOfMonth} ${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} ${date.getUTCFullYear()} GMT`;
}

// Name constraints of the issuing CA (refusal here, rejection by openssl): issuer-name-constraints.test.ts.

describe("CA profiles through the template", () => {
  it("issues a subordinate CA with pathLen, name constraints and no noRevAvail", async () => {
    const now = Date.now();
    const rootSigner = createTestSigner("ecdsa-p256");
    const rootDer = await createRootCertificate({
      signer: rootSigner,
      subject: [{ type: "CN", value: "Root for sub-CAs" }],
      validity: { notBefore: new Date(now - day), notAfter: new Date(now + 3650 * day) },
      pathLenConstraint: 1,
    });
    const profile = parseProfile({
      name: "sub-ca",
      validity: { default: "1825d", max: "3650d" },
      keyUsage: ["digitalSignature", "keyCertSign", "cRLSign"],
      basicConstraints: { ca: true, pathLen: 0 },
      nameConstraints: { permitted: { dns: ["corp.example.com"] } },
      san: { allowedTypes: [], required: false },
      subject: { keep: ["O", "CN"], required: ["CN"] },
      shortLived: { thresholdSeconds: "3650d", noRevAvail: true },
    });
    const template = createCertificateTemplate({
      issuerCertificateDer: rootDer,
      issuerSigner: rootSigner,
      profile,
      urls,
    });
    const sub = createTestSigner("ecdsa-p256");
    const csr = parseCsr(
      await createCertificateSigningRequest({ signer: sub, subject: [{ type: "CN", value: "Corp CA" }] }),
    );
    const content = createPolicyChecker(profile).check({
      csr,
      request: { approved: { sans: [] } },
      issuer: {
        notBefore: template.issuer.notBefore,
        notAfter: template.issuer.notAfter,
        publicKeySpki: rootSigner.publicKeySpki,
      },
      now: new Date(),
    });
    const issued = await template.issue(content, createSerialGenerator()());
    const cert = new x509.X509Certificate(issued.der);
    const bc = cert.getExtension(x509.BasicConstraintsExtension)!;
    expect([bc.critical, bc.ca, bc.pathLength]).toEqual([true, true, 0]);
    expect(cert.getExtension(x509.KeyUsagesExtension)!.usages).toBe(
      x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
    );
    expect(cert.getExtension("2.5.29.30")!.critical).toBe(true);
    // RFC 9608 §4: never noRevAvail in a CA certificate, whatever the short-lived setting.
    expect(cert.getExtension("2.5.29.56")).toBeNull();
    expect(issued.shortLived).toBe(false);
    expect(verifyChain(rootDer, [], issued.der).ok).toBe(true);
  });
});

describe("template preconditions", () => {
  it("refuses a signer that does not match the issuer certificate", async () => {
    const chain = await createChain("ecdsa-p256");
    expect(() =>
      createCertificateTemplate({
        issuerCertificateDer: chain.intermediateDer,
        issuerSigner: createTestSigner("ecdsa-p256"),
        profile: defaults["tls-server"]!,
        urls,
      }),
    ).toThrow(/does not hold the issuer certificate's key/);
  });

  it("refuses an issuer that is not a CA, and a profile needing URLs without them", async () => {
    const chain = await createChain("ecdsa-p256");
    const { issued, leafSigner } = await issue(chain, defaults["tls-server"]!, {
      sans: [{ type: "dns", value: "leaf.example.com" }],
    });
    let error: unknown;
    try {
      createCertificateTemplate({
        issuerCertificateDer: issued.der,
        issuerSigner: leafSigner,
        profile: defaults["tls-server"]!,
        urls,
      });
    } catch (err) {
      error = err;
    }
    expect(isChanceryError(error, "failed_precondition")).toBe(true);
    expect(() =>
      createCertificateTemplate({
        issuerCertificateDer: chain.intermediateDer,
        issuerSigner: chain.intermediateSigner,
        profile: defaults["tls-server"]!,
      }),
    ).toThrow(ChanceryError);
  });

  it("refuses a sub-CA profile below an issuer with pathLen 0", async () => {
    const chain = await createChain("ecdsa-p256");
    const profile = parseProfile({
      name: "sub-ca",
      validity: { default: "365d", max: "365d" },
      keyUsage: ["keyCertSign", "cRLSign"],
      basicConstraints: { ca: true, pathLen: 0 },
    });
    expect(() =>
      createCertificateTemplate({
        issuerCertificateDer: chain.intermediateDer,
        issuerSigner: chain.intermediateSigner,
        profile,
        urls,
      }),
    ).toThrow(/pathLenConstraint/);
  });

  it("gives each certificate its own positive serial, as openssl reads it", async () => {
    const chain = await createChain("ed25519");
    const template = createCertificateTemplate({
      issuerCertificateDer: chain.intermediateDer,
      issuerSigner: chain.intermediateSigner,
      profile: defaults["tls-server"]!,
      urls,
    });
    const csr = parseCsr(await createCertificateSigningRequest({ signer: createTestSigner("ed25519"), subject: [] }));
    const content = createPolicyChecker(defaults["tls-server"]!).check({
      csr,
      request: { approved: { sans: [{ type: "dns", value: "many.example.com" }] } },
      issuer: {
        notBefore: template.issuer.notBefore,
        notAfter: template.issuer.notAfter,
        publicKeySpki: template.issuer.publicKey.der,
      },
      now: new Date(),
    });
    const next = createSerialGenerator();
    const serials = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const issued = await template.issue(content, next());
      const dump = asn1parse(issued.der);
      // The second element of the TBSCertificate is the serial: a positive INTEGER of at most 17 octets.
      // (The first INTEGER is the version, exactly 02; a serial may start with 02, so compare whole values.)
      const line = dump.split("\n").find((l) => /prim: INTEGER\s+:/.test(l) && !/:02\s*$/.test(l))!;
      // Minimal DER: 16 random octets, plus a 00 sign octet when the top bit is set, minus leading zero
      // octets (1 in 256 serials starts with one, so 15 is normal; fewer than 9 has probability 2^-64).
      // Regression: the old /l=1[67]/ failed about once in 13 runs.
      const length = Number(/l=\s*(\d+) prim: INTEGER\s+:[0-9A-F]+/.exec(line)?.[1]);
      expect(length).toBeGreaterThanOrEqual(9);
      expect(length).toBeLessThanOrEqual(17);
      expect(line.split(":").pop()!.toLowerCase().replace(/^0+/, "")).toBe(issued.serialHex.replace(/^0+/, ""));
      serials.add(issued.serialHex);
    }
    expect(serials.size).toBe(20);
  });
});
