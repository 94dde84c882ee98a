import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createDnsLookup } from "./dns-lookup.ts";
import { startTestDnsServer, type TestDnsServer } from "./testing/test-dns-server.ts";

describe("createDnsLookup", () => {
  let server: TestDnsServer;
  beforeAll(async () => {
    server = await startTestDnsServer();
  });
  afterAll(() => server.close());
  beforeEach(() => server.clearAll());
  const lookup = () => createDnsLookup({ servers: [server.address], timeoutMs: 300, tries: 1 });

  it("answers A and AAAA, and tells NXDOMAIN from NODATA", async () => {
    server.setA("Host.Example.", ["127.0.0.1"]);
    server.setAAAA("v6.example", ["::1"]);
    const dns = lookup();
    expect(await dns.a("host.example")).toEqual({ kind: "answer", records: ["127.0.0.1"] });
    expect(await dns.aaaa("v6.example")).toEqual({ kind: "answer", records: ["::1"] });
    expect(await dns.aaaa("host.example")).toEqual({ kind: "nodata" });
    expect(await dns.a("missing.example")).toEqual({ kind: "nxdomain" });
  });

  it("follows a CNAME chain as a recursive resolver does", async () => {
    server.setCname("alias.example", "alias2.example");
    server.setCname("alias2.example", "target.example");
    server.setA("target.example", ["127.0.0.1"]);
    server.setTxt("target.example", ["v=1"]);
    const dns = lookup();
    expect(await dns.a("alias.example")).toEqual({ kind: "answer", records: ["127.0.0.1"] });
    expect(await dns.txt("alias.example")).toEqual({ kind: "answer", records: ["v=1"] });
  });

  it("joins the character-strings of one TXT record and keeps records apart", async () => {
    const long = "x".repeat(600); // three character-strings on the wire
    server.setTxt("txt.example", ["first", long]);
    const answer = await lookup().txt("txt.example");
    expect(answer.kind).toBe("answer");
    expect(answer.kind === "answer" && [...answer.records].sort()).toEqual(["first", long]);
  });

  it("answers over TCP when the UDP answer is truncated", async () => {
    const values = Array.from({ length: 12 }, (_, i) => `${i}`.repeat(200));
    server.setTxt("big.example", values);
    const answer = await lookup().txt("big.example");
    expect(answer.kind === "answer" && [...answer.records].sort()).toEqual([...values].sort());
    expect(server.queries.map((q) => q.transport)).toEqual(["udp", "tcp"]);
  });

  it("reads CAA flags, tag and value", async () => {
    server.setCaa("caa.example", [
      { flags: 0, tag: "issue", value: "ca.example; accounturi=https://ca.example/acct/1" },
      { flags: 128, tag: "tbs", value: "unknown" },
    ]);
    const answer = await lookup().caa("caa.example");
    expect(answer).toEqual({
      kind: "answer",
      records: [
        { flags: 0, tag: "issue", value: "ca.example; accounturi=https://ca.example/acct/1" },
        { flags: 128, tag: "tbs", value: "unknown" },
      ],
    });
  });

  it("reports SERVFAIL and timeouts as failures, distinct from absent names", async () => {
    server.setServfail("broken.example");
    server.setDrop("silent.example");
    const dns = lookup();
    expect(await dns.a("broken.example")).toMatchObject({ kind: "failure", reason: "servfail" });
    const started = Date.now();
    expect(await dns.caa("silent.example")).toMatchObject({ kind: "failure", reason: "timeout" });
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it("fails (not NXDOMAIN) when no resolver answers at all", async () => {
    const closed = await startTestDnsServer();
    const address = closed.address;
    await closed.close();
    const answer = await createDnsLookup({ servers: [address], timeoutMs: 200, tries: 1 }).a("host.example");
    expect(answer.kind).toBe("failure");
  });
});
