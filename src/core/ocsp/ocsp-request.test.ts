import { beforeAll, describe, expect, it } from "vitest";
import { ChanceryError } from "../errors.ts";
import { oids } from "../x509/oids.ts";
import { encodeCertId } from "./cert-id.ts";
import { issuerHashes } from "./issuer-hashes.ts";
import {
  maxOcspRequestBytes,
  maxOcspRequestCertIds,
  type OcspRequest,
  type OcspRequestParseResult,
  parseOcspRequest,
} from "./ocsp-request.ts";
import type { OcspRequestProblem } from "./ocsp-request-problem.ts";
import { opensslOcspRequest } from "./testing/openssl-ocsp.ts";
import { certIdDer, extensionDer, nonceExtensionDer, requestDer } from "./testing/request-builder.ts";
import { createTestPki, type TestLeaf, type TestPki } from "./testing/test-pki.ts";

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

function accepted(result: OcspRequestParseResult): OcspRequest {
  if (!result.ok) throw new Error(`refused (${result.problem}): ${result.error.message}`);
  return result.value;
}

function refusedWith(result: OcspRequestParseResult, problem: OcspRequestProblem): void {
  expect(result.ok).toBe(false);
  if (result.ok) return;
  expect(result.problem).toBe(problem);
  // The core's one error type, with the code the OCSP front end maps to malformedRequest.
  expect(result.error).toBeInstanceOf(ChanceryError);
  expect(result.error.code).toBe("invalid_argument");
  expect(result.error.detail).toEqual({ ocspRequestProblem: problem });
}

describe("parseOcspRequest with requests from openssl ocsp -reqout", () => {
  let pki: TestPki;
  let leaves: TestLeaf[];
  beforeAll(async () => {
    pki = await createTestPki();
    leaves = [await pki.leaf("a.example"), await pki.leaf("b.example"), await pki.leaf("c.example")];
  });

  it("reads SHA-1 CertIDs (openssl's default) for several certificates and the nonce", () => {
    const der = opensslOcspRequest({ issuerDer: pki.issuing.der, certsDer: leaves.map((l) => l.der) });
    const request = accepted(parseOcspRequest(der));
    const hashes = issuerHashes(pki.issuing.der).sha1;
    expect(request.certIds).toHaveLength(3);
    request.certIds.forEach((id, i) => {
      expect(id.hashAlgorithm).toBe("sha1");
      expect(hex(id.issuerNameHash)).toBe(hex(hashes.issuerNameHash));
      expect(hex(id.issuerKeyHash)).toBe(hex(hashes.issuerKeyHash));
      expect(id.serialHex).toBe(leaves[i]!.serialHex);
      expect(hex(id.serialNumber)).toBe(hex(leaves[i]!.serialNumber));
      // The exact client bytes, to echo; and our canonical encoding is the same as openssl's.
      expect(hex(der)).toContain(hex(id.der));
      expect(hex(encodeCertId(id).der)).toBe(hex(id.der));
    });
    // openssl sends a 16-octet nonce, as the last 16 octets of the request.
    expect(request.nonce).toHaveLength(16);
    expect(hex(request.nonce!)).toBe(hex(der.subarray(der.length - 16)));
    expect(request.signed).toBe(false);
  });

  it("reads SHA-256 CertIDs without a nonce (-sha256 -no_nonce)", () => {
    const der = opensslOcspRequest({
      issuerDer: pki.issuing.der,
      certsDer: [leaves[0]!.der],
      sha256: true,
      nonce: false,
    });
    const request = accepted(parseOcspRequest(der));
    const hashes = issuerHashes(pki.issuing.der).sha256;
    expect(request.nonce).toBeUndefined();
    expect(request.certIds).toHaveLength(1);
    const [id] = request.certIds;
    expect(id!.hashAlgorithm).toBe("sha256");
    expect(hex(id!.issuerNameHash)).toBe(hex(hashes.issuerNameHash));
    expect(hex(id!.issuerKeyHash)).toBe(hex(hashes.issuerKeyHash));
    expect(id!.serialHex).toBe(leaves[0]!.serialHex);
    expect(hex(encodeCertId(id!).der)).toBe(hex(id!.der));
  });

  it("reads a SHA-256 request with a nonce, and serials given with -serial", () => {
    const der = opensslOcspRequest({ issuerDer: pki.issuing.der, serials: ["0x01", "0xff", "0x7f00"], sha256: true });
    const request = accepted(parseOcspRequest(der));
    expect(request.certIds.map((id) => id.serialHex)).toEqual(["01", "ff", "7f00"]);
    // 0xff needs a leading zero octet to stay positive (X.690 §8.3.2).
    expect(hex(request.certIds[1]!.serialNumber)).toBe("00ff");
    expect(request.nonce).toHaveLength(16);
  });
});

describe("parseOcspRequest limits and refusals", () => {
  const one = certIdDer({});

  it("refuses empty and oversized input before parsing", () => {
    refusedWith(parseOcspRequest(new Uint8Array(0)), "empty");
    refusedWith(parseOcspRequest(new Uint8Array(maxOcspRequestBytes + 1)), "too_large");
  });

  it("accepts up to maxOcspRequestCertIds CertIDs and refuses more", () => {
    const ids = (n: number) => Array.from({ length: n }, (_, i) => certIdDer({ serial: Uint8Array.of(i + 1) }));
    expect(accepted(parseOcspRequest(requestDer({ certIds: ids(maxOcspRequestCertIds) }))).certIds).toHaveLength(
      maxOcspRequestCertIds,
    );
    refusedWith(parseOcspRequest(requestDer({ certIds: ids(maxOcspRequestCertIds + 1) })), "too_many_cert_ids");
    refusedWith(parseOcspRequest(requestDer({ certIds: [] })), "no_cert_ids");
  });

  it("accepts nonces of 1 to 128 octets and refuses 0 or 129 (RFC 9654 §2.1)", () => {
    for (const length of [1, 16, 32, 128]) {
      const nonce = new Uint8Array(length).fill(0xa5);
      const request = accepted(
        parseOcspRequest(requestDer({ certIds: [one], extensions: [nonceExtensionDer(nonce)] })),
      );
      expect(hex(request.nonce!)).toBe(hex(nonce));
    }
    for (const length of [0, 129, 1000])
      refusedWith(
        parseOcspRequest(requestDer({ certIds: [one], extensions: [nonceExtensionDer(new Uint8Array(length))] })),
        "bad_nonce",
      );
    // The pre-RFC 8954 form, raw octets straight in extnValue, is not an OCTET STRING.
    refusedWith(
      parseOcspRequest(
        requestDer({ certIds: [one], extensions: [extensionDer(oids.ocspNonce, Uint8Array.of(1, 2, 3))] }),
      ),
      "bad_nonce",
    );
  });

  it("accepts a critical nonce, ignores unknown non-critical extensions, refuses unknown critical ones", () => {
    const nonce = Uint8Array.of(9, 8, 7);
    expect(
      accepted(parseOcspRequest(requestDer({ certIds: [one], extensions: [nonceExtensionDer(nonce, true)] }))).nonce,
    ).toEqual(nonce);
    const preferences = extensionDer(oids.ocspPreferredSignatureAlgorithms, Uint8Array.of(0x30, 0x00));
    expect(accepted(parseOcspRequest(requestDer({ certIds: [one], extensions: [preferences] }))).nonce).toBeUndefined();
    refusedWith(
      parseOcspRequest(
        requestDer({ certIds: [one], extensions: [extensionDer(oids.ocspServiceLocator, Uint8Array.of(5, 0), true)] }),
      ),
      "unsupported_critical_extension",
    );
    refusedWith(
      parseOcspRequest(
        requestDer({ certIds: [one], extensions: [nonceExtensionDer(nonce), nonceExtensionDer(nonce)] }),
      ),
      "duplicate_extension",
    );
    // singleRequestExtensions follow the same rule.
    const locator = extensionDer(oids.ocspServiceLocator, Uint8Array.of(5, 0));
    expect(
      accepted(parseOcspRequest(requestDer({ certIds: [one], singleExtensions: [locator] }))).certIds,
    ).toHaveLength(1);
    refusedWith(
      parseOcspRequest(
        requestDer({
          certIds: [one],
          singleExtensions: [extensionDer(oids.ocspServiceLocator, Uint8Array.of(5, 0), true)],
        }),
      ),
      "unsupported_critical_extension",
    );
  });

  it("accepts an explicit v1, a requestorName and a signature (not verified); refuses other versions", () => {
    const request = accepted(
      parseOcspRequest(requestDer({ certIds: [one], version: 0, requestorName: true, signed: true })),
    );
    expect(request.signed).toBe(true);
    refusedWith(parseOcspRequest(requestDer({ certIds: [one], version: 1 })), "unsupported_version");
  });

  it("accepts SHA-1/SHA-256 with NULL or absent parameters and keeps the client's bytes", () => {
    const absent = certIdDer({ hashOid: oids.sha256, params: "absent" });
    const request = accepted(parseOcspRequest(requestDer({ certIds: [absent] })));
    expect(request.certIds[0]!.hashAlgorithm).toBe("sha256");
    expect(hex(request.certIds[0]!.der)).toBe(hex(absent));
    refusedWith(
      parseOcspRequest(requestDer({ certIds: [certIdDer({ params: Uint8Array.of(0x04, 0x00) })] })),
      "malformed",
    );
  });

  it("refuses other hash algorithms, wrong hash lengths and oversized serials", () => {
    refusedWith(
      parseOcspRequest(
        requestDer({
          certIds: [certIdDer({ hashOid: oids.sha384, nameHash: new Uint8Array(48), keyHash: new Uint8Array(48) })],
        }),
      ),
      "unsupported_hash_algorithm",
    );
    refusedWith(parseOcspRequest(requestDer({ certIds: [certIdDer({ nameHash: new Uint8Array(32) })] })), "malformed");
    refusedWith(
      parseOcspRequest(requestDer({ certIds: [certIdDer({ hashOid: oids.sha256, keyHash: new Uint8Array(20) })] })),
      "malformed",
    );
    const serial = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i === 0 ? 0x01 : 0xee));
    expect(
      accepted(parseOcspRequest(requestDer({ certIds: [certIdDer({ serial: serial(32) })] }))).certIds,
    ).toHaveLength(1);
    refusedWith(parseOcspRequest(requestDer({ certIds: [certIdDer({ serial: serial(33) })] })), "malformed");
    // X.690 §8.3.2: a non-minimal INTEGER is not DER.
    refusedWith(parseOcspRequest(requestDer({ certIds: [certIdDer({ serial: Uint8Array.of(0, 1) })] })), "malformed");
  });

  it("refuses trailing bytes, garbage and other DER structures", () => {
    const good = requestDer({ certIds: [one] });
    refusedWith(parseOcspRequest(Uint8Array.of(...good, 0)), "malformed");
    refusedWith(parseOcspRequest(new TextEncoder().encode("hello, world")), "malformed");
    // A certificate-shaped SEQUENCE and an OCSP response are not requests.
    refusedWith(parseOcspRequest(Uint8Array.of(0x30, 0x03, 0x0a, 0x01, 0x01)), "malformed");
    refusedWith(parseOcspRequest(Uint8Array.of(0x30, 0x00)), "malformed");
    // Indefinite length (BER, not DER).
    refusedWith(parseOcspRequest(Uint8Array.of(0x30, 0x80, 0x00, 0x00)), "malformed");
  });

  it("does not keep references into the caller's buffer", () => {
    const der = requestDer({ certIds: [one], extensions: [nonceExtensionDer(Uint8Array.of(1, 2, 3, 4))] });
    const request = accepted(parseOcspRequest(der));
    const before = hex(request.certIds[0]!.der) + hex(request.nonce!);
    der.fill(0);
    expect(hex(request.certIds[0]!.der) + hex(request.nonce!)).toBe(before);
  });
});
