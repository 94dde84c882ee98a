import { describe, expect, it } from "vitest";
import { ChanceryError } from "../errors.ts";
import { atLeast, isRole } from "./role.ts";
import { ipAllowed, normalizeSubnet } from "./subnet.ts";

describe("allowed subnets", () => {
  it.each([
    ["10.0.0.0/8", "10.0.0.0/8"],
    [" 192.0.2.0/24 ", "192.0.2.0/24"],
    ["192.0.2.7/32", "192.0.2.7/32"],
    ["0.0.0.0/0", "0.0.0.0/0"],
    ["2001:DB8::/32", "2001:db8::/32"],
    ["2001:db8:0:0:1::/80", "2001:db8:0:0:1::/80"],
    ["::ffff:10.0.0.0/104", "::ffff:10.0.0.0/104"],
    ["::/0", "::/0"],
  ])("accepts %s as %s", (input, canonical) => {
    expect(normalizeSubnet(input, "allowedSubnets[0]")).toBe(canonical);
  });

  it.each([
    ["10.0.0.1", /allowedSubnets\[2\]: "10.0.0.1" is an address, not a CIDR block; write 10.0.0.1\/32/],
    ["2001:db8::1", /write 2001:db8::1\/128 for that one address/],
    ["office", /"office" is not a CIDR block \(an address and a prefix length/],
    ["10.0.0/8", /"10.0.0" in "10.0.0\/8" is not an IPv4 or IPv6 address/],
    ["10.0.0.0/33", /prefix length "33" in "10.0.0.0\/33" must be a number from 0 to 32 for IPv4/],
    ["2001:db8::/129", /must be a number from 0 to 128 for IPv6/],
    ["10.0.0.0/", /prefix length "" /],
    ["10.1.2.3/8", /"10.1.2.3\/8" has bits set after the \/8 prefix; did you mean 10.0.0.0\/8\?/],
    ["2001:db8::1/64", /did you mean 2001:db8::\/64\?/],
    ["fe80::1%eth0/64", /is not an IPv4 or IPv6 address/],
  ])("refuses %s with a message that says why", (input, message) => {
    let thrown: unknown;
    try {
      normalizeSubnet(input, "allowedSubnets[2]");
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(ChanceryError);
    expect(thrown).toMatchObject({ code: "invalid_argument" });
    expect((thrown as Error).message).toMatch(message);
  });

  it("allows anywhere when the list is empty", () => {
    expect(ipAllowed("203.0.113.9", [])).toBe(true);
    expect(ipAllowed("", [])).toBe(true);
  });

  it("matches IPv4", () => {
    const subnets = ["10.0.0.0/8", "192.0.2.128/25"];
    expect(ipAllowed("10.255.0.1", subnets)).toBe(true);
    expect(ipAllowed("192.0.2.200", subnets)).toBe(true);
    expect(ipAllowed("192.0.2.127", subnets)).toBe(false);
    expect(ipAllowed("11.0.0.1", subnets)).toBe(false);
    expect(ipAllowed("2001:db8::1", subnets)).toBe(false);
  });

  it("matches IPv6", () => {
    const subnets = ["2001:db8:aa::/48"];
    expect(ipAllowed("2001:db8:aa:1::5", subnets)).toBe(true);
    expect(ipAllowed("2001:DB8:AA::", subnets)).toBe(true);
    expect(ipAllowed("2001:db8:ab::1", subnets)).toBe(false);
    expect(ipAllowed("10.0.0.1", subnets)).toBe(false);
    expect(ipAllowed("::1", ["::1/128"])).toBe(true);
  });

  it("treats IPv4-mapped IPv6 addresses and blocks as the IPv4 ones", () => {
    // A dual-stack listener reports an IPv4 client as ::ffff:a.b.c.d.
    expect(ipAllowed("::ffff:10.1.2.3", ["10.0.0.0/8"])).toBe(true);
    expect(ipAllowed("::ffff:11.1.2.3", ["10.0.0.0/8"])).toBe(false);
    expect(ipAllowed("10.1.2.3", ["::ffff:10.0.0.0/104"])).toBe(true);
    expect(ipAllowed("11.1.2.3", ["::ffff:10.0.0.0/104"])).toBe(false);
    expect(ipAllowed("::ffff:a01:203", ["10.1.2.3/32"])).toBe(true);
    expect(ipAllowed("192.0.2.1", ["::/0"])).toBe(true);
    // Not mapped: an IPv4-compatible or NAT64 address is not the IPv4 address.
    expect(ipAllowed("64:ff9b::10.1.2.3", ["10.0.0.0/8"])).toBe(false);
  });

  it("denies an address it cannot parse when subnets are set", () => {
    expect(ipAllowed("", ["0.0.0.0/0"])).toBe(false);
    expect(ipAllowed("not-an-ip", ["0.0.0.0/0", "::/0"])).toBe(false);
    expect(ipAllowed("fe80::1%eth0", ["::/0"])).toBe(false);
  });
});

describe("roles", () => {
  it("orders user < operator < admin", () => {
    expect(atLeast("admin", "operator")).toBe(true);
    expect(atLeast("admin", "admin")).toBe(true);
    expect(atLeast("operator", "user")).toBe(true);
    expect(atLeast("operator", "admin")).toBe(false);
    expect(atLeast("user", "operator")).toBe(false);
    expect(isRole("operator")).toBe(true);
    expect(isRole("root")).toBe(false);
    expect(isRole(undefined)).toBe(false);
  });
});
