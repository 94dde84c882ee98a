import { describe, expect, it } from "vitest";
import { commandLineSafeBytes } from "./command-line-safe-bytes.ts";

describe("commandLineSafeBytes", () => {
  it("never gives a base64url text that a command line would read as an option", () => {
    // Unfiltered, about 1 in 32 would start with "-" or "_": in 4,000 draws ~125 would.
    const firsts = new Set<string>();
    for (let i = 0; i < 4000; i++) {
      const bytes = commandLineSafeBytes(i % 2 === 0 ? 16 : 32);
      expect(bytes).toHaveLength(i % 2 === 0 ? 16 : 32);
      firsts.add(bytes.toString("base64url")[0]!);
    }
    expect(firsts.has("-")).toBe(false);
    expect(firsts.has("_")).toBe(false);
    // Every other first character still occurs: the rest of the alphabet is not cut.
    expect(firsts.size).toBe(62);
  });
});
