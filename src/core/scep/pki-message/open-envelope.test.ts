import { type KeyObject, randomBytes } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { failInfos } from "../scep-types.ts";
import { loadScepclientFixture, type ScepclientFixture } from "../testing/fixtures/scepclient-fixture.ts";
import {
  buildTestCsr,
  generateRsaKey,
  pkcsReq,
  type RequestOptions,
  type ScepTestSigner,
  selfSignedSigner,
} from "../testing/scep-test-client.ts";
import { readMessageContent } from "./message-content.ts";
import { openEnvelope } from "./open-envelope.ts";
import { parsePkiMessage } from "./parse-pki-message.ts";
import {
  type ContentCipher,
  type EnvelopeRecipient,
  type KeyTransport,
  ScepMessageError,
} from "./pki-message-types.ts";

let fixture: ScepclientFixture;
let signer: ScepTestSigner;
let csr: Buffer;
/** A second RA credential (an older certificate still valid), and one whose certificate is the fixture RA's but whose key is not. */
let olderRa: EnvelopeRecipient;
let wrongKeyRa: EnvelopeRecipient;

beforeAll(() => {
  fixture = loadScepclientFixture();
  const key = generateRsaKey().privateKey;
  signer = selfSignedSigner(key);
  csr = buildTestCsr({ privateKey: key, challengePassword: "pw", sans: ["dns:device.example"] });
  const otherKey: KeyObject = generateRsaKey().privateKey;
  olderRa = {
    certificateDer: selfSignedSigner(otherKey, { commonName: "older RA" }).certificateDer,
    privateKey: otherKey,
  };
  wrongKeyRa = { certificateDer: fixture.ra.certificateDer, privateKey: otherKey };
});

function envelopeOf(options: Partial<RequestOptions> = {}): Buffer {
  const built = pkcsReq(csr, { raCertificateDer: fixture.ra.certificateDer, signer, ...options });
  return parsePkiMessage(built.der).envelope;
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

const ciphers: ContentCipher[] = ["aes-128-cbc", "aes-192-cbc", "aes-256-cbc", "des-ede3-cbc", "des-cbc"];
const transports: KeyTransport[] = ["rsa-pkcs1", "rsa-oaep-sha1", "rsa-oaep-sha256"];

describe("openEnvelope", () => {
  it.each(ciphers.flatMap((cipher) => transports.map((transport) => [cipher, transport] as const)))(
    "opens %s with %s key transport",
    (cipher, keyTransport) => {
      const opened = openEnvelope(envelopeOf({ cipher, keyTransport }), [fixture.ra], { allowLegacy: true });
      expect(opened).toMatchObject({ cipher, keyTransport });
      expect(opened.content).toEqual(csr);
    },
  );

  it("opens BER envelopes (indefinite lengths, segmented content) addressed by subjectKeyIdentifier", () => {
    const envelope = envelopeOf({ ber: true, recipientIdentifier: "subject-key-identifier", cipher: "aes-256-cbc" });
    expect(envelope.subarray(0, 2)).toEqual(Buffer.from([0x30, 0x80]));
    expect(openEnvelope(envelope, [fixture.ra], { allowLegacy: false }).content).toEqual(csr);
  });

  it("picks the RA credential the envelope names among several", () => {
    const opened = openEnvelope(envelopeOf(), [olderRa, fixture.ra], { allowLegacy: false });
    expect(opened.content).toEqual(csr);
  });

  it("refuses DES and 3DES with badAlg unless legacy crypto is allowed", () => {
    for (const cipher of ["des-ede3-cbc", "des-cbc"] as const) {
      const error = refusal(() => openEnvelope(envelopeOf({ cipher }), [fixture.ra], { allowLegacy: false }));
      expect(error.failInfo).toBe(failInfos.badAlg);
      expect(error.message).toContain(cipher);
    }
  });

  it("opens the real scepclient envelope (single DES) only with legacy crypto", () => {
    const envelope = parsePkiMessage(fixture.pkcsReq).envelope;
    const opened = openEnvelope(envelope, [fixture.ra], { allowLegacy: true });
    expect(opened).toMatchObject({ cipher: "des-cbc", keyTransport: "rsa-pkcs1" });
    const content = readMessageContent(19, opened.content);
    expect(content.kind).toBe("csr");
    expect(refusal(() => openEnvelope(envelope, [fixture.ra], { allowLegacy: false })).failInfo).toBe(failInfos.badAlg);
  });

  it("refuses an envelope for no RA we hold with badMessageCheck, naming our serials", () => {
    const error = refusal(() => openEnvelope(envelopeOf(), [olderRa], { allowLegacy: false }));
    expect(error.failInfo).toBe(failInfos.badMessageCheck);
    expect(error.message).toContain("RA serials");
  });

  it("refuses with badMessageCheck when the RA key does not decrypt (PKCS#1 v1.5 implicit rejection, OAEP)", () => {
    for (const keyTransport of transports) {
      const error = refusal(() => openEnvelope(envelopeOf({ keyTransport }), [wrongKeyRa], { allowLegacy: false }));
      expect(error.failInfo, keyTransport).toBe(failInfos.badMessageCheck);
    }
  });

  it("refuses malformed envelopes with badRequest", () => {
    for (const bytes of [Buffer.alloc(0), Buffer.from("3003020100", "hex"), randomBytes(64)]) {
      expect(refusal(() => openEnvelope(bytes, [fixture.ra], { allowLegacy: true })).failInfo).toBe(
        failInfos.badRequest,
      );
    }
  });

  it("throws only ScepMessageError on mutated envelopes", () => {
    const seeds = [
      envelopeOf(),
      envelopeOf({ ber: true, keyTransport: "rsa-oaep-sha256" }),
      envelopeOf({ cipher: "des-cbc" }),
    ];
    for (let round = 0; round < 1500; round++) {
      const bytes = Buffer.from(seeds[round % seeds.length]!);
      const at = Math.floor(Math.random() * bytes.length);
      if (round % 3 !== 0) bytes[at] = Math.floor(Math.random() * 256);
      const mutated = round % 3 === 0 ? bytes.subarray(0, at) : bytes;
      try {
        openEnvelope(mutated, [olderRa, fixture.ra], { allowLegacy: true });
      } catch (err) {
        if (!(err instanceof ScepMessageError)) throw new Error(`round ${round}: ${String(err)}`, { cause: err });
      }
    }
  });
});
