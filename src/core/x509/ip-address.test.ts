import { isIPv6 } from "node:net";
import { describe, expect, it } from "vitest";
import { formatCidr, formatIpAddress, parseCidr, parseIpAddress } from "./ip-address.ts";

const hex = (bytes: Uint8Array | undefined) => (bytes ? Buffer.from(bytes).toString("hex") : undefined);

describe("IP addresses", () => {
  it.each([
    ["192.0.2.1", "c0000201", "192.0.2.1"],
    ["::1", "00000000000000000000000000000001", "::1"],
    ["::", "00000000000000000000000000000000", "::"],
    ["2001:DB8::1", "20010db8000000000000000000000001", "2001:db8::1"],
    ["2001:db8:0:0:1:0:0:1", "20010db8000000000001000000000001", "2001:db8::1:0:0:1"],
    ["2001:0db8:0000:0000:0000:ff00:0042:8329", "20010db8000000000000ff0000428329", "2001:db8::ff00:42:8329"],
    ["fe80::", "fe800000000000000000000000000000", "fe80::"],
    ["1:0:1:0:1:0:1:0", "00010000000100000001000000010000", "1:0:1:0:1:0:1:0"],
    ["::ffff:192.0.2.1", "00000000000000000000ffffc0000201", "::ffff:192.0.2.1"],
    ["64:ff9b::192.0.2.1", "0064ff9b0000000000000000c0000201", "64:ff9b::c000:201"],
  ])("parses %s and formats it the RFC 5952 way", (text, bytes, canonical) => {
    expect(hex(parseIpAddress(text))).toBe(bytes);
    expect(formatIpAddress(parseIpAddress(text)!)).toBe(canonical);
    expect(hex(parseIpAddress(canonical))).toBe(bytes);
  });

  it.each(["", "1.2.3", "1.2.3.256", "01.2.3.4", "1::2::3", "fe80::1%eth0", "12345::", "example.com", "[::1]", " ::1"])(
    "rejects %j",
    (text) => {
      expect(parseIpAddress(text)).toBeUndefined();
    },
  );

  it("round-trips random IPv6 addresses, including zero runs", () => {
    for (let i = 0; i < 500; i++) {
      const bytes = new Uint8Array(16);
      for (let g = 0; g < 8; g++) {
        const v = Math.random() < 0.5 ? 0 : Math.floor(Math.random() * 65536);
        bytes[2 * g] = v >> 8;
        bytes[2 * g + 1] = v & 0xff;
      }
      const text = formatIpAddress(bytes);
      expect(isIPv6(text)).toBe(true);
      expect(hex(parseIpAddress(text))).toBe(hex(bytes));
    }
  });
});

describe("CIDR blocks for name constraints", () => {
  it("encodes address then mask", () => {
    expect(hex(parseCidr("10.0.0.0/8"))).toBe("0a000000ff000000");
    expect(hex(parseCidr("2001:db8::/32"))).toBe(`20010db8${"0".repeat(24)}ffffffff${"0".repeat(24)}`);
    expect(formatCidr(parseCidr("192.168.0.0/16")!)).toBe("192.168.0.0/16");
    expect(formatCidr(parseCidr("2001:db8::/48")!)).toBe("2001:db8::/48");
  });

  it("refuses host bits and malformed prefixes", () => {
    expect(parseCidr("10.1.2.3/8")).toBeUndefined();
    expect(parseCidr("10.0.0.0/33")).toBeUndefined();
    expect(parseCidr("10.0.0.0")).toBeUndefined();
    expect(parseCidr("::/129")).toBeUndefined();
  });
});
