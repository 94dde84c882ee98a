import { createHash } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { isChanceryError } from "../errors.ts";
import type { KeyAlgorithm } from "../keys/key-algorithm.ts";
import { content, expectChildren, expectTag, readRoot } from "../x509/der-reader.ts";
import { contextConstructed, tags } from "../x509/der-writer.ts";
import { extendedKeyUsageExtension, keyUsageExtension } from "../x509/extensions.ts";
import { encodeName } from "../x509/name.ts";
import { readCertificate } from "../x509/parse-certificate.ts";
import { generateSerial } from "../x509/serial-number.ts";
import { signCertificate } from "../x509/sign-certificate.ts";
import { asn1parse, createScratchDir, openssl } from "../x509/testing/openssl.ts";
import { createTestSigner } from "../x509/testing/test-signer.ts";
import type { CertId } from "./cert-id.ts";
import { certIdFor, issuerHashes } from "./issuer-hashes.ts";
import { type OcspRequest, parseOcspRequest } from "./ocsp-request.ts";
import { buildOcspResponse, createOcspResponseBuilder, type OcspCertStatus } from "./ocsp-response.ts";
import { ocspErrorResponse, ocspResponseStatuses } from "./ocsp-response-status.ts";
import { type GeneratedResponder, generateResponder } from "./responder-certificate.ts";
import { opensslOcspRequest, opensslReadResponse } from "./testing/openssl-ocsp.ts";
import { createTestPki, type TestLeaf, type TestPki } from "./testing/test-pki.ts";

const minute = 60_000;
const hour = 60 * minute;

function parsed(der: Uint8Array): OcspRequest {
  const result = parseOcspRequest(der);
  if (!result.ok) throw result.error;
  return result.value;
}

/** The per-certificate lines of openssl's summary, with the temporary file names removed. */
function summary(stdout: string): string[] {
  return stdout
    .split("\n")
    .filter((line) => /cert\d\.pem: |^\t/.test(line))
    .map((line) => line.replace(/^.*(cert\d\.pem)/, "$1").trim());
}

function window(now: Date) {
  return { thisUpdate: now, nextUpdate: new Date(now.getTime() + 4 * hour) };
}

describe.each<KeyAlgorithm>(["ecdsa-p256", "rsa-2048", "ed25519"])("OCSP responses signed with %s", (algorithm) => {
  let pki: TestPki;
  let leaves: TestLeaf[];
  let responder: GeneratedResponder;
  const now = new Date();
  beforeAll(async () => {
    pki = await createTestPki(algorithm);
    leaves = [await pki.leaf("good.example"), await pki.leaf("revoked.example"), await pki.leaf("other.example")];
    responder = await generateResponder({
      issuerCertificateDer: pki.issuing.der,
      issuerSigner: pki.issuing.signer,
      now,
      lifetimeSeconds: 7 * 86_400,
    });
  });

  it("answers an openssl request with a nonce: openssl verifies the delegation, the signature and the nonce", async () => {
    const requestDer = opensslOcspRequest({ issuerDer: pki.issuing.der, certsDer: leaves.map((l) => l.der) });
    const request = parsed(requestDer);
    const statuses: OcspCertStatus[] = [
      { type: "good" },
      { type: "revoked", revocationTime: new Date(now.getTime() - 30 * minute), reason: "keyCompromise" },
      { type: "unknown" },
    ];
    const responseDer = await buildOcspResponse({
      responderSigner: responder.signer,
      responderCertDer: responder.certificate.der,
      producedAt: now,
      responses: request.certIds.map((certId, i) => ({ certId, status: statuses[i]!, ...window(now) })),
      nonce: request.nonce,
    });
    // -reqin: openssl compares the nonce with its request's; without -issuer it must accept the
    // responder only through the delegation (EKU OCSPSigning, issued by the CA named in the CertIDs).
    const result = opensslReadResponse({
      responseDer,
      trustedDer: [pki.root.der, pki.issuing.der],
      requestDer,
    });
    expect(result.stderr.trim()).toBe("Response verify OK");
    expect(result.ok).toBe(true);
    expect(result.stdout).toContain("OCSP Response Status: successful (0x0)");
    expect(result.stdout).toContain("Response Type: Basic OCSP Response");
    expect(result.stdout).toContain("Cert Status: good");
    expect(result.stdout).toContain("Cert Status: revoked");
    expect(result.stdout).toContain("Revocation Reason: keyCompromise (0x1)");
    expect(result.stdout).toContain("Cert Status: unknown");
    expect(result.stdout).toContain(
      `OCSP Nonce: \n            0410${Buffer.from(request.nonce!).toString("hex").toUpperCase()}`,
    );
  });

  it("fails openssl's nonce check when the nonce is not the request's", async () => {
    const requestDer = opensslOcspRequest({ issuerDer: pki.issuing.der, certsDer: [leaves[0]!.der] });
    const request = parsed(requestDer);
    const responseDer = await buildOcspResponse({
      responderSigner: responder.signer,
      responderCertDer: responder.certificate.der,
      producedAt: now,
      responses: [{ certId: request.certIds[0]!, status: { type: "good" }, ...window(now) }],
      nonce: Uint8Array.of(...request.nonce!).reverse(),
    });
    const result = opensslReadResponse({ responseDer, trustedDer: [pki.root.der, pki.issuing.der], requestDer });
    expect(result.ok).toBe(false);
    expect(result.stderr).toContain("Nonce Verify error");
  });

  it.each([false, true])(
    "pre-signs per certificate with canonical CertIDs that openssl matches (sha256: %s)",
    async (sha256) => {
      const builder = createOcspResponseBuilder({
        signer: responder.signer,
        certificateDer: responder.certificate.der,
      });
      const hashes = issuerHashes(pki.issuing.der);
      const revokedAt = new Date(now.getTime() - hour);
      const statuses: OcspCertStatus[] = [
        { type: "good" },
        { type: "revoked", revocationTime: revokedAt, reason: "superseded" },
        { type: "revoked", revocationTime: revokedAt, reason: "unspecified" },
      ];
      const lines: string[] = [];
      for (const [i, leaf] of leaves.entries()) {
        // What the caller caches: one response per (CA, serial, hash algorithm), signed before any request.
        const certId = certIdFor(hashes, sha256 ? "sha256" : "sha1", leaf.serialNumber);
        const responseDer = await builder.build({
          producedAt: now,
          responses: [{ certId, status: statuses[i]!, ...window(now) }],
        });
        const result = opensslReadResponse({
          responseDer,
          trustedDer: [pki.root.der, pki.issuing.der],
          issuerDer: pki.issuing.der,
          certsDer: [leaf.der],
          sha256,
        });
        expect(result.stderr.trim()).toBe("Response verify OK");
        lines.push(...summary(result.stdout).map((line) => line.replace(/cert\d/, `leaf${i}`)));
      }
      const time = (d: Date) =>
        d
          .toUTCString()
          .replace(
            /^\w+, (\d+) (\w+) (\d+) ([\d:]+) GMT$/,
            (_, day, mon, year, hms) => `${mon} ${day.padStart(2, " ")} ${hms} ${year} GMT`,
          );
      const updates = [`This Update: ${time(now)}`, `Next Update: ${time(window(now).nextUpdate)}`];
      expect(lines).toEqual([
        "leaf0.pem: good",
        ...updates,
        "leaf1.pem: revoked",
        ...updates,
        "Reason: superseded",
        `Revocation Time: ${time(revokedAt)}`,
        // unspecified is left out, as on the CRL (RFC 5280 §5.3.1).
        "leaf2.pem: revoked",
        ...updates,
        `Revocation Time: ${time(revokedAt)}`,
      ]);
    },
  );
});

describe("OCSP response structure", () => {
  let pki: TestPki;
  let responder: GeneratedResponder;
  const now = new Date(Date.UTC(2031, 4, 6, 7, 8, 9, 999));
  let certId: CertId;
  beforeAll(async () => {
    pki = await createTestPki();
    responder = await generateResponder({
      issuerCertificateDer: pki.issuing.der,
      issuerSigner: pki.issuing.signer,
      now: new Date(),
      lifetimeSeconds: 86_400,
    });
    certId = certIdFor(issuerHashes(pki.issuing.der), "sha256", Uint8Array.of(0x42));
  });

  it("is successful/basic, byKey ResponderID, GeneralizedTime, no version, the responder certificate in certs", async () => {
    const builder = createOcspResponseBuilder({ signer: responder.signer, certificateDer: responder.certificate.der });
    const der = await builder.build({
      producedAt: now,
      responses: [{ certId, status: { type: "good" }, ...window(now) }],
    });
    // A standalone buffer: safe to cache and hand to many sockets.
    expect(der.byteOffset).toBe(0);
    expect(der.buffer.byteLength).toBe(der.length);

    const [status, responseBytes] = expectChildren(der, readRoot(der), tags.sequence, "OCSPResponse", 2);
    expect(Buffer.from(der.subarray(status!.start, status!.end)).toString("hex")).toBe("0a0100");
    const [bytes] = expectChildren(der, responseBytes!, contextConstructed(0), "responseBytes", 1);
    const [, octets] = expectChildren(der, bytes!, tags.sequence, "ResponseBytes", 2);
    const basic = content(der, expectTag(octets, tags.octetString, "response"));
    const [tbs, , , certs] = expectChildren(basic, readRoot(basic), tags.sequence, "BasicOCSPResponse", 4);
    const [responderId, producedAt, responses] = expectChildren(basic, tbs!, tags.sequence, "ResponseData", 3);
    // byKey [2] EXPLICIT OCTET STRING: SHA-1 of the responder's subjectPublicKey (RFC 6960 §4.2.1).
    const keyHash = createHash("sha1")
      .update(readCertificate(responder.certificate.der).publicKey.subjectPublicKey)
      .digest("hex");
    expect(Buffer.from(basic.subarray(responderId!.start, responderId!.end)).toString("hex")).toBe(
      `a2160414${keyHash}`,
    );
    expect(Buffer.from(builder.responderKeyHash).toString("hex")).toBe(keyHash);
    // GeneralizedTime even before 2050, truncated to the second.
    expect(producedAt!.tag).toBe(tags.generalizedTime);
    expect(Buffer.from(content(basic, producedAt!)).toString("latin1")).toBe("20310506070809Z");
    const [single] = expectChildren(basic, responses!, tags.sequence, "responses", 1);
    const [id, certStatus, thisUpdate, nextUpdate] = expectChildren(basic, single!, tags.sequence, "SingleResponse", 4);
    expect(Buffer.from(basic.subarray(id!.start, id!.end))).toEqual(Buffer.from(certId.der));
    expect(Buffer.from(basic.subarray(certStatus!.start, certStatus!.end)).toString("hex")).toBe("8000");
    expect(thisUpdate!.tag).toBe(tags.generalizedTime);
    expect(nextUpdate!.tag).toBe(contextConstructed(0));
    const [certificate] = expectChildren(basic, certs!, contextConstructed(0), "certs", 1);
    const [first] = expectChildren(basic, certificate!, tags.sequence, "certs list", 1);
    expect(Buffer.from(basic.subarray(first!.start, first!.end))).toEqual(Buffer.from(responder.certificate.der));
    expect(asn1parse(der)).toContain("Basic OCSP Response");
  });

  it("can be signed by the CA itself (responder certificate = CA certificate)", async () => {
    const leaf = await pki.leaf("direct.example");
    const requestDer = opensslOcspRequest({ issuerDer: pki.issuing.der, certsDer: [leaf.der], nonce: false });
    const request = parsed(requestDer);
    const responseDer = await buildOcspResponse({
      responderSigner: pki.issuing.signer,
      responderCertDer: pki.issuing.der,
      producedAt: new Date(),
      responses: [{ certId: request.certIds[0]!, status: { type: "good" }, ...window(new Date()) }],
    });
    const result = opensslReadResponse({ responseDer, trustedDer: [pki.root.der], requestDer });
    expect(result.stderr).toContain("Response verify OK");
  });

  it("is rejected by openssl when the responder was delegated by another CA", async () => {
    // The root's responder answering for the issuing CA's certificate: a valid chain, the
    // OCSPSigning EKU, but not issued by the certificate's issuer (RFC 6960 §4.2.2.2).
    const rootResponder = await generateResponder({
      issuerCertificateDer: pki.root.der,
      issuerSigner: pki.root.signer,
      now: new Date(),
      lifetimeSeconds: 86_400,
    });
    const leaf = await pki.leaf("victim.example");
    const requestDer = opensslOcspRequest({ issuerDer: pki.issuing.der, certsDer: [leaf.der], nonce: false });
    const responseDer = await buildOcspResponse({
      responderSigner: rootResponder.signer,
      responderCertDer: rootResponder.certificate.der,
      producedAt: new Date(),
      responses: [{ certId: parsed(requestDer).certIds[0]!, status: { type: "good" }, ...window(new Date()) }],
    });
    const result = opensslReadResponse({ responseDer, trustedDer: [pki.root.der, pki.issuing.der], requestDer });
    expect(result.ok).toBe(false);
    expect(result.stderr).toContain("Response Verify Failure");
  });

  it("refuses a responder that relying parties would reject, and a signer without the certificate's key", async () => {
    const key = createTestSigner("ecdsa-p256");
    const issuing = readCertificate(pki.issuing.der);
    const notResponder = await signCertificate(
      {
        serial: generateSerial(),
        issuerDer: issuing.subject.der,
        validity: { notBefore: new Date(Date.now() - hour), notAfter: new Date(Date.now() + hour) },
        subjectDer: encodeName([{ type: "CN", value: "not a responder" }]),
        subjectPublicKeySpki: key.publicKeySpki,
        extensions: [keyUsageExtension(["digitalSignature"]), extendedKeyUsageExtension(["serverAuth"])],
      },
      pki.issuing.signer,
    );
    expect(() => createOcspResponseBuilder({ signer: key, certificateDer: notResponder })).toThrow(
      expect.objectContaining({ code: "failed_precondition" }),
    );
    expect(() => createOcspResponseBuilder({ signer: key, certificateDer: responder.certificate.der })).toThrow(
      expect.objectContaining({ code: "invalid_argument" }),
    );
  });

  it("refuses invalid input with invalid_argument", async () => {
    const builder = createOcspResponseBuilder({ signer: responder.signer, certificateDer: responder.certificate.der });
    const good = { certId, status: { type: "good" } as const, ...window(now) };
    const attempts = [
      builder.build({ producedAt: now, responses: [] }),
      builder.build({ producedAt: now, responses: [{ ...good, nextUpdate: new Date(now.getTime() - 1000) }] }),
      builder.build({ producedAt: new Date(Number.NaN), responses: [good] }),
      builder.build({ producedAt: now, responses: [good], nonce: new Uint8Array(0) }),
      builder.build({ producedAt: now, responses: [good], nonce: new Uint8Array(129) }),
    ];
    for (const attempt of attempts) {
      const error = await attempt.then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(isChanceryError(error, "invalid_argument"), String(error)).toBe(true);
    }
  });
});

describe("ocspErrorResponse", () => {
  it.each([
    ["malformedRequest", 1],
    ["internalError", 2],
    ["tryLater", 3],
    ["sigRequired", 5],
    ["unauthorized", 6],
  ] as const)("%s is SEQUENCE { ENUMERATED %i } and openssl reads it", (status, code) => {
    const der = ocspErrorResponse(status);
    expect(Array.from(der)).toEqual([0x30, 0x03, 0x0a, 0x01, code]);
    expect(ocspResponseStatuses[status]).toBe(code);
    const scratch = createScratchDir();
    try {
      const result = openssl(["ocsp", "-respin", scratch.file("resp.der", der), "-resp_text", "-noverify"]);
      // openssl prints the RFC's names in lower case ("malformedrequest").
      expect(result.stdout.trim()).toBe(`Responder Error: ${status.toLowerCase()} (${code})`);
    } finally {
      scratch.cleanup();
    }
    // Each call returns its own copy.
    der[4] = 0;
    expect(ocspErrorResponse(status)[4]).toBe(code);
  });

  it("refuses successful, which needs a signed body", () => {
    expect(() => ocspErrorResponse("successful" as never)).toThrow(/not an OCSP error status/);
  });
});
