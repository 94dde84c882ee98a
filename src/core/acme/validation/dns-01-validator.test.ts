import pino from "pino";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { ValidationInput } from "./challenge-validator.ts";
import { createChallengeValidator } from "./create-challenge-validator.ts";
import { createDnsLookup } from "./dns-lookup.ts";
import { dns01TxtValue } from "./key-authorization-digest.ts";
import { problemOf } from "./testing/problem-of.ts";
import { startTestDnsServer, type TestDnsServer } from "./testing/test-dns-server.ts";

const token = "tok_ABC-123";
const keyAuthorization = `${token}.thumbprint-of-the-account-key`;

function input(value: string, type: "dns" | "ip" = "dns"): ValidationInput {
  return { type: "dns-01", identifier: { type, value }, token, keyAuthorization };
}

describe("dns-01 (RFC 8555 §8.4)", () => {
  let dns: TestDnsServer;
  beforeAll(async () => {
    dns = await startTestDnsServer();
  });
  afterAll(() => dns.close());
  beforeEach(() => dns.clearAll());
  const validator = () =>
    createChallengeValidator({
      dns: createDnsLookup({ servers: [dns.address], timeoutMs: 300, tries: 1 }),
      timeoutMs: 1000,
      logger: pino({ level: "silent" }),
    });

  it("computes base64url(SHA-256(keyAuthorization)) without padding", () => {
    // SHA-256("abc") is the FIPS 180-4 test vector ba7816bf…f20015ad; here in base64url.
    expect(dns01TxtValue("abc")).toBe("ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0");
  });

  it("finds the digest among other TXT values", async () => {
    dns.setTxt("_acme-challenge.www.example", ["unrelated", dns01TxtValue(keyAuthorization)]);
    const result = await validator().validate(input("WWW.Example."));
    expect(result.valid).toBe(true);
    expect(result.record).toMatchObject({ name: "_acme-challenge.www.example" });
  });

  it("follows a CNAME delegating the challenge to another zone", async () => {
    dns.setCname("_acme-challenge.www.example", "www.example.acme-delegate.example");
    dns.setTxt("www.example.acme-delegate.example", [dns01TxtValue(keyAuthorization)]);
    expect((await validator().validate(input("www.example"))).valid).toBe(true);
  });

  it("refuses a wrong value, reports a missing record, and retries on SERVFAIL", async () => {
    dns.setTxt("_acme-challenge.wrong.example", [dns01TxtValue(`${token}.other-thumbprint`)]);
    const wrong = problemOf(await validator().validate(input("wrong.example")));
    expect(wrong).toMatchObject({ type: "incorrectResponse", retryable: false });
    expect(wrong.detail).toContain("_acme-challenge.wrong.example");

    expect(problemOf(await validator().validate(input("missing.example")))).toMatchObject({
      type: "unauthorized",
      retryable: false,
    });
    dns.setServfail("_acme-challenge.broken.example");
    expect(problemOf(await validator().validate(input("broken.example")))).toMatchObject({
      type: "dns",
      retryable: true,
    });
    dns.setDrop("_acme-challenge.slow.example");
    expect(problemOf(await validator().validate(input("slow.example")))).toMatchObject({
      type: "dns",
      retryable: true,
    });
  });

  it("refuses an ip identifier (RFC 8738 §7)", async () => {
    expect(problemOf(await validator().validate(input("127.0.0.1", "ip")))).toMatchObject({
      type: "malformed",
      retryable: false,
    });
    expect(dns.queries).toEqual([]);
  });
});
