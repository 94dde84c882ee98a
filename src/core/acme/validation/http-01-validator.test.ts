import https from "node:https";
import type { TLSSocket } from "node:tls";
import pino from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ValidationInput } from "./challenge-validator.ts";
import { createChallengeValidator } from "./create-challenge-validator.ts";
import { createDnsLookup } from "./dns-lookup.ts";
import { problemOf } from "./testing/problem-of.ts";
import {
  createAcmeTlsCertificate,
  serveKeyAuthorization,
  startSilentServer,
  startTestHttpServer,
  type TestServer,
  unusedPort,
} from "./testing/test-challenge-servers.ts";
import { startTestDnsServer, type TestDnsServer } from "./testing/test-dns-server.ts";

const token = "tok_ABC-123";
const keyAuthorization = `${token}.thumbprint-of-the-account-key`;
const challengePath = `/.well-known/acme-challenge/${token}`;

function input(value: string, type: "dns" | "ip" = "dns"): ValidationInput {
  return { type: "http-01", identifier: { type, value }, token, keyAuthorization };
}

describe("http-01 (RFC 8555 §8.3)", () => {
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

  function validator(httpPort: number, extra: { httpsPort?: number; timeoutMs?: number; maxBodyBytes?: number } = {}) {
    return createChallengeValidator({
      dns: createDnsLookup({ servers: [dns.address], timeoutMs: 500, tries: 1 }),
      httpPort,
      timeoutMs: extra.timeoutMs ?? 2000,
      logger: pino({ level: "silent" }),
      ...extra,
    });
  }

  async function http(handler: Parameters<typeof startTestHttpServer>[0], host: "127.0.0.1" | "::1" = "127.0.0.1") {
    const server = await startTestHttpServer(handler, host);
    servers.push(server);
    return server;
  }

  it("accepts the key authorization, trailing whitespace ignored, with the Host header of the identifier", async () => {
    const server = await http((req, res) => {
      res.end(req.url === challengePath ? `${keyAuthorization}\r\n \n` : "no");
    });
    dns.setA("www.example", ["127.0.0.1"]);
    const result = await validator(server.port).validate(input("www.example"));
    expect(result.valid).toBe(true);
    expect(server.requests).toEqual([{ host: `www.example:${server.port}`, path: challengePath }]);
    expect(result.record).toMatchObject({
      url: `http://www.example:${server.port}${challengePath}`,
      hops: [{ address: "127.0.0.1", status: 200, dns: { A: ["127.0.0.1"], AAAA: "nodata" } }],
    });
  });

  it("refuses a wrong key authorization and a 404", async () => {
    const server = await http((req, res) => {
      if (req.url === challengePath) res.end(`${token}.some-other-thumbprint`);
      else res.writeHead(404).end();
    });
    dns.setA("www.example", ["127.0.0.1"]);
    const wrong = problemOf(await validator(server.port).validate(input("www.example")));
    expect(wrong).toMatchObject({ type: "incorrectResponse", retryable: false });
    expect(wrong.detail).toContain("some-other-thumbprint");
    const missing = problemOf(await validator(server.port).validate({ ...input("www.example"), token: "other-token" }));
    expect(missing).toMatchObject({ type: "unauthorized", retryable: false });
    expect(missing.detail).toContain("HTTP 404");
  });

  it("reports a refused connection as a retryable connection problem", async () => {
    dns.setA("www.example", ["127.0.0.1"]);
    const result = problemOf(await validator(await unusedPort()).validate(input("www.example")));
    expect(result).toMatchObject({ type: "connection", retryable: true });
    expect(result.detail).toContain("ECONNREFUSED");
  });

  it("times out on a server that accepts and never answers", async () => {
    const silent = await startSilentServer();
    servers.push(silent);
    dns.setA("www.example", ["127.0.0.1"]);
    const started = Date.now();
    const result = problemOf(await validator(silent.port, { timeoutMs: 300 }).validate(input("www.example")));
    expect(result).toMatchObject({ type: "connection", retryable: true });
    expect(result.detail).toContain("timeout");
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it("gives a dns problem when the name has no address, retryable only on SERVFAIL", async () => {
    const v = validator(80);
    expect(problemOf(await v.validate(input("missing.example")))).toMatchObject({ type: "dns", retryable: false });
    dns.setServfail("broken.example");
    expect(problemOf(await v.validate(input("broken.example")))).toMatchObject({ type: "dns", retryable: true });
  });

  it("falls back from the A address to the AAAA address when the first refuses", async () => {
    // Only ::1 listens on this port, so 127.0.0.1 refuses.
    const server = await http(serveKeyAuthorization(token, keyAuthorization), "::1");
    dns.setA("dual.example", ["127.0.0.1"]);
    dns.setAAAA("dual.example", ["::1"]);
    const result = await validator(server.port).validate(input("dual.example"));
    expect(result.valid).toBe(true);
    expect(result.record).toMatchObject({ hops: [{ address: "::1", status: 200 }] });
  });

  it("follows redirects to another path, another name and https on an allowed port", async () => {
    const tlsCert = await createAcmeTlsCertificate({
      subjectAltNames: [{ type: "dns", value: "other.example" }],
      keyAuthorization: undefined,
    });
    // An https server on an allowed port: a TLS server speaking HTTP.
    const httpsServer = https.createServer({ cert: tlsCert.certificatePem, key: tlsCert.privateKeyPem }, (req, res) => {
      const sni = (req.socket as TLSSocket).servername;
      const ok = req.url === "/final" && req.headers.host === `secure.example:${httpsPort}` && sni === "secure.example";
      res.end(ok ? keyAuthorization : "wrong");
    });
    await new Promise<void>((done) => httpsServer.listen(0, "127.0.0.1", done));
    const httpsPort = (httpsServer.address() as { port: number }).port;
    servers.push({ host: "127.0.0.1", port: httpsPort, close: () => new Promise((d) => httpsServer.close(() => d())) });

    const server = await http((req, res) => {
      if (req.url === challengePath) res.writeHead(302, { Location: "/step2" }).end();
      else if (req.url === "/step2")
        res.writeHead(301, { Location: `http://other.example:${server.port}/step3` }).end();
      else if (req.url === "/step3")
        res.writeHead(307, { Location: `https://secure.example:${httpsPort}/final` }).end();
      else res.writeHead(404).end();
    });
    dns.setA("www.example", ["127.0.0.1"]);
    dns.setA("other.example", ["127.0.0.1"]);
    dns.setA("secure.example", ["127.0.0.1"]);
    const result = await validator(server.port, { httpsPort }).validate(input("www.example"));
    expect(result, JSON.stringify(result)).toMatchObject({ valid: true });
    expect((result.record as { hops: { url: string }[] }).hops.map((h) => h.url)).toEqual([
      `http://www.example:${server.port}${challengePath}`,
      `http://www.example:${server.port}/step2`,
      `http://other.example:${server.port}/step3`,
      `https://secure.example:${httpsPort}/final`,
    ]);
    expect(server.requests.map((r) => r.host)).toEqual([
      `www.example:${server.port}`,
      `www.example:${server.port}`,
      `other.example:${server.port}`,
    ]);
  });

  it("refuses redirects to other ports, other schemes, IP literals, and too many redirects", async () => {
    let location = "";
    const server = await http((_req, res) => res.writeHead(302, { Location: location }).end());
    dns.setA("www.example", ["127.0.0.1"]);
    const v = validator(server.port);
    const cases = [
      ["http://www.example:8081/x", "redirect to port 8081 is not allowed"],
      ["ftp://www.example/x", "redirect to ftp: is not allowed"],
      [`http://127.0.0.1:${server.port}/x`, "redirect to the IP address 127.0.0.1 is not allowed"],
      [challengePath, "more than 10 redirects"],
    ] as const;
    for (const [target, expected] of cases) {
      location = target;
      const refused = problemOf(await v.validate(input("www.example")));
      expect(refused).toMatchObject({ type: "unauthorized", retryable: false });
      expect(refused.detail).toContain(expected);
    }
    // The loop: the first request and 10 redirects, nothing more.
    expect(server.requests.filter((r) => r.path === challengePath)).toHaveLength(3 + 11);
  });

  it("refuses a body larger than the cap", async () => {
    const server = await http((_req, res) => res.end(keyAuthorization + "x".repeat(10_000)));
    dns.setA("www.example", ["127.0.0.1"]);
    const result = problemOf(await validator(server.port).validate(input("www.example")));
    expect(result).toMatchObject({ type: "incorrectResponse", retryable: false });
    expect(result.detail).toContain("larger than 8192 bytes");
  });

  it("validates an IPv4 ip identifier at the address itself (RFC 8738 §7)", async () => {
    const server = await http(serveKeyAuthorization(token, keyAuthorization));
    const result = await validator(server.port).validate(input("127.0.0.1", "ip"));
    expect(result.valid).toBe(true);
    expect(server.requests[0]!.host).toBe(`127.0.0.1:${server.port}`);
    expect(dns.queries).toEqual([]);
  });

  it("validates an IPv6 ip identifier, bracketed in the URL and Host header", async () => {
    const server = await http(serveKeyAuthorization(token, keyAuthorization), "::1");
    const result = await validator(server.port).validate(input("0:0:0:0:0:0:0:1", "ip"));
    expect(result.valid).toBe(true);
    expect(result.record).toMatchObject({ url: `http://[::1]:${server.port}${challengePath}` });
    expect(server.requests[0]!.host).toBe(`[::1]:${server.port}`);
  });

  it("refuses a wildcard and a malformed token", async () => {
    const v = validator(80);
    expect(problemOf(await v.validate(input("*.example")))).toMatchObject({ type: "malformed" });
    expect(problemOf(await v.validate({ ...input("www.example"), token: "../etc" }))).toMatchObject({
      type: "malformed",
    });
  });
});
