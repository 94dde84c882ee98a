import { describe, expect, it } from "vitest";
import { checkChannelBinding } from "./channel-binding.ts";

describe("checkChannelBinding (RFC 7030 §3.5)", () => {
  const binding = { type: "tls-exporter" as const, value: Buffer.alloc(32, 0xab) };

  it("accepts the base64 of the connection's binding, with surrounding spaces", () => {
    expect(checkChannelBinding(` ${binding.value.toString("base64")} `, binding)).toEqual({ ok: true });
  });

  it("refuses a missing, different, truncated or non-base64 value, naming the binding type", () => {
    const missing = checkChannelBinding(undefined, binding);
    expect(missing.ok).toBe(false);
    if (!missing.ok) expect(missing.reason).toMatch(/carries none/);
    for (const value of [
      Buffer.alloc(32, 1).toString("base64"),
      binding.value.subarray(0, 16).toString("base64"),
      "not*base64",
    ]) {
      const result = checkChannelBinding(value, binding);
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.reason).toMatch(/tls-exporter channel binding/);
    }
  });

  it("refuses when the connection has no binding to compare with", () => {
    expect(checkChannelBinding(binding.value.toString("base64"), null).ok).toBe(false);
  });
});
