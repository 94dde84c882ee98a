import { generateKeyPairSync } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { ChanceryError } from "../../errors.ts";
import { pemEncode } from "../../x509/pem.ts";
import { createScratchDir, openssl } from "../../x509/testing/openssl.ts";
import { failInfos, pkiStatuses } from "../scep-types.ts";
import { loadScepclientFixture, type ScepclientFixture } from "../testing/fixtures/scepclient-fixture.ts";
import {
  buildTestCsr,
  generateRsaKey,
  pkcsReq,
  readCertRep,
  readSignedCertsOnly,
  type ScepTestRequest,
  type ScepTestSigner,
  selfSignedSigner,
} from "../testing/scep-test-client.ts";
import { buildCertRep } from "./build-cert-rep.ts";
import { parsePkiMessage } from "./parse-pki-message.ts";
import { type CertRepInput, type ContentCipher, type MessageDigest, ScepMessageError } from "./pki-message-types.ts";
import { buildSignedCertsOnly } from "./signed-certs-only.ts";

let fixture: ScepclientFixture;
let requester: ScepTestSigner;
let request: ScepTestRequest;
/** Stand-ins for an issued certificate and its chain: any DER certificates do. */
let issued: Buffer;
let chain: Buffer;
let crl: Buffer;

beforeAll(() => {
  fixture = loadScepclientFixture();
  const key = generateRsaKey().privateKey;
  requester = selfSignedSigner(key, { commonName: "requester" });
  request = pkcsReq(buildTestCsr({ privateKey: key }), {
    raCertificateDer: fixture.ra.certificateDer,
    signer: requester,
  });
  issued = selfSignedSigner(key, { commonName: "issued" }).certificateDer;
  chain = fixture.ra.certificateDer;
  crl = crlSignedBy(fixture);
});

/** A CRL from `openssl ca -gencrl`, signed by the fixture RA (a self-signed CA certificate). */
function crlSignedBy(material: ScepclientFixture): Buffer {
  const scratch = createScratchDir();
  try {
    scratch.file("index.txt", "");
    const config = scratch.file(
      "ca.cnf",
      `[ca]\ndefault_ca=x\n[x]\ndatabase=${join(scratch.dir, "index.txt")}\ndefault_md=sha256\ndefault_crl_days=1\n`,
    );
    const pem = join(scratch.dir, "crl.pem");
    const made = openssl([
      "ca",
      "-gencrl",
      "-config",
      config,
      "-keyfile",
      join(import.meta.dirname, "../testing/fixtures/scepclient-ra.key"),
      "-cert",
      scratch.file("ra.pem", pemEncode("CERTIFICATE", material.ra.certificateDer)),
      "-out",
      pem,
    ]);
    if (!made.ok) throw new Error(made.stderr);
    const der = join(scratch.dir, "crl.der");
    openssl(["crl", "-in", pem, "-outform", "DER", "-out", der]);
    return readFileSync(der);
  } finally {
    scratch.cleanup();
  }
}

function input(overrides: Partial<CertRepInput> = {}): CertRepInput {
  return {
    transactionId: request.transactionId,
    recipientNonce: request.senderNonce,
    pkiStatus: pkiStatuses.success,
    certificatesDer: [issued, chain],
    recipientCertificateDer: requester.certificateDer,
    cipher: "aes-128-cbc",
    digest: "sha256",
    signer: fixture.ra,
    ...overrides,
  };
}

function verifiedContent(der: Uint8Array): Buffer {
  const scratch = createScratchDir();
  try {
    const out = join(scratch.dir, "content.der");
    const result = openssl([
      "cms",
      "-verify",
      "-noverify",
      "-inform",
      "DER",
      "-in",
      scratch.file("rep.der", der),
      "-out",
      out,
    ]);
    if (!result.ok) throw new Error(`openssl cms -verify: ${result.stderr}`);
    return readFileSync(out);
  } finally {
    scratch.cleanup();
  }
}

describe("buildCertRep", () => {
  const ciphers: ContentCipher[] = ["aes-128-cbc", "aes-192-cbc", "aes-256-cbc", "des-ede3-cbc", "des-cbc"];
  const digests: MessageDigest[] = ["sha1", "sha256", "sha512"];

  it.each(ciphers.flatMap((cipher) => digests.map((digest) => [cipher, digest] as const)))(
    "SUCCESS with %s and %s is read by the test client",
    (cipher, digest) => {
      const result = readCertRep(buildCertRep(input({ cipher, digest, crlsDer: [] })), {
        request,
        raCertificateDer: fixture.ra.certificateDer,
      });
      expect(result).toMatchObject({ pkiStatus: 0, failInfo: null, cipher, digest, keyTransport: "rsa-pkcs1" });
      expect(result.certificatesDer).toEqual([issued, chain]);
      expect(result.senderNonce).toHaveLength(16);
      expect(result.signingTime).toBeInstanceOf(Date);
    },
  );

  // des-cbc needs OpenSSL's legacy provider: decrypting with OpenSSL's real single DES checks our K||K||K 3DES.
  it.each([
    ["aes-256-cbc", []],
    ["des-cbc", ["-provider", "legacy", "-provider", "default"]],
  ] as const)(
    "is verified by openssl cms, and its %s envelope decrypted with the real scepclient's key",
    (cipher, providers) => {
      // The CertRep answering the captured scepclient request, encrypted to its signer certificate.
      const parsed = parsePkiMessage(fixture.pkcsReq);
      const der = buildCertRep(
        input({
          transactionId: parsed.transactionId,
          recipientNonce: parsed.senderNonce,
          recipientCertificateDer: parsed.signerCertificateDer,
          cipher,
          digest: parsed.digest,
        }),
      );
      const envelope = verifiedContent(der);
      const scratch = createScratchDir();
      try {
        const out = join(scratch.dir, "certs.p7");
        const decrypted = openssl([
          "cms",
          "-decrypt",
          ...providers,
          "-inform",
          "DER",
          "-in",
          scratch.file("envelope.der", envelope),
          "-inkey",
          scratch.file("key.pem", fixture.requesterKeyPem),
          "-out",
          out,
        ]);
        expect(decrypted.stderr).toBe("");
        const printed = openssl(["pkcs7", "-inform", "DER", "-print_certs", "-in", out]);
        expect([...printed.stdout.matchAll(/^subject=(.*)$/gm)].map((m) => m[1]!.replace(/\s/g, ""))).toEqual([
          "CN=issued",
          "CN=probe",
        ]);
      } finally {
        scratch.cleanup();
      }
    },
  );

  it("PENDING and FAILURE carry no envelope, FAILURE a failInfo", () => {
    const pending = buildCertRep(input({ pkiStatus: pkiStatuses.pending, recipientCertificateDer: undefined }));
    expect(readCertRep(pending, { request })).toMatchObject({ pkiStatus: 3, failInfo: null, certificatesDer: [] });
    const failure = buildCertRep(input({ pkiStatus: pkiStatuses.failure, failInfo: failInfos.badRequest }));
    expect(readCertRep(failure, { request })).toMatchObject({ pkiStatus: 2, failInfo: 2, certificatesDer: [] });
    for (const der of [pending, failure]) expect(verifiedContent(der)).toHaveLength(0);
  });

  it("carries CRLs (GetCRL) and a fresh senderNonce each time", () => {
    const first = readCertRep(buildCertRep(input({ certificatesDer: [], crlsDer: [crl] })), { request });
    expect(first.crlsDer).toEqual([crl]);
    const second = readCertRep(buildCertRep(input()), { request });
    expect(first.senderNonce.equals(second.senderNonce)).toBe(false);
  });

  it("refuses inconsistent input and non-RSA requesters", () => {
    expect(() => buildCertRep(input({ pkiStatus: pkiStatuses.failure }))).toThrow(ChanceryError);
    expect(() => buildCertRep(input({ recipientCertificateDer: undefined }))).toThrow(ChanceryError);
    const ec = selfSignedSigner(generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey);
    let error: unknown;
    try {
      buildCertRep(input({ recipientCertificateDer: ec.certificateDer }));
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ScepMessageError);
    expect((error as ScepMessageError).failInfo).toBe(failInfos.badAlg);
  });
});

describe("buildSignedCertsOnly", () => {
  it("signs a certs-only PKCS#7 with the RA (GetNextCACert), verified by the client and openssl", () => {
    const der = buildSignedCertsOnly([issued, chain], fixture.ra);
    const read = readSignedCertsOnly(der, fixture.ra.certificateDer);
    expect(read.certificatesDer).toEqual([issued, chain]);
    const content = verifiedContent(der);
    const printed = openssl(["pkcs7", "-inform", "DER", "-print_certs"], content);
    expect(printed.stdout).toContain("subject=CN = issued");
  });
});
