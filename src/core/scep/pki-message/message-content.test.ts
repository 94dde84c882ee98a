import { X509Certificate } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { failInfos } from "../scep-types.ts";
import { loadScepclientFixture, type ScepclientFixture } from "../testing/fixtures/scepclient-fixture.ts";
import {
  buildTestCsr,
  certificateNames,
  certPoll,
  generateRsaKey,
  getCert,
  getCrl,
  type ScepTestSigner,
  selfSignedSigner,
} from "../testing/scep-test-client.ts";
import { readMessageContent } from "./message-content.ts";
import { openEnvelope } from "./open-envelope.ts";
import { parsePkiMessage } from "./parse-pki-message.ts";
import { ScepMessageError } from "./pki-message-types.ts";

let fixture: ScepclientFixture;
let signer: ScepTestSigner;

beforeAll(() => {
  fixture = loadScepclientFixture();
  signer = selfSignedSigner(generateRsaKey().privateKey, { commonName: "device-9" });
});

/** Through the whole read path, as the server sees it. */
function contentOf(der: Buffer) {
  const parsed = parsePkiMessage(der);
  return readMessageContent(
    parsed.messageType,
    openEnvelope(parsed.envelope, [fixture.ra], { allowLegacy: false }).content,
  );
}

describe("readMessageContent", () => {
  it("returns the CSR of a PKCSReq", () => {
    const csr = buildTestCsr({ privateKey: signer.privateKey });
    expect(readMessageContent(19, csr)).toEqual({ kind: "csr", csrDer: csr });
    expect(readMessageContent(17, csr).kind).toBe("csr");
  });

  it("reads CertPoll's IssuerAndSubject", () => {
    const names = certificateNames(fixture.ra.certificateDer);
    const options = { raCertificateDer: fixture.ra.certificateDer, signer };
    expect(contentOf(certPoll({ issuerDer: names.issuerDer, subjectDer: names.subjectDer }, options).der)).toEqual({
      kind: "issuer-and-subject",
      issuerDer: names.issuerDer,
      subjectDer: names.subjectDer,
    });
  });

  it("reads GetCert's and GetCRL's IssuerAndSerialNumber, the serial in lower-case hex", () => {
    const names = certificateNames(fixture.ra.certificateDer);
    const options = { raCertificateDer: fixture.ra.certificateDer, signer };
    const serialHex = new X509Certificate(fixture.ra.certificateDer).serialNumber.toLowerCase();
    for (const build of [getCert, getCrl])
      expect(contentOf(build({ issuerDer: names.issuerDer, serialHex }, options).der)).toEqual({
        kind: "issuer-and-serial",
        issuerDer: names.issuerDer,
        serialHex,
      });
    // A serial with its top bit set carries a sign octet on the wire, never in the hex.
    const high = contentOf(getCert({ issuerDer: names.issuerDer, serialHex: "80ff" }, options).der);
    expect(high).toMatchObject({ serialHex: "80ff" });
  });

  it("refuses malformed content with badRequest", () => {
    const cases: [number, string][] = [
      [19, ""],
      [19, "0201 05"],
      [19, "3000 00"],
      [20, "3000"],
      [20, "3002 0500"],
      [21, "3003 3000 00"],
      [22, "3005 3000 0201"],
      [3, "3000"],
    ];
    for (const [type, hex] of cases) {
      let error: unknown;
      try {
        readMessageContent(type as 19, Buffer.from(hex.replace(/\s/g, ""), "hex"));
      } catch (err) {
        error = err;
      }
      expect(error, `${type} ${hex}`).toBeInstanceOf(ScepMessageError);
      expect((error as ScepMessageError).failInfo).toBe(failInfos.badRequest);
    }
  });
});
