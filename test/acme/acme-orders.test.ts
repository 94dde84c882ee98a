import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRawAcme, csrFor, expectProblem, type RawAcme, type TestAccount } from "./acme-raw-client.ts";
import { type AcmeTestEnv, startAcmeTestEnv } from "./acme-test-env.ts";

/** Orders, authorizations and finalize (RFC 8555 §7.4, §7.5; RFC 8738 IP identifiers), and order rate limits. */

let t: AcmeTestEnv;
let acme: RawAcme;
let account: TestAccount;
beforeAll(async () => {
  t = await startAcmeTestEnv();
  acme = createRawAcme(t);
  account = await acme.createAccount();
}, 120_000);
afterAll(async () => {
  await t?.stop();
});

describe("ACME newOrder refusals (RFC 8555 §7.4, §6.7.1)", () => {
  it("refuses an identifier type other than dns and ip with unsupportedIdentifier", async () => {
    const answer = await acme.post(account, acme.urls.newOrder, {
      identifiers: [{ type: "email", value: "someone@example.com" }],
    });
    expectProblem(answer, 400, "unsupportedIdentifier");
  });

  it("refuses a bad dns name with rejectedIdentifier naming it", async () => {
    const answer = await acme.newOrder(account, ["bad_name..test"]);
    expectProblem(answer, 400, "rejectedIdentifier");
    expect(answer.json.identifier).toEqual({ type: "dns", value: "bad_name..test" });
  });

  it("refuses several bad identifiers with a compound problem whose subproblems name each", async () => {
    const answer = await acme.post(account, acme.urls.newOrder, {
      identifiers: [
        { type: "dns", value: "fine.test" },
        { type: "dns", value: "-bad-.test" },
        { type: "ip", value: "300.1.2.3" },
        { type: "email", value: "a@b.test" },
      ],
    });
    expectProblem(answer, 400, "compound");
    const subproblems = answer.json.subproblems as Array<{ type: string; identifier: unknown }>;
    expect(subproblems.map((p) => [p.type, p.identifier])).toEqual([
      ["urn:ietf:params:acme:error:rejectedIdentifier", { type: "dns", value: "-bad-.test" }],
      ["urn:ietf:params:acme:error:rejectedIdentifier", { type: "ip", value: "300.1.2.3" }],
      ["urn:ietf:params:acme:error:unsupportedIdentifier", { type: "email", value: "a@b.test" }],
    ]);
  });

  it("refuses a profile the directory does not offer with invalidProfile", async () => {
    expectProblem(await acme.newOrder(account, ["profile.test"], { profile: "nope" }), 400, "invalidProfile");
  });

  it("refuses an empty identifier list and a non-object payload member as malformed", async () => {
    expectProblem(await acme.post(account, acme.urls.newOrder, { identifiers: [] }), 400, "malformed");
    expectProblem(await acme.post(account, acme.urls.newOrder, ""), 400, "malformed");
  });
});

describe("ACME authorizations and challenges", () => {
  it("offers only dns-01 for a wildcard", async () => {
    const order = await acme.newOrder(account, ["*.wild.orders.test"]);
    expect(order.status).toBe(201);
    const authorization = await acme.post(account, order.json.authorizations[0], "");
    expect(authorization.json).toMatchObject({
      identifier: { type: "dns", value: "wild.orders.test" },
      wildcard: true,
    });
    expect(authorization.json.challenges.map((c: { type: string }) => c.type)).toEqual(["dns-01"]);
  });

  it("offers no dns-01 for an IP identifier, validates it over http-01 and issues an IP certificate", async () => {
    const order = await acme.newOrder(account, ["127.0.0.1"]);
    expect(order.status).toBe(201);
    const authorization = await acme.post(account, order.json.authorizations[0], "");
    expect(authorization.json.identifier).toEqual({ type: "ip", value: "127.0.0.1" });
    const types = authorization.json.challenges.map((c: { type: string }) => c.type);
    expect(types).toContain("http-01");
    expect(types).not.toContain("dns-01");
    const issued = await acme.issue(account, ["127.0.0.1"]);
    expect(issued.leaf.subjectAltName).toBe("IP Address:127.0.0.1");
    // RFC 8738 §3: fetched from the address itself, with it as the Host.
    expect(t.http.requests.some((r) => r.host === `127.0.0.1:${t.http.port}` || r.host === "127.0.0.1")).toBe(true);
  });

  it("refuses a wildcard in newAuthz", async () => {
    const answer = await acme.post(account, acme.urls.newAuthz, { identifier: { type: "dns", value: "*.pre.test" } });
    expectProblem(answer, 400, "rejectedIdentifier");
  });

  it("pre-authorizes with newAuthz; an order for that name is then ready at once", async () => {
    t.dns.setA("pre.orders.test", ["127.0.0.1"]);
    const created = await acme.post(account, acme.urls.newAuthz, {
      identifier: { type: "dns", value: "pre.orders.test" },
    });
    expect(created.status).toBe(201);
    expect(created.headers.location).toMatch(new RegExp(`^${acme.urls.prefix}/authz/`));
    expect(created.json.status).toBe("pending");
    await acme.proveHttp01(account, created.headers.location!);
    const order = await acme.newOrder(account, ["pre.orders.test"]);
    expect(order.status).toBe(201);
    expect(order.json.status).toBe("ready");
    expect(order.json.authorizations).toEqual([created.headers.location]);
  });

  it("deactivates an authorization on request; its order becomes invalid", async () => {
    const order = await acme.newOrder(account, ["deactivate.orders.test"]);
    const authorizationUrl = order.json.authorizations[0];
    const deactivated = await acme.post(account, authorizationUrl, { status: "deactivated" });
    expect(deactivated.status).toBe(200);
    expect(deactivated.json.status).toBe("deactivated");
    expectProblem(await acme.post(account, authorizationUrl, { status: "valid" }), 400, "malformed");
    const after = await acme.post(account, order.headers.location!, "");
    expect(after.json.status).toBe("invalid");
    expect(after.json.error.type).toBe("urn:ietf:params:acme:error:unauthorized");
  });

  it("refuses to answer a challenge of another account", async () => {
    const order = await acme.newOrder(account, ["mine.orders.test"]);
    const authorization = await acme.post(account, order.json.authorizations[0], "");
    const other = await acme.createAccount();
    expectProblem(await acme.post(other, authorization.json.challenges[0].url, {}), 404, "malformed");
    expectProblem(await acme.post(other, order.headers.location!, ""), 404, "malformed");
  });
});

describe("ACME finalize refusals (RFC 8555 §7.4)", () => {
  it("refuses to finalize a pending order with orderNotReady", async () => {
    const order = await acme.newOrder(account, ["early.orders.test"]);
    const [, csr] = await csrFor(["early.orders.test"]);
    expectProblem(await acme.post(account, order.json.finalize, { csr }), 403, "orderNotReady");
  });

  it("refuses a CSR with an extra name, a missing name, or the account key (badCSR); a second finalize is orderNotReady", async () => {
    const names = ["a.final.test", "b.final.test"];
    const order = await acme.readyOrder(account, names);
    const [, extra] = await csrFor([...names, "c.final.test"]);
    expectProblem(await acme.post(account, order.json.finalize, { csr: extra }), 400, "badCSR");
    const [, missing] = await csrFor(["a.final.test"]);
    expectProblem(await acme.post(account, order.json.finalize, { csr: missing }), 400, "badCSR");
    const [, withAccountKey] = await csrFor(names, account.key.pem);
    expectProblem(await acme.post(account, order.json.finalize, { csr: withAccountKey }), 400, "badCSR");
    expectProblem(await acme.post(account, order.json.finalize, { csr: "not-a-csr" }), 400, "badCSR");

    // Refusals leave the order ready: the right CSR still finalizes it, once.
    const [, good] = await csrFor(names);
    const finalized = await acme.post(account, order.json.finalize, { csr: good });
    expect(finalized.status).toBe(200);
    expect(finalized.json.status).toBe("valid");
    expect(finalized.json.certificate).toMatch(new RegExp(`^${acme.urls.prefix}/cert/[0-9a-f]+$`));
    expectProblem(await acme.post(account, order.json.finalize, { csr: good }), 403, "orderNotReady");
  });
});

describe("ACME order rate limit", () => {
  it("refuses the third order of an hour in a directory allowing two, with 429 and Retry-After", async () => {
    const { gateway } = t.env;
    const issuing = (await gateway.cas.list()).find((ca) => ca.name === "issuing")!;
    await gateway.acmeDirectories.create(
      {
        name: "limited",
        caId: issuing.id,
        allowedProfiles: ["tls-server"],
        rateLimits: { ordersPerAccountPerHour: 2 },
      },
      { actor: "test" },
    );
    const limited = createRawAcme(t, { directory: "limited" });
    const limitedAccount = await limited.createAccount();
    expect((await limited.newOrder(limitedAccount, ["one.limited.test"])).status).toBe(201);
    expect((await limited.newOrder(limitedAccount, ["two.limited.test"])).status).toBe(201);
    const third = await limited.newOrder(limitedAccount, ["three.limited.test"]);
    expectProblem(third, 429, "rateLimited");
    const retryAfter = Number(third.headers["retry-after"]);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(3600);
    // Another directory's limits are its own.
    expect((await acme.newOrder(account, ["three.limited.test"])).status).toBe(201);
  });
});
