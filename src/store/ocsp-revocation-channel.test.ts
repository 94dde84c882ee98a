import { describe, expect, it } from "vitest";
import { parseRevocationPayload } from "./ocsp-revocation-channel.ts";

describe("revocation notification payloads", () => {
  const caId = "0b8f7a52-3c1e-4d2a-9f6b-1a2b3c4d5e6f";

  it("reads caId:serialHex, and a bare caId (the whole CA), lower-cased", () => {
    expect(parseRevocationPayload(`${caId}:01AB`)).toEqual({ caId, serialHex: "01ab" });
    expect(parseRevocationPayload(caId.toUpperCase())).toEqual({ caId, serialHex: undefined });
  });

  it("refuses anything else", () => {
    for (const payload of ["", "ca1", `${caId}:`, `${caId}:xyz`, `${caId}:01:02`, `${caId}:${"a".repeat(65)}`])
      expect(parseRevocationPayload(payload)).toBeNull();
  });
});
