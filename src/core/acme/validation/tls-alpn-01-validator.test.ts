import pino from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ValidationInput } from "./challenge-validator.ts";
import { createChallengeValidator } from "./create-challenge-validator.ts";
import { createDnsLookup } from "./dns-lookup.ts";
import { reverseDnsName } from "./reverse-dns-name.ts";
import { problemOf } from "./testing/problem-of.ts";
import {
  type AcmeTlsCertificateOptions,
  createAcmeTlsCertificate,
  startSilentServer,
  startTestTlsServer,
  type TestServer,
  type TestTlsServer,
  unusedPort,
} from "./testing/test-challenge-servers.ts";
import { startTestDnsServer, type TestDnsServer } from "./testing/test-dns-server.ts";

const token = "tok_ABC-123";
const keyAuthorization = `${token}.thumbprint-of-the-account-key`;

function input(value: string, type: "dns" | "ip" = "dns"): ValidationInput {
  return { type: "tls-alpn-01", identifier: { type, value }, token, keyAuthorization };
}

describe("tls-alpn-01 (RFC 8737)", () => {
  let dns: TestDnsServer;
  const servers: TestServer[] = [];
  beforeAll(async () => {
    dns = await startTestDnsServer();
  });
  afterAll(() => dns.close());
  afterEach(async () => {
    dns.clearAll();
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  const validator = (tlsAlpnPort: number, timeoutMs = 2000) =>
    createChallengeValidator({
      dns: createDnsLookup({ servers: [dns.address], timeoutMs: 300, tries: 1 }),
      tlsAlpnPort,
      timeoutMs,
      logger: pino({ level: "silent" }),
    });

  async function serve(
    certificate: AcmeTlsCertificateOptions,
    options: { alpnProtocols?: string[]; host?: "127.0.0.1" | "::1" } = {},
  ): Promise<TestTlsServer> {
    const pem = await createAcmeTlsCertificate(certificate);
    const server = await startTestTlsServer({ ...pem, ...options });
    servers.push(server);
    return server;
  }

  const good = (value = "www.example", type: "dns" | "ip" = "dns"): AcmeTlsCertificateOptions => ({
    subjectAltNames: [{ type, value }],
    keyAuthorization,
  });

  it("accepts the validation certificate, sending the domain as SNI", async () => {
    const server = await serve(good());
    dns.setA("www.example", ["127.0.0.1"]);
    const result = await validator(server.port).validate(input("www.example"));
    expect(result, JSON.stringify(result)).toMatchObject({ valid: true });
    expect(server.serverNames).toEqual(["www.example"]);
    expect(result.record).toMatchObject({
      address: "127.0.0.1",
      alpn: "acme-tls/1",
      certificate: { subjectAltNames: ["dns:www.example"], acmeIdentifier: { critical: true } },
    });
  });

  it("validates an ip identifier with the reverse-DNS SNI (RFC 8738 §6)", async () => {
    const v4 = await serve(good("127.0.0.1", "ip"));
    expect((await validator(v4.port).validate(input("127.0.0.1", "ip"))).valid).toBe(true);
    expect(v4.serverNames).toEqual(["1.0.0.127.in-addr.arpa"]);

    const v6 = await serve(good("::1", "ip"), { host: "::1" });
    expect((await validator(v6.port).validate(input("::1", "ip"))).valid).toBe(true);
    expect(v6.serverNames).toEqual([reverseDnsName("::1")]);
    expect(reverseDnsName("::1")).toBe(`1.${"0.".repeat(31)}ip6.arpa`);
    expect(dns.queries).toEqual([]);
  });

  it("refuses a certificate for another key authorization", async () => {
    const server = await serve({ ...good(), keyAuthorization: `${token}.other-thumbprint` });
    dns.setA("www.example", ["127.0.0.1"]);
    const result = problemOf(await validator(server.port).validate(input("www.example")));
    expect(result).toMatchObject({ type: "incorrectResponse", retryable: false });
    expect(result.detail).toContain("does not match the key authorization");
  });

  it("refuses a certificate without the acmeIdentifier extension, or with a non-critical one", async () => {
    dns.setA("www.example", ["127.0.0.1"]);
    const missing = await serve({ ...good(), keyAuthorization: undefined });
    expect(problemOf(await validator(missing.port).validate(input("www.example"))).detail).toContain(
      "must have one acmeIdentifier extension",
    );
    const nonCritical = await serve({ ...good(), critical: false });
    const result = problemOf(await validator(nonCritical.port).validate(input("www.example")));
    expect(result).toMatchObject({ type: "incorrectResponse", retryable: false });
    expect(result.detail).toContain("not critical");
  });

  it("refuses a wrong SAN and more than one SAN", async () => {
    dns.setA("www.example", ["127.0.0.1"]);
    const other = await serve(good("other.example"));
    expect(problemOf(await validator(other.port).validate(input("www.example"))).detail).toContain(
      "must name only www.example, it names dns:other.example",
    );
    const two = await serve({
      subjectAltNames: [
        { type: "dns", value: "www.example" },
        { type: "dns", value: "other.example" },
      ],
      keyAuthorization,
    });
    expect(problemOf(await validator(two.port).validate(input("www.example")))).toMatchObject({
      type: "incorrectResponse",
    });
  });

  it("refuses when acme-tls/1 is not negotiated", async () => {
    dns.setA("www.example", ["127.0.0.1"]);
    // A server speaking other protocols ends the handshake (RFC 7301 §3.2 no_application_protocol).
    const h2 = await serve(good(), { alpnProtocols: ["h2", "http/1.1"] });
    expect(problemOf(await validator(h2.port).validate(input("www.example")))).toMatchObject({
      type: "tls",
      retryable: false,
    });
    // A server without ALPN at all completes the handshake without a protocol.
    const none = await serve(good(), { alpnProtocols: [] });
    const result = problemOf(await validator(none.port).validate(input("www.example")));
    expect(result).toMatchObject({ type: "unauthorized", retryable: false });
    expect(result.detail).toContain('did not negotiate the ALPN protocol "acme-tls/1"');
  });

  it("reports refused connections and timeouts as retryable", async () => {
    dns.setA("www.example", ["127.0.0.1"]);
    expect(problemOf(await validator(await unusedPort()).validate(input("www.example")))).toMatchObject({
      type: "connection",
      retryable: true,
    });
    const silent = await startSilentServer();
    servers.push(silent);
    const result = problemOf(await validator(silent.port, 300).validate(input("www.example")));
    expect(result).toMatchObject({ type: "connection", retryable: true });
    expect(result.detail).toContain("timeout");
  });
});
