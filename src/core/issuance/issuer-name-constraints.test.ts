import { describe, expect, it } from "vitest";
import type { Signer } from "../ca/signer.ts";
import { type ChanceryError, isChanceryError } from "../errors.ts";
import { buildCaUrls } from "../profiles/ca-urls.ts";
import { createDefaultProfiles } from "../profiles/default-profiles.ts";
import type { Profile } from "../profiles/profile-schema.ts";
import { createIntermediateCertificate, createRootCertificate } from "../x509/ca-certificate.ts";
import { createCertificateSigningRequest } from "../x509/certificate-signing-request.ts";
import { contextConstructed, sequence, tlv } from "../x509/der-writer.ts";
import {
  authorityKeyIdentifierExtension,
  basicConstraintsExtension,
  type Extension,
  extendedKeyUsageExtension,
  keyUsageExtension,
  type NameConstraints,
  subjectAltNameExtension,
  subjectKeyIdentifierExtension,
} from "../x509/extensions.ts";
import type { SubjectAltName } from "../x509/general-name.ts";
import { encodeName, type NameAttribute } from "../x509/name.ts";
import { oids } from "../x509/oids.ts";
import { readCertificate } from "../x509/parse-certificate.ts";
import { parseCsr } from "../x509/parse-csr.ts";
import { generateSerial } from "../x509/serial-number.ts";
import { signCertificate } from "../x509/sign-certificate.ts";
import { keyIdentifier } from "../x509/subject-public-key-info.ts";
import { verifyChain } from "../x509/testing/openssl.ts";
import { createTestSigner, type TestSigner } from "../x509/testing/test-signer.ts";
import { createCertificateTemplate } from "./build-end-entity-certificate.ts";
import { createPolicyChecker } from "./policy-check.ts";

/**
 * The issuing CA's name constraints (RFC 5280 §4.2.1.10) through the real
 * pipeline (CSR -> policy -> template), checked against `openssl verify`:
 * what we refuse, openssl rejects when it is built anyway.
 */

const day = 86_400_000;
const defaults = Object.fromEntries(createDefaultProfiles().map((p) => [p.name, p]));
const urls = buildCaUrls("http://pki.example.test", "issuing-1");

interface Chain {
  rootDer: Uint8Array;
  rootSigner: TestSigner;
  intermediateDer: Uint8Array;
  intermediateSigner: TestSigner;
}

async function createRoot(nameConstraints?: NameConstraints): Promise<{ rootDer: Uint8Array; rootSigner: TestSigner }> {
  const now = Date.now();
  const rootSigner = createTestSigner("ecdsa-p256");
  const rootDer = await createRootCertificate({
    signer: rootSigner,
    subject: [
      { type: "O", value: "Chancery Test" },
      { type: "CN", value: "Root" },
    ],
    validity: { notBefore: new Date(now - day), notAfter: new Date(now + 3650 * day) },
    nameConstraints,
  });
  return { rootDer, rootSigner };
}

async function createChain(
  nameConstraints: NameConstraints | undefined,
  rootConstraints?: NameConstraints,
): Promise<Chain> {
  const { rootDer, rootSigner } = await createRoot(rootConstraints);
  const intermediateSigner = createTestSigner("ecdsa-p256");
  const now = Date.now();
  const intermediateDer = await createIntermediateCertificate({
    issuerCertificateDer: rootDer,
    issuerSigner: rootSigner,
    subjectPublicKeySpki: intermediateSigner.publicKeySpki,
    subject: [
      { type: "O", value: "Chancery Test" },
      { type: "CN", value: "Issuing" },
    ],
    validity: { notBefore: new Date(now - day), notAfter: new Date(now + 1825 * day) },
    pathLen: 0,
    nameConstraints,
  });
  return { rootDer, rootSigner, intermediateDer, intermediateSigner };
}

/** An intermediate whose nameConstraints extension value is given as DER (forms our encoder does not write). */
async function createChainWithRawConstraints(value: Uint8Array): Promise<Chain> {
  const { rootDer, rootSigner } = await createRoot();
  const intermediateSigner = createTestSigner("ecdsa-p256");
  const now = Date.now();
  const intermediateDer = await signCertificate(
    {
      serial: generateSerial(),
      issuerDer: readCertificate(rootDer).subject.der,
      validity: { notBefore: new Date(now - day), notAfter: new Date(now + 1825 * day) },
      subjectDer: encodeName([
        { type: "O", value: "Chancery Test" },
        { type: "CN", value: "Issuing (dirName)" },
      ]),
      subjectPublicKeySpki: intermediateSigner.publicKeySpki,
      extensions: [
        basicConstraintsExtension({ ca: true, pathLen: 0 }),
        keyUsageExtension(["digitalSignature", "keyCertSign", "cRLSign"]),
        subjectKeyIdentifierExtension(keyIdentifier(intermediateSigner.publicKeySpki)),
        authorityKeyIdentifierExtension(keyIdentifier(rootSigner.publicKeySpki)),
        { oid: oids.nameConstraints, critical: true, value },
      ],
    },
    rootSigner,
  );
  return { rootDer, rootSigner, intermediateDer, intermediateSigner };
}

interface LeafRequest {
  subject: NameAttribute[];
  sans: SubjectAltName[];
}

/** CSR -> parse -> policy -> template.issue, as issuance-service does it. */
async function issueThroughPipeline(
  chain: Chain,
  profile: Profile,
  leaf: LeafRequest,
  chainDer?: Uint8Array[],
): Promise<Uint8Array> {
  const csr = parseCsr(
    await createCertificateSigningRequest({ signer: createTestSigner("ecdsa-p256"), subject: leaf.subject }),
  );
  const template = createCertificateTemplate({
    issuerCertificateDer: chain.intermediateDer,
    issuerSigner: chain.intermediateSigner,
    profile,
    urls,
    chainDer,
  });
  const content = createPolicyChecker(profile).check({
    csr,
    request: { approved: { sans: leaf.sans } },
    issuer: {
      notBefore: template.issuer.notBefore,
      notAfter: template.issuer.notAfter,
      publicKeySpki: template.issuer.publicKey.der,
    },
    now: new Date(),
  });
  return (await template.issue(content, generateSerial())).der;
}

async function refusal(promise: Promise<unknown>): Promise<ChanceryError> {
  try {
    await promise;
  } catch (err) {
    if (isChanceryError(err)) return err;
    throw err;
  }
  throw new Error("expected the issuance to be refused");
}

/** A leaf signed by the intermediate's key without going through policy or template: what a careless CA would issue. */
async function signBypassingPolicy(chain: Chain, leaf: LeafRequest): Promise<Uint8Array> {
  const leafSigner: Signer = createTestSigner("ecdsa-p256");
  const now = Date.now();
  const extensions: Extension[] = [
    basicConstraintsExtension({ ca: false }),
    keyUsageExtension(["digitalSignature"]),
    extendedKeyUsageExtension(["serverAuth", "clientAuth"]),
    subjectKeyIdentifierExtension(keyIdentifier(leafSigner.publicKeySpki)),
    authorityKeyIdentifierExtension(keyIdentifier(chain.intermediateSigner.publicKeySpki)),
  ];
  if (leaf.sans.length > 0) extensions.push(subjectAltNameExtension(leaf.sans, leaf.subject.length === 0));
  return signCertificate(
    {
      serial: generateSerial(),
      issuerDer: readCertificate(chain.intermediateDer).subject.der,
      validity: { notBefore: new Date(now - 60_000), notAfter: new Date(now + 30 * day) },
      subjectDer: encodeName(leaf.subject),
      subjectPublicKeySpki: leafSigner.publicKeySpki,
      extensions,
    },
    chain.intermediateSigner,
  );
}

function opensslVerdict(chain: Chain, leafDer: Uint8Array): string {
  const result = verifyChain(chain.rootDer, [chain.intermediateDer], leafDer);
  return result.ok ? "OK" : result.stdout + result.stderr;
}

describe("an intermediate permitting dns example.com and ip 10.0.0.0/8", () => {
  const constraints: NameConstraints = {
    permitted: { dns: ["example.com"], ip: ["10.0.0.0/8"] },
    excluded: { dns: ["secret.example.com"] },
  };
  const tlsServer = defaults["tls-server"]!;

  it("issues app.example.com, and openssl verify accepts it", async () => {
    const chain = await createChain(constraints);
    const der = await issueThroughPipeline(chain, tlsServer, {
      subject: [{ type: "CN", value: "app.example.com" }],
      sans: [
        { type: "dns", value: "app.example.com" },
        { type: "dns", value: "example.com" },
        { type: "ip", value: "10.20.30.40" },
      ],
    });
    expect(opensslVerdict(chain, der)).toBe("OK");
    expect(verifyChain(chain.rootDer, [chain.intermediateDer], der, ["-purpose", "sslserver"]).ok).toBe(true);
  });

  it("refuses evil.test with policy_violation; built anyway, openssl rejects it", async () => {
    const chain = await createChain(constraints);
    const leaf: LeafRequest = { subject: [], sans: [{ type: "dns", value: "evil.test" }] };
    const error = await refusal(issueThroughPipeline(chain, tlsServer, leaf));
    expect(error.code).toBe("policy_violation");
    expect(error.message).toBe(
      "nameConstraints: dns:evil.test is outside the issuing CA's permitted subtrees (dns: example.com)",
    );
    expect(error.detail).toMatchObject({ rule: "nameConstraints", kind: "permitted", name: "dns:evil.test" });
    const bypassed = await signBypassingPolicy(chain, leaf);
    expect(opensslVerdict(chain, bypassed)).toMatch(/permitted subtree violation/);
  });

  it("refuses one bad SAN among good ones, naming it", async () => {
    const chain = await createChain(constraints);
    const error = await refusal(
      issueThroughPipeline(chain, tlsServer, {
        subject: [],
        sans: [
          { type: "dns", value: "app.example.com" },
          { type: "dns", value: "WWW.Example.ORG" },
        ],
      }),
    );
    expect(error.message).toBe(
      "nameConstraints: dns:www.example.org is outside the issuing CA's permitted subtrees (dns: example.com)",
    );
  });

  it("refuses a name in the excluded subtree even though it is permitted; openssl agrees", async () => {
    const chain = await createChain(constraints);
    const leaf: LeafRequest = { subject: [], sans: [{ type: "dns", value: "db.secret.example.com" }] };
    const error = await refusal(issueThroughPipeline(chain, tlsServer, leaf));
    expect(error.message).toBe(
      "nameConstraints: dns:db.secret.example.com is inside the issuing CA's excluded subtree (dns: secret.example.com)",
    );
    expect(opensslVerdict(chain, await signBypassingPolicy(chain, leaf))).toMatch(/excluded subtree violation/);
  });

  it("checks IP SANs against the ip subtrees; openssl agrees", async () => {
    const chain = await createChain(constraints);
    const inside: LeafRequest = { subject: [], sans: [{ type: "ip", value: "10.1.2.3" }] };
    expect(opensslVerdict(chain, await issueThroughPipeline(chain, tlsServer, inside))).toBe("OK");
    for (const ip of ["192.0.2.1", "2001:db8::1"]) {
      const outside: LeafRequest = { subject: [], sans: [{ type: "ip", value: ip }] };
      const error = await refusal(issueThroughPipeline(chain, tlsServer, outside));
      expect(error.message).toBe(
        `nameConstraints: ip:${ip} is outside the issuing CA's permitted subtrees (ip: 10.0.0.0/8)`,
      );
      expect(opensslVerdict(chain, await signBypassingPolicy(chain, outside))).toMatch(/permitted subtree violation/);
    }
  });

  it("refuses a host-name CN outside the subtrees; openssl rejects it when there is no dNSName SAN", async () => {
    const chain = await createChain(constraints);
    // OpenSSL takes a dotted-quad CN for a host name (NAME_CONSTRAINTS_check_CN) when no dNSName SAN is present.
    const ipWithCn: LeafRequest = {
      subject: [{ type: "CN", value: "10.1.2.3" }],
      sans: [{ type: "ip", value: "10.1.2.3" }],
    };
    const error = await refusal(issueThroughPipeline(chain, tlsServer, ipWithCn));
    expect(error.message).toBe(
      "nameConstraints: subject CN 10.1.2.3 (as a host name) is outside the issuing CA's permitted subtrees (dns: example.com)",
    );
    expect(opensslVerdict(chain, await signBypassingPolicy(chain, ipWithCn))).toMatch(/permitted subtree violation/);
    // A host-name CN is refused even beside an inside dNSName SAN: stricter than OpenSSL, which skips the CN then.
    const device = defaults["device"]!;
    const cnOutside: LeafRequest = {
      subject: [{ type: "CN", value: "evil.test" }],
      sans: [{ type: "dns", value: "app.example.com" }],
    };
    const cnError = await refusal(issueThroughPipeline(chain, device, cnOutside));
    expect(cnError.message).toBe(
      "nameConstraints: subject CN evil.test (as a host name) is outside the issuing CA's permitted subtrees (dns: example.com)",
    );
    // A CN that is no host name is not a dNSName.
    const plainCn = await issueThroughPipeline(chain, device, {
      subject: [{ type: "CN", value: "Device 7" }],
      sans: [{ type: "dns", value: "dev7.example.com" }],
    });
    expect(opensslVerdict(chain, plainCn)).toBe("OK");
  });

  it("refuses a wildcard that would serve an excluded name (stricter than openssl, which accepts it)", async () => {
    const chain = await createChain(constraints);
    const leaf: LeafRequest = { subject: [], sans: [{ type: "dns", value: "*.example.com" }] };
    const error = await refusal(issueThroughPipeline(chain, tlsServer, leaf));
    expect(error.message).toBe(
      "nameConstraints: dns:*.example.com is inside the issuing CA's excluded subtree (dns: secret.example.com)",
    );
    expect(opensslVerdict(chain, await signBypassingPolicy(chain, leaf))).toBe("OK");
  });

  it("leaves forms without subtrees alone: an email SAN passes, and openssl agrees", async () => {
    const chain = await createChain(constraints);
    const leaf: LeafRequest = {
      subject: [{ type: "CN", value: "Ops" }],
      sans: [
        { type: "email", value: "ops@elsewhere.test" },
        { type: "uri", value: "urn:dev:7" },
      ],
    };
    expect(opensslVerdict(chain, await issueThroughPipeline(chain, defaults["device"]!, leaf))).toBe("OK");
  });
});

describe("email and URI constraints", () => {
  it("mirrors openssl for mailboxes, hosts, domains and URIs", async () => {
    const chain = await createChain({
      permitted: { email: ["example.com", ".example.org"], uri: [".example.com"] },
      excluded: { email: ["root@example.com"] },
    });
    const device = defaults["device"]!;
    const cases: { san: SubjectAltName; ok: boolean }[] = [
      { san: { type: "email", value: "ops@example.com" }, ok: true },
      { san: { type: "email", value: "ops@mail.example.org" }, ok: true },
      { san: { type: "email", value: "ops@example.org" }, ok: false },
      { san: { type: "email", value: "ops@mail.example.com" }, ok: false },
      { san: { type: "email", value: "root@example.com" }, ok: false },
      { san: { type: "uri", value: "https://a.example.com/x" }, ok: true },
      { san: { type: "uri", value: "https://example.com/x" }, ok: false },
      { san: { type: "uri", value: "spiffe://evil.test/ns/a" }, ok: false },
      // No host: RFC 5280 §4.2.1.10 says reject; openssl reports an unsupported name syntax.
      { san: { type: "uri", value: "urn:dev:7" }, ok: false },
    ];
    for (const { san, ok } of cases) {
      const leaf: LeafRequest = { subject: [{ type: "CN", value: "device" }], sans: [san] };
      if (ok) {
        expect(opensslVerdict(chain, await issueThroughPipeline(chain, device, leaf)), san.value).toBe("OK");
        continue;
      }
      const error = await refusal(issueThroughPipeline(chain, device, leaf));
      expect(error.code, san.value).toBe("policy_violation");
      expect(error.message, san.value).toContain(`${san.type}:${san.value}`);
      expect(opensslVerdict(chain, await signBypassingPolicy(chain, leaf)), san.value).not.toBe("OK");
    }
  });
});

describe("directoryName constraints on the subject", () => {
  const chancery = sequence([
    tlv(
      contextConstructed(0),
      sequence([tlv(contextConstructed(4), encodeName([{ type: "O", value: "Chancery Test" }]))]),
    ),
  ]);

  it("issues a subject below the permitted DN, compared as RFC 5280 §7.1 and openssl do", async () => {
    const chain = await createChainWithRawConstraints(chancery);
    const device = defaults["device"]!;
    for (const o of ["Chancery Test", "  CHANCERY   test "]) {
      const der = await issueThroughPipeline(chain, device, {
        subject: [
          { type: "O", value: o },
          { type: "CN", value: "device-7" },
        ],
        sans: [],
      });
      expect(opensslVerdict(chain, der), o).toBe("OK");
    }
  });

  it("refuses a subject outside it; openssl rejects it", async () => {
    const chain = await createChainWithRawConstraints(chancery);
    const leaf: LeafRequest = {
      subject: [
        { type: "O", value: "Other Org" },
        { type: "CN", value: "device-8" },
      ],
      sans: [],
    };
    const error = await refusal(issueThroughPipeline(chain, defaults["device"]!, leaf));
    expect(error.message).toBe(
      'nameConstraints: subject "CN=device-8,O=Other Org" is outside the issuing CA\'s permitted subtrees (dirName: O=Chancery Test)',
    );
    expect(opensslVerdict(chain, await signBypassingPolicy(chain, leaf))).toMatch(/permitted subtree violation/);
  });

  it("a constraints extension it cannot read makes the CA unusable (failed_precondition)", async () => {
    const chain = await createChainWithRawConstraints(sequence([tlv(contextConstructed(2), sequence([]))]));
    let error: unknown;
    try {
      createCertificateTemplate({
        issuerCertificateDer: chain.intermediateDer,
        issuerSigner: chain.intermediateSigner,
        profile: defaults["device"]!,
        urls,
      });
    } catch (err) {
      error = err;
    }
    expect(isChanceryError(error, "failed_precondition")).toBe(true);
    expect((error as Error).message).toBe("the nameConstraints of the issuing CA cannot be read");
  });
});

describe("constraints of CAs above the issuer", () => {
  it("apply when the template is given the chain", async () => {
    const chain = await createChain(undefined, { permitted: { dns: ["example.com"] } });
    const leaf: LeafRequest = { subject: [], sans: [{ type: "dns", value: "evil.test" }] };
    const error = await refusal(issueThroughPipeline(chain, defaults["tls-server"]!, leaf, [chain.rootDer]));
    expect(error.message).toBe(
      'nameConstraints: dns:evil.test is outside the CA "CN=Root,O=Chancery Test"\'s permitted subtrees (dns: example.com)',
    );
    const inside = await issueThroughPipeline(
      chain,
      defaults["tls-server"]!,
      { subject: [], sans: [{ type: "dns", value: "a.example.com" }] },
      [chain.rootDer],
    );
    expect(opensslVerdict(chain, inside)).toBe("OK");
    // Without the chain only the issuer's own (absent) constraints are known; openssl still rejects the result.
    const unchecked = await issueThroughPipeline(chain, defaults["tls-server"]!, leaf);
    expect(opensslVerdict(chain, unchecked)).toMatch(/permitted subtree violation/);
  });
});
