import { beforeAll, describe, expect, it } from "vitest";
import { ChanceryError } from "../errors.ts";
import { decodeOcspGetPath } from "./ocsp-get-path.ts";
import {
  maxOcspNonceOctets,
  maxOcspRequestCertIds,
  minOcspNonceOctets,
  type OcspRequestParseResult,
  parseOcspRequest,
} from "./ocsp-request.ts";
import { ocspRequestProblems } from "./ocsp-request-problem.ts";
import { opensslOcspRequest } from "./testing/openssl-ocsp.ts";
import { certIdDer, nonceExtensionDer, requestDer } from "./testing/request-builder.ts";
import { createTestPki } from "./testing/test-pki.ts";

/**
 * Property tests: whatever bytes arrive, the parser returns a result (never
 * throws, never hangs), a refusal carries a known problem and a
 * ChanceryError, and an acceptance respects every limit. A seeded PRNG keeps
 * failures reproducible: the seed and input are in the failure message.
 */

function prng(seed: number): () => number {
  // mulberry32: small, fast, good enough to spread test inputs.
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomBytes(random: () => number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = Math.floor(random() * 256);
  return out;
}

/** Parses and checks the invariants; returns the result for further checks. */
function parseChecked(input: Uint8Array, label: string): OcspRequestParseResult {
  let result: OcspRequestParseResult;
  try {
    result = parseOcspRequest(input);
  } catch (err) {
    throw new Error(`${label}: parseOcspRequest threw for ${Buffer.from(input).toString("hex")}: ${String(err)}`);
  }
  if (result.ok) {
    const { certIds, nonce } = result.value;
    if (certIds.length < 1 || certIds.length > maxOcspRequestCertIds) throw new Error(`${label}: certIds count`);
    for (const id of certIds) {
      const length = id.hashAlgorithm === "sha1" ? 20 : 32;
      if (id.issuerNameHash.length !== length || id.issuerKeyHash.length !== length)
        throw new Error(`${label}: hash length`);
    }
    if (nonce !== undefined && (nonce.length < minOcspNonceOctets || nonce.length > maxOcspNonceOctets))
      throw new Error(`${label}: nonce length`);
  } else {
    if (!(ocspRequestProblems as readonly string[]).includes(result.problem)) throw new Error(`${label}: problem`);
    if (!(result.error instanceof ChanceryError) || result.error.code !== "invalid_argument")
      throw new Error(`${label}: error type`);
  }
  return result;
}

describe("parseOcspRequest never throws", () => {
  let valid: { name: string; der: Uint8Array }[];
  beforeAll(async () => {
    const pki = await createTestPki();
    const leaves = [await pki.leaf("a.example"), await pki.leaf("b.example")];
    valid = [
      {
        name: "openssl sha1 nonce",
        der: opensslOcspRequest({ issuerDer: pki.issuing.der, certsDer: leaves.map((l) => l.der) }),
      },
      {
        name: "openssl sha256 no nonce",
        der: opensslOcspRequest({ issuerDer: pki.issuing.der, certsDer: [leaves[0]!.der], sha256: true, nonce: false }),
      },
      {
        name: "hand-built with every optional field",
        der: requestDer({
          certIds: [certIdDer({}), certIdDer({ serial: Uint8Array.of(0x7f) })],
          version: 0,
          requestorName: true,
          extensions: [nonceExtensionDer(new Uint8Array(32).fill(7))],
          signed: true,
        }),
      },
    ];
    for (const { name, der } of valid) expect(parseOcspRequest(der).ok, name).toBe(true);
  });

  it("on random bytes, including ones that start like a SEQUENCE", () => {
    const random = prng(0x5eed0001);
    for (let i = 0; i < 5000; i++) {
      const length = Math.floor(random() * 300);
      const bytes = randomBytes(random, length);
      // Half of them look like a DER SEQUENCE with a plausible length, so the walk goes deeper.
      if (i % 2 === 0 && length > 2) {
        bytes[0] = 0x30;
        bytes[1] = length - 2 < 0x80 ? length - 2 : 0x81;
      }
      const result = parseChecked(bytes, `random #${i}`);
      if (length === 0) expect(result.ok).toBe(false);
    }
  });

  it("on every truncation of valid requests: always refused", () => {
    for (const { name, der } of valid) {
      for (let length = 0; length < der.length; length++) {
        const result = parseChecked(der.subarray(0, length), `${name} truncated to ${length}`);
        expect(result.ok, `${name} truncated to ${length}`).toBe(false);
        if (!result.ok) expect(result.problem).toBe(length === 0 ? "empty" : "malformed");
      }
    }
  });

  it("on every single-bit flip of valid requests", () => {
    for (const { name, der } of valid) {
      for (let bit = 0; bit < der.length * 8; bit++) {
        const mutated = der.slice();
        mutated[bit >> 3]! ^= 0x80 >> (bit & 7);
        parseChecked(mutated, `${name} bit ${bit} flipped`);
      }
    }
  });

  it("on random mutations (replace, insert, delete, splice) of valid requests", () => {
    const random = prng(0x5eed0002);
    for (let i = 0; i < 5000; i++) {
      const base = valid[i % valid.length]!.der;
      let bytes = Array.from(base);
      const edits = 1 + Math.floor(random() * 4);
      for (let e = 0; e < edits; e++) {
        const at = Math.floor(random() * (bytes.length + 1));
        switch (Math.floor(random() * 4)) {
          case 0:
            bytes[at] = Math.floor(random() * 256);
            break;
          case 1:
            bytes.splice(at, 0, Math.floor(random() * 256));
            break;
          case 2:
            bytes.splice(at, 1 + Math.floor(random() * 8));
            break;
          default: {
            // Splice in a piece of another valid request: structurally plausible garbage.
            const other = valid[Math.floor(random() * valid.length)]!.der;
            const from = Math.floor(random() * other.length);
            bytes.splice(at, 0, ...other.subarray(from, from + 1 + Math.floor(random() * 40)));
          }
        }
      }
      bytes = bytes.slice(0, 20_000);
      parseChecked(Uint8Array.from(bytes), `mutation #${i}`);
    }
  });

  it("on deep nesting and huge length claims, quickly", () => {
    const started = performance.now();
    // 5000 nested SEQUENCEs (the reader walks by offsets, no recursion over the input).
    const depth = 5000;
    const nested: number[] = [];
    for (let d = 0; d < depth; d++) nested.push(0x30, 0x80);
    parseChecked(Uint8Array.from(nested), "nested indefinite");
    parseChecked(Uint8Array.of(0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0x30), "4 GiB length claim");
    parseChecked(Uint8Array.of(0x30, 0x88, 1, 2, 3, 4, 5, 6, 7, 8), "8-octet length");
    parseChecked(Uint8Array.of(0x3f, 0x81, 0x01, 0x00), "high tag number");
    // Close to the size limit: 3000 Requests, walked once and refused for their count.
    const many = requestDer({ certIds: Array.from({ length: 3000 }, () => Uint8Array.of(0x30, 0x00)) });
    const result = parseChecked(many, "3000 requests");
    expect(result.ok || result.problem).toBe("too_many_cert_ids");
    expect(performance.now() - started).toBeLessThan(2000);
  });
});

describe("decodeOcspGetPath never throws", () => {
  it("on random strings over the URL and base64 alphabets", () => {
    const random = prng(0x5eed0003);
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=%-_ .~2BFD\u00e9\u{1f600}";
    const chars = Array.from(alphabet);
    for (let i = 0; i < 5000; i++) {
      const length = Math.floor(random() * 200);
      let text = "";
      for (let c = 0; c < length; c++) text += chars[Math.floor(random() * chars.length)];
      let result: ReturnType<typeof decodeOcspGetPath>;
      try {
        result = decodeOcspGetPath(text);
      } catch (err) {
        throw new Error(`decodeOcspGetPath threw for ${JSON.stringify(text)}: ${String(err)}`);
      }
      if (result.ok) parseChecked(result.value, `GET ${JSON.stringify(text)}`);
      else expect(result.error).toBeInstanceOf(ChanceryError);
    }
  });
});
