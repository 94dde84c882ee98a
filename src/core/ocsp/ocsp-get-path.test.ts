import { describe, expect, it } from "vitest";
import { decodeOcspGetPath } from "./ocsp-get-path.ts";
import { maxOcspRequestBytes, parseOcspRequest } from "./ocsp-request.ts";
import { certIdDer, nonceExtensionDer, requestDer } from "./testing/request-builder.ts";

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

/** A request whose base64 has '+', '/' and '=' padding, so every encoding question arises. */
function sampleRequest(): { der: Uint8Array; base64: string } {
  for (let i = 0; ; i++) {
    const der = requestDer({
      certIds: [certIdDer({ serial: Uint8Array.of(0x01, i & 0x7f, 0xfb, 0xff, 0xbf) })],
      extensions: [nonceExtensionDer(Uint8Array.of(0xfb, 0xef, 0xbe, 0xfc, i & 0xff))],
    });
    const base64 = Buffer.from(der).toString("base64");
    if (base64.includes("+") && base64.includes("/") && base64.endsWith("=")) return { der, base64 };
  }
}

function decoded(path: string): string {
  const result = decodeOcspGetPath(path);
  if (!result.ok) throw new Error(`refused (${result.problem}): ${result.error.message}`);
  return hex(result.value);
}

describe("decodeOcspGetPath", () => {
  const { der, base64 } = sampleRequest();
  const expected = hex(der);

  it("reads URL-encoded base64 (RFC 6960 Appendix A.1), in either hex case", () => {
    const encoded = encodeURIComponent(base64);
    expect(encoded).toMatch(/%2B/);
    expect(encoded).toMatch(/%2F/);
    expect(encoded).toMatch(/%3D/);
    expect(decoded(encoded)).toBe(expected);
    expect(decoded(encoded.replace(/%2B/g, "%2b").replace(/%2F/g, "%2f").replace(/%3D/g, "%3d"))).toBe(expected);
  });

  it("reads raw '+' and '/', a space for '+', base64url, missing padding, leading slashes", () => {
    expect(decoded(base64)).toBe(expected);
    expect(decoded(base64.replace(/\+/g, " "))).toBe(expected);
    expect(decoded(base64.replace(/\+/g, "-").replace(/\//g, "_"))).toBe(expected);
    expect(decoded(base64.replace(/=+$/, ""))).toBe(expected);
    expect(decoded(encodeURIComponent(base64.replace(/=+$/, "")))).toBe(expected);
    expect(decoded(`/${base64}`)).toBe(expected);
    expect(decoded(`//${encodeURIComponent(base64)}`)).toBe(expected);
    // Mixed: some characters encoded, others not.
    expect(decoded(base64.replace("/", "%2F"))).toBe(expected);
    const result = decodeOcspGetPath(base64);
    expect(result.ok && parseOcspRequest(result.value).ok).toBe(true);
  });

  it("refuses what is not base64", () => {
    const cases: [string, string][] = [
      ["", "empty"],
      ["/", "empty"],
      ["MEIw%", "bad_base64"],
      ["MEIw%2", "bad_base64"],
      ["MEIw%zz", "bad_base64"],
      ["MEIw!", "bad_base64"],
      ["MEIwA", "bad_base64"], // 5 characters: a base64 length can never be 1 mod 4
      ["MEI===", "bad_base64"],
      ["MEIw=A==", "bad_base64"],
      ["ME=", "bad_base64"], // padding that does not complete a quantum
      ["====", "bad_base64"],
      ["MEIw%00", "bad_base64"],
      ["MEIw\u00e9", "bad_base64"],
    ];
    for (const [path, problem] of cases) {
      const result = decodeOcspGetPath(path);
      expect(result.ok, path).toBe(false);
      if (!result.ok) {
        expect(result.problem, path).toBe(problem);
        expect(result.error.code).toBe("invalid_argument");
      }
    }
  });

  it("refuses paths that decode to more than maxOcspRequestBytes, and very long paths before decoding", () => {
    const big = Buffer.alloc(maxOcspRequestBytes + 3, 0x41).toString("base64");
    const result = decodeOcspGetPath(big);
    expect(!result.ok && result.problem).toBe("too_large");
    const huge = decodeOcspGetPath("A".repeat(10 * maxOcspRequestBytes));
    expect(!huge.ok && huge.problem).toBe("too_large");
  });
});
