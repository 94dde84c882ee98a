import { generateKeyPairSync, type KeyObject, randomBytes, X509Certificate } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { failInfos, scepMessageTypes } from "../scep-types.ts";
import { loadScepclientFixture, type ScepclientFixture } from "../testing/fixtures/scepclient-fixture.ts";
import {
  buildPkiMessage,
  buildTestCsr,
  generateRsaKey,
  pkcsReq,
  type ScepTestSigner,
  selfSignedSigner,
} from "../testing/scep-test-client.ts";
import { readMessageContent } from "./message-content.ts";
import { openEnvelope } from "./open-envelope.ts";
import { maxPkiMessageBytes, parsePkiMessage } from "./parse-pki-message.ts";
import { ScepMessageError } from "./pki-message-types.ts";

let fixture: ScepclientFixture;
let key: KeyObject;
let signer: ScepTestSigner;
let csr: Buffer;

beforeAll(() => {
  fixture = loadScepclientFixture();
  key = generateRsaKey().privateKey;
  signer = selfSignedSigner(key, { commonName: "device-1" });
  csr = buildTestCsr({ privateKey: key, subject: [["CN", "device-1"]], challengePassword: "pw" });
});

function request(options: Parameters<typeof pkcsReq>[1] extends infer O ? Partial<O> : never = {}) {
  return pkcsReq(csr, { raCertificateDer: fixture.ra.certificateDer, signer, ...options });
}

function refusal(run: () => unknown): ScepMessageError {
  try {
    run();
  } catch (err) {
    if (err instanceof ScepMessageError) return err;
    throw err;
  }
  throw new Error("expected a ScepMessageError");
}

/** `bytes` with every occurrence of `from` replaced by `to` (same length). */
function replaced(bytes: Buffer, from: Buffer, to: Buffer): Buffer {
  const out = Buffer.from(bytes);
  for (let i = out.indexOf(from); i !== -1; i = out.indexOf(from, i + 1)) to.copy(out, i);
  return out;
}

describe("parsePkiMessage", () => {
  it("reads the real scepclient PKCSReq: SHA-1, reported as such", () => {
    const parsed = parsePkiMessage(fixture.pkcsReq);
    expect(parsed.messageType).toBe(scepMessageTypes.pkcsReq);
    expect(parsed.transactionId).toBe(fixture.transactionId);
    expect(parsed.digest).toBe("sha1");
    expect(parsed.senderNonce.toString("hex")).toBe("f521fd7b7f3618fd520c066f9cf57790");
    expect(parsed.signingTime).toEqual(new Date("2026-11-22T09:57:34Z"));
    expect(new X509Certificate(parsed.signerCertificateDer).subject).toBe("O=scep-client\nCN=SCEP SIGNER");
    expect(parsed.envelope.subarray(0, 2)).toEqual(Buffer.from([0x30, 0x82]));
  });

  it.each(["sha1", "sha256", "sha512"] as const)("verifies %s requests from the test client, DER and BER", (digest) => {
    for (const ber of [false, true]) {
      const built = request({ digest, ber, transactionId: "tx-1", senderNonce: Buffer.alloc(16, 7) });
      if (ber) expect(built.der.subarray(0, 2)).toEqual(Buffer.from([0x30, 0x80]));
      const parsed = parsePkiMessage(built.der);
      expect(parsed).toMatchObject({ messageType: 19, transactionId: "tx-1", digest });
      expect(parsed.senderNonce).toEqual(Buffer.alloc(16, 7));
      expect(parsed.signerCertificateDer).toEqual(signer.certificateDer);
      expect(parsed.signingTime).toBeInstanceOf(Date);
    }
  });

  it("accepts rsaEncryption and RSASSA-PSS signature algorithms and ECDSA signers", () => {
    expect(parsePkiMessage(request({ signatureStyle: "rsa-encryption" }).der).digest).toBe("sha256");
    expect(parsePkiMessage(request({ signatureStyle: "pss", digest: "sha512" }).der).digest).toBe("sha512");
    const ec = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
    const ecSigner = selfSignedSigner(ec);
    const parsed = parsePkiMessage(request({ signer: ecSigner, signingTime: null }).der);
    expect(parsed.signerCertificateDer).toEqual(ecSigner.certificateDer);
    expect(parsed.signingTime).toBeNull();
  });

  it("reads every request type", () => {
    for (const type of [17, 19, 20, 21, 22] as const) {
      const built = buildPkiMessage(type, Buffer.from([0x30, 0x00]), {
        raCertificateDer: fixture.ra.certificateDer,
        signer,
      });
      expect(parsePkiMessage(built.der).messageType).toBe(type);
    }
  });

  it("refuses a bad signature with badMessageCheck, carrying what a FAILURE reply needs", () => {
    for (const der of [request().der, fixture.pkcsReq]) {
      const tampered = Buffer.from(der);
      tampered[tampered.length - 1]! ^= 0x01; // the last octet of the signature
      const error = refusal(() => parsePkiMessage(tampered));
      expect(error.failInfo).toBe(failInfos.badMessageCheck);
      expect(error.message).toMatch(/signature/);
      const parsed = parsePkiMessage(der);
      expect(error.identified).toMatchObject({
        transactionId: parsed.transactionId,
        senderNonce: parsed.senderNonce,
        digest: parsed.digest,
      });
    }
  });

  it("refuses altered content with badMessageCheck (messageDigest)", () => {
    const built = request();
    const envelope = parsePkiMessage(built.der).envelope;
    const at = built.der.indexOf(envelope) + envelope.length - 5;
    const tampered = Buffer.from(built.der);
    tampered[at]! ^= 0x80;
    const error = refusal(() => parsePkiMessage(tampered));
    expect(error.failInfo).toBe(failInfos.badMessageCheck);
    expect(error.message).toMatch(/messageDigest/);
  });

  it("refuses an unsupported digest with badAlg", () => {
    // SHA-256 → SHA-384 in digestAlgorithms and the SignerInfo (the OIDs differ in their last octet).
    const sha256 = Buffer.from("0609608648016503040201", "hex");
    const sha384 = Buffer.from("0609608648016503040202", "hex");
    const error = refusal(() => parsePkiMessage(replaced(request().der, sha256, sha384)));
    expect(error.failInfo).toBe(failInfos.badAlg);
    expect(error.identified?.digest).toBe("sha256");
  });

  it("cannot identify (failInfo null) what is not a SCEP request", () => {
    const cases: [string, Buffer][] = [
      ["empty", Buffer.alloc(0)],
      ["random", randomBytes(500)],
      ["too large", Buffer.alloc(maxPkiMessageBytes + 1, 0x30)],
      ["a certificate", signer.certificateDer],
      [
        "CertRep message type",
        buildPkiMessage(3 as 19, Buffer.from([0x30, 0x00]), { raCertificateDer: fixture.ra.certificateDer, signer })
          .der,
      ],
      [
        "no transactionID (its OID altered)",
        replaced(
          request().der,
          Buffer.from("060a6086480186f845010907", "hex"),
          Buffer.from("060a6086480186f845010908", "hex"),
        ),
      ],
    ];
    // The signer certificate's serial, altered in the SignerInfo only: no certificate matches.
    const built = request();
    const serial = Buffer.from(new X509Certificate(signer.certificateDer).serialNumber, "hex").subarray(-8);
    const unmatched = Buffer.from(built.der);
    unmatched[unmatched.lastIndexOf(serial) + 7]! ^= 0xff;
    cases.push(["no signer certificate", unmatched]);
    for (const [name, der] of cases) expect(refusal(() => parsePkiMessage(der)).failInfo, name).toBeNull();
  });

  it("throws only ScepMessageError on mutated and truncated input", () => {
    const seeds = [request().der, request({ ber: true }).der, fixture.pkcsReq];
    const recipients = [fixture.ra];
    let parsedCount = 0;
    for (let round = 0; round < 3000; round++) {
      const seed = seeds[round % seeds.length]!;
      const mutated = mutate(seed);
      try {
        const parsed = parsePkiMessage(mutated);
        parsedCount++;
        const opened = openEnvelope(parsed.envelope, recipients, { allowLegacy: true });
        readMessageContent(parsed.messageType, opened.content);
      } catch (err) {
        if (!(err instanceof ScepMessageError)) throw new Error(`round ${round}: ${String(err)}`, { cause: err });
      }
    }
    // Some mutations land outside what is signed (e.g. the unsigned certificate list order) and still parse.
    expect(parsedCount).toBeLessThan(3000);
  });
});

function mutate(seed: Buffer): Buffer {
  const bytes = Buffer.from(seed);
  const at = Math.floor(Math.random() * bytes.length);
  switch (Math.floor(Math.random() * 5)) {
    case 0:
      return bytes.subarray(0, at); // truncated
    case 1:
      bytes[at] = Math.floor(Math.random() * 256); // one octet replaced
      return bytes;
    case 2:
      for (let i = 0; i < 8; i++)
        bytes[Math.floor(Math.random() * bytes.length)]! ^= 1 << Math.floor(Math.random() * 8);
      return bytes;
    case 3:
      return Buffer.concat([bytes.subarray(0, at), randomBytes(1 + Math.floor(Math.random() * 8)), bytes.subarray(at)]);
    default: {
      // A length octet made huge or indefinite.
      bytes[at] = [0x80, 0x84, 0xff, 0x00][Math.floor(Math.random() * 4)]!;
      return bytes;
    }
  }
}
