import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createCaaChecker } from "./caa-checker.ts";
import type { CaaCheckInput } from "./challenge-validator.ts";
import { createDnsLookup } from "./dns-lookup.ts";
import { startTestDnsServer, type TestCaaRecord, type TestDnsServer } from "./testing/test-dns-server.ts";

const accountUri = "https://chancery.example/acme/main/acct/42";

function request(domain: string, extra: Partial<CaaCheckInput> = {}): CaaCheckInput {
  return {
    domain,
    wildcard: false,
    accountUri,
    validationMethod: "http-01",
    caaIdentities: ["chancery.example"],
    ...extra,
  };
}

const issue = (value: string, flags = 0): TestCaaRecord => ({ flags, tag: "issue", value });
const issuewild = (value: string): TestCaaRecord => ({ flags: 0, tag: "issuewild", value });

describe("createCaaChecker (RFC 8659, RFC 8657)", () => {
  let dns: TestDnsServer;
  beforeAll(async () => {
    dns = await startTestDnsServer();
  });
  afterAll(() => dns.close());
  beforeEach(() => dns.clearAll());
  const checker = () =>
    createCaaChecker({ dns: createDnsLookup({ servers: [dns.address], timeoutMs: 300, tries: 1 }) });

  it("allows issuance when no CAA record exists up to the TLD", async () => {
    dns.setA("www.sub.example.com", ["127.0.0.1"]);
    expect(await checker().check(request("www.sub.example.com"))).toBeNull();
    expect(dns.queries.filter((q) => q.type === "CAA").map((q) => q.name)).toEqual([
      "www.sub.example.com",
      "sub.example.com",
      "example.com",
      "com",
    ]);
  });

  it("uses the closest non-empty RRset: a parent that names us allows, and a closer one wins", async () => {
    dns.setCaa("example.com", [issue("chancery.example")]);
    expect(await checker().check(request("www.sub.example.com"))).toBeNull();
    dns.setCaa("sub.example.com", [issue("other-ca.example")]);
    expect(await checker().check(request("www.sub.example.com"))).toMatchObject({
      type: "urn:ietf:params:acme:error:caa",
      identifier: { type: "dns", value: "www.sub.example.com" },
    });
    dns.setCaa("www.sub.example.com", [issue("Chancery.Example.")]);
    // "Chancery.Example." is not valid issuer-domain-name syntax (trailing dot), so it authorizes no one.
    expect(await checker().check(request("www.sub.example.com"))).not.toBeNull();
    dns.setCaa("www.sub.example.com", [issue("other-ca.example"), issue("CHANCERY.example")]);
    expect(await checker().check(request("www.sub.example.com"))).toBeNull();
  });

  it('refuses when issue names only other CAs, or nobody (";"), or when we have no identity', async () => {
    dns.setCaa("example.com", [issue("other-ca.example")]);
    const problem = await checker().check(request("example.com"));
    expect(problem).toMatchObject({ type: "urn:ietf:params:acme:error:caa", status: 403 });
    expect(problem?.detail).toContain("CAA record for example.com prevents issuance");
    dns.setCaa("example.com", [issue(";")]);
    expect(await checker().check(request("example.com"))).not.toBeNull();
    dns.setCaa("example.com", [issue("chancery.example")]);
    expect(await checker().check(request("example.com", { caaIdentities: [] }))).not.toBeNull();
  });

  it("lets issuewild take precedence for wildcards and ignores it otherwise (§4.3)", async () => {
    dns.setCaa("example.com", [issue("chancery.example"), issuewild(";")]);
    expect(await checker().check(request("example.com"))).toBeNull();
    expect(await checker().check(request("example.com", { wildcard: true }))).toMatchObject({
      identifier: { type: "dns", value: "*.example.com" },
    });
    dns.setCaa("example.com", [issue(";"), issuewild("chancery.example")]);
    expect(await checker().check(request("example.com", { wildcard: true }))).toBeNull();
    expect(await checker().check(request("example.com"))).not.toBeNull();
    // Without issuewild, a wildcard falls back to issue.
    dns.setCaa("example.com", [issue("chancery.example")]);
    expect(await checker().check(request("example.com", { wildcard: true }))).toBeNull();
    // Only issuewild properties: a non-wildcard name is not restricted.
    dns.setCaa("example.com", [issuewild("other-ca.example")]);
    expect(await checker().check(request("example.com"))).toBeNull();
  });

  it("binds issuance to the account URI (RFC 8657 §3)", async () => {
    dns.setCaa("example.com", [issue(`chancery.example; accounturi=${accountUri}`)]);
    expect(await checker().check(request("example.com"))).toBeNull();
    const problem = await checker().check(request("example.com", { accountUri: `${accountUri}0` }));
    expect(problem?.detail).toContain("accounturi");
  });

  it("binds issuance to validation methods (RFC 8657 §4)", async () => {
    dns.setCaa("example.com", [issue("chancery.example; validationmethods=dns-01,tls-alpn-01")]);
    expect(await checker().check(request("example.com", { validationMethod: "dns-01" }))).toBeNull();
    expect(await checker().check(request("example.com", { validationMethod: "tls-alpn-01" }))).toBeNull();
    const problem = await checker().check(request("example.com", { validationMethod: "http-01" }));
    expect(problem?.detail).toContain("validationmethods");
    expect(await checker().check(request("example.com", { validationMethod: "eab-trusted" }))).not.toBeNull();
  });

  it("refuses on an unknown property marked critical, not on a known or non-critical one (§4.1)", async () => {
    dns.setCaa("example.com", [issue("chancery.example"), { flags: 128, tag: "tbs", value: "x" }]);
    const problem = await checker().check(request("example.com"));
    expect(problem?.detail).toContain('critical property "tbs"');
    dns.setCaa("example.com", [issue("chancery.example"), { flags: 0, tag: "tbs", value: "x" }]);
    expect(await checker().check(request("example.com"))).toBeNull();
    dns.setCaa("example.com", [issue("chancery.example", 128), { flags: 128, tag: "iodef", value: "mailto:a@b.c" }]);
    expect(await checker().check(request("example.com"))).toBeNull();
    // An RRset with no issue property does not restrict issuance (§4.2).
    dns.setCaa("example.com", [{ flags: 0, tag: "iodef", value: "mailto:a@b.c" }]);
    expect(await checker().check(request("example.com"))).toBeNull();
  });

  it("follows a CNAME at a step of the climb", async () => {
    dns.setCname("www.example.com", "cdn.provider.example");
    dns.setCaa("cdn.provider.example", [issue("other-ca.example")]);
    dns.setCaa("example.com", [issue("chancery.example")]);
    expect(await checker().check(request("www.example.com"))).not.toBeNull();
    dns.setCaa("cdn.provider.example", [issue("chancery.example")]);
    expect(await checker().check(request("www.example.com"))).toBeNull();
  });

  it("refuses with a dns problem when a lookup fails, at any step of the climb", async () => {
    dns.setServfail("example.com");
    expect(await checker().check(request("www.example.com"))).toMatchObject({
      type: "urn:ietf:params:acme:error:dns",
      identifier: { type: "dns", value: "www.example.com" },
    });
    dns.clear("example.com");
    dns.setDrop("www.example.com");
    expect(await checker().check(request("www.example.com"))).toMatchObject({
      type: "urn:ietf:params:acme:error:dns",
    });
  });
});
