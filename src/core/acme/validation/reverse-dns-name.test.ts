import { describe, expect, it } from "vitest";
import { reverseDnsName } from "./reverse-dns-name.ts";

describe("reverseDnsName (RFC 8738 §6)", () => {
  it("maps IPv4 under in-addr.arpa and IPv6 nibbles under ip6.arpa", () => {
    expect(reverseDnsName("192.0.2.10")).toBe("10.2.0.192.in-addr.arpa");
    // RFC 3596 §2.5 example address.
    expect(reverseDnsName("4321:0:1:2:3:4:567:89ab")).toBe(
      "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.0.0.0.0.1.2.3.4.ip6.arpa",
    );
    expect(reverseDnsName("not-an-ip")).toBeUndefined();
  });
});
