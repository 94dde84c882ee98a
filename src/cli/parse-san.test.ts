import { describe, expect, it } from "vitest";
import { parseSan, UsageError } from "./cli-context.ts";

describe("parseSan (--san)", () => {
  it("reads typed SANs, an otherName of the OID registry, and guesses only unambiguous untyped ones", () => {
    expect(parseSan("dns:www.example.com")).toEqual({ type: "dns", value: "www.example.com", otherName: "" });
    expect(parseSan("URI:spiffe://example.org/a")).toEqual({
      type: "uri",
      value: "spiffe://example.org/a",
      otherName: "",
    });
    expect(parseSan("otherName:upn:alice@example.com")).toEqual({
      type: "otherName",
      otherName: "upn",
      value: "alice@example.com",
    });
    // The value may hold colons; the registry id may not.
    expect(parseSan("othername:corp-id:a:b")).toEqual({ type: "otherName", otherName: "corp-id", value: "a:b" });
    expect(parseSan("192.0.2.1")).toEqual({ type: "ip", value: "192.0.2.1", otherName: "" });
    expect(parseSan("2001:db8::1")).toEqual({ type: "ip", value: "2001:db8::1", otherName: "" });
    expect(parseSan("bob@example.com")).toEqual({ type: "email", value: "bob@example.com", otherName: "" });
    expect(parseSan("host.example")).toEqual({ type: "dns", value: "host.example", otherName: "" });
  });

  it("refuses an otherName without its registry id or value, and an untyped text with a colon", () => {
    expect(() => parseSan("otherName:upn")).toThrow(UsageError);
    expect(() => parseSan("otherName:alice@example.com")).toThrow(/otherName:<registry id>:<value>/);
    expect(() => parseSan("spiffe://example.org/a")).toThrow(/say which type/);
  });
});
