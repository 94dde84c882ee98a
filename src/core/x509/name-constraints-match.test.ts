import { describe, expect, it } from "vitest";
import { readRoot } from "./der-reader.ts";
import {
  contextConstructed,
  contextPrimitive,
  derOid,
  ia5String,
  ia5Tagged,
  printableString,
  sequence,
  setOf,
  tlv,
  utf8String,
} from "./der-writer.ts";
import { type GeneralSubtrees, nameConstraintsExtension } from "./extensions.ts";
import type { SubjectAltName } from "./general-name.ts";
import { parseIpAddress } from "./ip-address.ts";
import { encodeName, type NameAttribute } from "./name.ts";
import {
  type ConstrainedName,
  checkCertificateNames,
  constrainedNames,
  dnsMatches,
  emailMatches,
  findNameConstraintViolation,
  ipMatches,
  rdnPrefix,
  uriMatches,
} from "./name-constraints-match.ts";
import { canonicalRdns } from "./parse-name.ts";
import { type NameConstraintsView, parseNameConstraints } from "./parse-name-constraints.ts";

function constraints(permitted?: GeneralSubtrees, excluded?: GeneralSubtrees): NameConstraintsView {
  return parseNameConstraints(nameConstraintsExtension({ permitted, excluded }).value, true);
}

function san(type: Exclude<SubjectAltName["type"], "otherName">, value: string): ConstrainedName {
  const [name] = constrainedNames(encodeName([]), [{ type, value }]);
  return name!;
}

function cidrMatches(address: string, cidr: string): boolean {
  const view = constraints({ ip: [cidr] });
  const subtree = view.permitted[0]!;
  if (subtree.form !== "ip") throw new Error("not an ip subtree");
  return ipMatches(parseIpAddress(address)!, subtree.address, subtree.mask);
}

describe("dNSName constraints", () => {
  it.each([
    ["example.com", "example.com", true],
    ["www.example.com", "example.com", true],
    ["a.b.c.example.com", "example.com", true],
    ["*.example.com", "example.com", true],
    ["badexample.com", "example.com", false],
    ["example.com.evil.test", "example.com", false],
    ["com", "example.com", false],
    ["example.org", "example.com", false],
    // Case-insensitive on both sides (RFC 4343).
    ["WWW.Example.COM", "example.com", true],
    ["www.example.com", "EXAMPLE.Com", true],
    // Leading dot: below the domain only, not the domain itself (OpenSSL, Go).
    ["www.example.com", ".example.com", true],
    ["a.b.example.com", ".example.com", true],
    ["example.com", ".example.com", false],
    ["xexample.com", ".example.com", false],
    // An empty constraint is every name.
    ["anything.test", "", true],
  ])("%s in %s: %s", (name, constraint, expected) => {
    expect(dnsMatches(name, constraint)).toBe(expected);
  });

  it("a wildcard is only inside a permitted subtree that covers everything it stands for", () => {
    expect(dnsMatches("*.example.com", "example.com", "permitted")).toBe(true);
    expect(dnsMatches("*.example.com", ".example.com", "permitted")).toBe(true);
    expect(dnsMatches("*.example.com", "app.example.com", "permitted")).toBe(false);
  });

  it("a wildcard that would serve an excluded name matches the exclusion (stricter than OpenSSL)", () => {
    expect(dnsMatches("*.example.com", "secret.example.com", "excluded")).toBe(true);
    expect(dnsMatches("*.example.com", "SECRET.example.com", "excluded")).toBe(true);
    expect(dnsMatches("*.example.com", "a.secret.example.com", "excluded")).toBe(false);
    expect(dnsMatches("*.example.com", ".secret.example.com", "excluded")).toBe(false);
    expect(dnsMatches("*.example.com", "secret.example.org", "excluded")).toBe(false);
    expect(dnsMatches("*.example.com", "secret.example.com", "permitted")).toBe(false);
  });
});

describe("rfc822Name constraints", () => {
  it.each([
    // A mailbox: that mailbox only; host case-insensitive, local part case-sensitive.
    ["root@example.com", "root@example.com", true],
    ["root@EXAMPLE.com", "root@example.com", true],
    ["Root@example.com", "root@example.com", false],
    ["admin@example.com", "root@example.com", false],
    ["root@mail.example.com", "root@example.com", false],
    // A host: every mailbox at that host, not below it.
    ["anyone@example.com", "example.com", true],
    ["anyone@Example.COM", "example.com", true],
    ["anyone@mail.example.com", "example.com", false],
    ["anyone@badexample.com", "example.com", false],
    // A domain: every mailbox at a host below it, not at the domain itself.
    ["anyone@mail.example.com", ".example.com", true],
    ["anyone@a.b.example.com", ".EXAMPLE.com", true],
    ["anyone@example.com", ".example.com", false],
    ["anyone@badexample.com", ".example.com", false],
  ])("%s in %s: %s", (mailbox, constraint, expected) => {
    expect(emailMatches(mailbox, constraint)).toBe(expected);
  });

  it("an excluded mailbox also matches in another case", () => {
    expect(emailMatches("Root@example.com", "root@example.com", "excluded")).toBe(true);
  });

  it("a name without @ cannot be checked", () => {
    expect(emailMatches("example.com", "example.com")).toEqual({ cannotCheck: "the mailbox has no @" });
  });
});

describe("uniformResourceIdentifier constraints", () => {
  it.each([
    ["https://host.example.com/path", "host.example.com", true],
    ["https://HOST.example.com:8443/", "host.example.com", true],
    ["spiffe://host.example.com/ns/default/sa/web", "host.example.com", true],
    ["https://host.example.com?q=1", "host.example.com", true],
    ["https://www.host.example.com/", "host.example.com", false],
    ["https://a.example.com/", ".example.com", true],
    ["https://a.b.example.com/", ".example.com", true],
    ["https://example.com/", ".example.com", false],
    // OpenSSL reads this host as "evil.test#.example.com"; the host is evil.test.
    ["https://evil.test#.example.com", ".example.com", false],
  ])("%s in %s: %s", (uri, constraint, expected) => {
    expect(uriMatches(uri, constraint)).toBe(expected);
  });

  it.each([
    ["urn:dev:7", "no authority"],
    ["mailto:root@example.com", "no authority"],
    ["https://10.0.0.1/", "IP address"],
    ["https://[2001:db8::1]/", "IP address"],
    ["https://user@host.example.com/", "user information"],
    ["https://evil%2etest/", "not a plain domain name"],
    ["file:///etc/passwd", "empty host"],
  ])("%s cannot be checked (%s): RFC 5280 §4.2.1.10 says reject", (uri, reason) => {
    const result = uriMatches(uri, "example.com");
    expect(typeof result === "object" && result.cannotCheck).toContain(reason);
  });
});

describe("iPAddress constraints", () => {
  it.each([
    ["10.1.2.3", "10.0.0.0/8", true],
    ["10.255.255.255", "10.0.0.0/8", true],
    ["11.0.0.1", "10.0.0.0/8", false],
    ["9.255.255.255", "10.0.0.0/8", false],
    ["192.0.2.7", "192.0.2.7/32", true],
    ["192.0.2.8", "192.0.2.7/32", false],
    ["203.0.113.9", "0.0.0.0/0", true],
    ["2001:db8::1", "2001:db8::/32", true],
    ["2001:db8:ffff:ffff::1", "2001:db8::/32", true],
    ["2001:db9::1", "2001:db8::/32", false],
    ["fe80::1", "fe80::/10", true],
    ["febf::1", "fe80::/10", true],
    ["fec0::1", "fe80::/10", false],
    // An IPv4 constraint never matches an IPv6 address, IPv4-mapped or not, nor the reverse.
    ["::ffff:10.1.2.3", "10.0.0.0/8", false],
    ["::a01:203", "10.0.0.0/8", false],
    ["2001:db8::1", "0.0.0.0/0", false],
    ["10.1.2.3", "::/0", false],
    ["::ffff:10.1.2.3", "::ffff:0:0/96", true],
  ])("%s in %s: %s", (address, cidr, expected) => {
    expect(cidrMatches(address, cidr)).toBe(expected);
  });

  it("applies a non-contiguous mask bit by bit, as OpenSSL does", () => {
    expect(ipMatches(Uint8Array.of(10, 7, 1, 9), Uint8Array.of(10, 0, 1, 0), Uint8Array.of(255, 0, 255, 0))).toBe(true);
    expect(ipMatches(Uint8Array.of(10, 7, 2, 9), Uint8Array.of(10, 0, 1, 0), Uint8Array.of(255, 0, 255, 0))).toBe(
      false,
    );
  });
});

describe("directoryName constraints", () => {
  const rdns = (attributes: NameAttribute[]) => {
    const der = encodeName(attributes);
    return canonicalRdns(der, readRoot(der));
  };
  const base = rdns([
    { type: "C", value: "US" },
    { type: "O", value: "Example Corp" },
  ]);

  it("the constraint's RDNs must be the first RDNs of the name", () => {
    const subject = rdns([
      { type: "C", value: "US" },
      { type: "O", value: "Example Corp" },
      { type: "CN", value: "host" },
    ]);
    expect(rdnPrefix(base, subject)).toBe(true);
    expect(rdnPrefix(base, base)).toBe(true);
    expect(rdnPrefix([], subject)).toBe(true);
    expect(rdnPrefix(subject, base)).toBe(false);
    expect(rdnPrefix(base, rdns([{ type: "C", value: "US" }]))).toBe(false);
    expect(
      rdnPrefix(
        base,
        rdns([
          { type: "O", value: "Example Corp" },
          { type: "C", value: "US" },
        ]),
      ),
    ).toBe(false);
    expect(
      rdnPrefix(
        base,
        rdns([
          { type: "C", value: "US" },
          { type: "O", value: "Other Corp" },
        ]),
      ),
    ).toBe(false);
  });

  it("compares case- and white-space-insensitively, whatever the string type (RFC 5280 §7.1, OpenSSL)", () => {
    const printable = sequence([
      setOf([sequence([derOid("2.5.4.6"), printableString("us")])]),
      setOf([sequence([derOid("2.5.4.10"), printableString("  EXAMPLE   corp ")])]),
    ]);
    expect(rdnPrefix(base, canonicalRdns(printable, readRoot(printable)))).toBe(true);
  });

  it("ignores the order of members in a multi-valued RDN, but not their values", () => {
    const a = sequence([
      setOf([sequence([derOid("2.5.4.10"), utf8String("X")]), sequence([derOid("2.5.4.11"), utf8String("Y")])]),
    ]);
    const b = sequence([
      setOf([sequence([derOid("2.5.4.11"), utf8String("y")]), sequence([derOid("2.5.4.10"), utf8String("x")])]),
    ]);
    const c = sequence([setOf([sequence([derOid("2.5.4.10"), utf8String("x")])])]);
    expect(rdnPrefix(canonicalRdns(a, readRoot(a)), canonicalRdns(b, readRoot(b)))).toBe(true);
    expect(rdnPrefix(canonicalRdns(c, readRoot(c)), canonicalRdns(a, readRoot(a)))).toBe(false);
  });

  it("compares a value of a non-string type as DER", () => {
    const numeric = (v: string) => {
      const der = sequence([
        setOf([sequence([derOid("2.5.4.5"), Uint8Array.from([0x12, v.length, ...Buffer.from(v)])])]),
      ]);
      return canonicalRdns(der, readRoot(der));
    };
    expect(rdnPrefix(numeric("12 3"), numeric("12 3"))).toBe(true);
    expect(rdnPrefix(numeric("12 3"), numeric("12  3"))).toBe(false);
    const ia5 = sequence([setOf([sequence([derOid("2.5.4.5"), ia5String("12 3")])])]);
    expect(rdnPrefix(numeric("12 3"), canonicalRdns(ia5, readRoot(ia5)))).toBe(false);
  });
});

describe("findNameConstraintViolation", () => {
  const nc = constraints(
    { dns: ["example.com"], ip: ["10.0.0.0/8"] },
    { dns: ["secret.example.com"], ip: ["10.9.0.0/16"] },
  );

  it("passes names inside the permitted subtrees", () => {
    expect(findNameConstraintViolation(nc, san("dns", "app.example.com"))).toBeUndefined();
    expect(findNameConstraintViolation(nc, san("dns", "example.com"))).toBeUndefined();
    expect(findNameConstraintViolation(nc, san("ip", "10.20.30.40"))).toBeUndefined();
  });

  it("names the SAN and the permitted subtrees of its form", () => {
    expect(findNameConstraintViolation(nc, san("dns", "evil.test"))).toMatchObject({
      kind: "permitted",
      message: "dns:evil.test is outside the issuing CA's permitted subtrees (dns: example.com)",
    });
    expect(findNameConstraintViolation(nc, san("ip", "192.0.2.1"))?.message).toBe(
      "ip:192.0.2.1 is outside the issuing CA's permitted subtrees (ip: 10.0.0.0/8)",
    );
    expect(findNameConstraintViolation(nc, san("ip", "2001:db8::1"))?.kind).toBe("permitted");
  });

  it("excluded wins over permitted", () => {
    expect(findNameConstraintViolation(nc, san("dns", "db.secret.example.com"))).toMatchObject({
      kind: "excluded",
      message: "dns:db.secret.example.com is inside the issuing CA's excluded subtree (dns: secret.example.com)",
    });
    expect(findNameConstraintViolation(nc, san("dns", "SECRET.example.com"))?.kind).toBe("excluded");
    expect(findNameConstraintViolation(nc, san("ip", "10.9.1.1"))?.kind).toBe("excluded");
    expect(findNameConstraintViolation(nc, san("dns", "*.example.com"))?.kind).toBe("excluded");
  });

  it("leaves a form with no subtrees of its own unconstrained", () => {
    expect(findNameConstraintViolation(nc, san("email", "anyone@evil.test"))).toBeUndefined();
    expect(findNameConstraintViolation(nc, san("uri", "urn:dev:7"))).toBeUndefined();
    const dnsOnly = constraints({ dns: ["example.com"] });
    expect(findNameConstraintViolation(dnsOnly, san("ip", "192.0.2.1"))).toBeUndefined();
  });

  it("with only excluded subtrees, everything else is allowed", () => {
    const excludedOnly = constraints(undefined, { dns: [".internal.example.com"], email: ["example.net"] });
    expect(findNameConstraintViolation(excludedOnly, san("dns", "www.example.org"))).toBeUndefined();
    expect(findNameConstraintViolation(excludedOnly, san("dns", "internal.example.com"))).toBeUndefined();
    expect(findNameConstraintViolation(excludedOnly, san("dns", "a.internal.example.com"))?.kind).toBe("excluded");
    expect(findNameConstraintViolation(excludedOnly, san("email", "x@example.net"))?.kind).toBe("excluded");
  });

  it("refuses a URI it cannot check when URI constraints exist", () => {
    const uris = constraints({ uri: [".example.com"] });
    expect(findNameConstraintViolation(uris, san("uri", "https://a.example.com/x"))).toBeUndefined();
    expect(findNameConstraintViolation(uris, san("uri", "urn:dev:7"))).toMatchObject({
      kind: "unsupported",
      message:
        "uri:urn:dev:7 cannot be checked against the issuing CA's uri name constraints: the URI has no authority (host) part",
    });
  });

  it("a subtree it cannot evaluate refuses every name of that form, and only that form", () => {
    const subtree = sequence([
      ia5Tagged(contextPrimitive(2), "example.com"),
      tlv(contextPrimitive(1), Uint8Array.of(2)),
    ]);
    const withMax = parseNameConstraints(sequence([tlv(contextConstructed(0), subtree)]), true);
    expect(findNameConstraintViolation(withMax, san("dns", "www.example.com"))).toMatchObject({
      kind: "unsupported",
      message:
        "dns:www.example.com cannot be checked against the issuing CA's dns name constraints: maximum is present (dns: example.com)",
    });
    expect(findNameConstraintViolation(withMax, san("ip", "192.0.2.1"))).toBeUndefined();
  });

  it("constraints of forms we never issue constrain nothing (RFC 5280 §4.2.1.10)", () => {
    const subtree = sequence([tlv(contextPrimitive(8), Uint8Array.of(0x2a, 0x03))]);
    const registeredId = parseNameConstraints(sequence([tlv(contextConstructed(1), subtree)]), true);
    expect(registeredId.excluded).toEqual([{ form: "other", text: "registeredID" }]);
    expect(findNameConstraintViolation(registeredId, san("dns", "anything.test"))).toBeUndefined();
  });

  it("names a CA other than the issuer when asked", () => {
    expect(findNameConstraintViolation(nc, san("dns", "evil.test"), 'the CA "CN=Root"')?.message).toBe(
      'dns:evil.test is outside the CA "CN=Root"\'s permitted subtrees (dns: example.com)',
    );
  });
});

describe("constrainedNames", () => {
  it("lists the subject DN, its emailAddress, a host-name CN and every SAN", () => {
    const subject = encodeName([
      { type: "O", value: "Example" },
      { type: "CN", value: "App.Example.com" },
      { type: "emailAddress", value: "ops@example.com" },
    ]);
    const names = constrainedNames(subject, [
      { type: "dns", value: "app.example.com" },
      { type: "ip", value: "10.1.2.3" },
      { type: "email", value: "ops@example.com" },
      { type: "uri", value: "https://app.example.com/" },
    ]);
    expect(names.map((n) => [n.form, n.label])).toEqual([
      ["directoryName", 'subject "emailAddress=ops@example.com,CN=App.Example.com,O=Example"'],
      ["dns", "subject CN App.Example.com (as a host name)"],
      ["email", "subject emailAddress ops@example.com"],
      ["dns", "dns:app.example.com"],
      ["ip", "ip:10.1.2.3"],
      ["email", "email:ops@example.com"],
      ["uri", "uri:https://app.example.com/"],
    ]);
    expect(names[1]).toMatchObject({ value: "app.example.com" });
  });

  it("an empty subject is not a directoryName (RFC 5280 §6.1.3 (b))", () => {
    expect(constrainedNames(encodeName([]), [{ type: "dns", value: "a.example.com" }]).map((n) => n.form)).toEqual([
      "dns",
    ]);
  });

  it.each([
    ["My Device", false],
    ["localhost", false],
    ["-a.example.com", false],
    ["a-.example.com", false],
    ["a..example.com", false],
    ["under_score.example.com", true],
    ["*.example.com", true],
    ["host.example.com", true],
  ])("CN %s is taken for a host name: %s", (cn, expected) => {
    const names = constrainedNames(encodeName([{ type: "CN", value: cn }]), []);
    expect(names.some((n) => n.form === "dns")).toBe(expected);
  });

  it("a dotted-quad CN counts as a host name only without a dNSName SAN, as in OpenSSL", () => {
    const subject = encodeName([{ type: "CN", value: "10.1.2.3" }]);
    const ipOnly = constrainedNames(subject, [{ type: "ip", value: "10.1.2.3" }]);
    expect(ipOnly.filter((n) => n.form === "dns").map((n) => n.label)).toEqual([
      "subject CN 10.1.2.3 (as a host name)",
    ]);
    const withDns = constrainedNames(subject, [
      { type: "ip", value: "10.1.2.3" },
      { type: "dns", value: "a.example.com" },
    ]);
    expect(withDns.filter((n) => n.form === "dns").map((n) => n.label)).toEqual(["dns:a.example.com"]);
  });

  it("checkCertificateNames reports the first name that breaks a constraint", () => {
    const nc = constraints({ dns: ["example.com"] });
    const names = constrainedNames(encodeName([{ type: "CN", value: "evil.test" }]), [
      { type: "dns", value: "app.example.com" },
    ]);
    expect(checkCertificateNames(nc, names)?.message).toBe(
      "subject CN evil.test (as a host name) is outside the issuing CA's permitted subtrees (dns: example.com)",
    );
  });
});
