import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ariCertIdOf } from "../../src/core/acme/renewal-info.ts";
import { createDefaultProfiles } from "../../src/core/profiles/default-profiles.ts";
import type { RequestCaller } from "../../src/core/requests/request.ts";
import { readCertificate } from "../../src/core/x509/parse-certificate.ts";
import {
  createRawAcme,
  csrFor,
  expectProblem,
  indexLinks,
  type RawAcme,
  type TestAccount,
  testKeyFromPem,
} from "./acme-raw-client.ts";
import { type AcmeTestEnv, startAcmeTestEnv } from "./acme-test-env.ts";

/**
 * Issued certificates: revocation (RFC 8555 §7.6), renewal information and
 * replacement orders (RFC 9773), orders that wait for an operator's
 * approval, and the audit trail all of it leaves.
 */

let t: AcmeTestEnv;
let acme: RawAcme;
let account: TestAccount;
let issuingId: string;
beforeAll(async () => {
  t = await startAcmeTestEnv();
  acme = createRawAcme(t);
  account = await acme.createAccount();
  issuingId = (await t.env.gateway.cas.list()).find((ca) => ca.name === "issuing")!.id;
}, 120_000);
afterAll(async () => {
  await t?.stop();
});

const certIdOf = (leaf: { raw: Buffer }) => ariCertIdOf(readCertificate(leaf.raw))!;

function renewalInfo(certId: string) {
  return acme.send("GET", `${acme.urls.renewalInfo}/${certId}`);
}

describe("ACME revokeCert (RFC 8555 §7.6)", () => {
  it("revokes for the account that ordered it (reason 1), then says alreadyRevoked; renewalInfo moves to the past", async () => {
    const issued = await acme.issue(account, ["revoke-me.certs.test"]);
    const certificate = issued.leaf.raw.toString("base64url");
    const before = await renewalInfo(certIdOf(issued.leaf));
    expect(before.status).toBe(200);

    const revoked = await acme.post(account, acme.urls.revokeCert, { certificate, reason: 1 });
    expect(revoked.status).toBe(200);
    expect(revoked.headers["replay-nonce"]).toBeTruthy();
    expectProblem(await acme.post(account, acme.urls.revokeCert, { certificate, reason: 1 }), 400, "alreadyRevoked");

    const after = await renewalInfo(certIdOf(issued.leaf));
    expect(after.status).toBe(200);
    expect(Number(after.headers["retry-after"])).toBeGreaterThan(0);
    const end = new Date(after.json.suggestedWindow.end).getTime();
    expect(new Date(after.json.suggestedWindow.start).getTime()).toBeLessThan(end);
    expect(end).toBeLessThan(Date.now());
  });

  it("revokes when signed with the certificate's own key (jwk)", async () => {
    const issued = await acme.issue(account, ["key-revoke.certs.test"]);
    const certificateKey = await testKeyFromPem(issued.keyPem);
    const answer = await acme.post(certificateKey, acme.urls.revokeCert, {
      certificate: issued.leaf.raw.toString("base64url"),
      reason: 0,
    });
    expect(answer.status).toBe(200);
    // Another key's jwk is refused.
    const again = await acme.issue(account, ["key-revoke-2.certs.test"]);
    expectProblem(
      await acme.post(certificateKey, acme.urls.revokeCert, { certificate: again.leaf.raw.toString("base64url") }),
      403,
      "unauthorized",
    );
  });

  it("refuses another account without authorizations, and a reason ACME clients may not give", async () => {
    const issued = await acme.issue(account, ["not-yours.certs.test"]);
    const certificate = issued.leaf.raw.toString("base64url");
    const stranger = await acme.createAccount();
    expectProblem(await acme.post(stranger, acme.urls.revokeCert, { certificate }), 403, "unauthorized");
    // RFC 5280 reason 6 is certificateHold: not for ACME.
    expectProblem(
      await acme.post(account, acme.urls.revokeCert, { certificate, reason: 6 }),
      400,
      "badRevocationReason",
    );
    expectProblem(await acme.post(account, acme.urls.revokeCert, { certificate: "AAAA" }), 400, "malformed");
  });

  it("lets another account that holds valid authorizations for every name revoke", async () => {
    const issued = await acme.issue(account, ["shared.certs.test"]);
    const holder = await acme.createAccount();
    await acme.readyOrder(holder, ["shared.certs.test"]);
    const answer = await acme.post(holder, acme.urls.revokeCert, {
      certificate: issued.leaf.raw.toString("base64url"),
    });
    expect(answer.status).toBe(200);
  });
});

describe("ACME certificate download (RFC 8555 §7.4.2)", () => {
  it("serves the chain to the account that ordered it, linking the directory once; 404 to others", async () => {
    const issued = await acme.issue(account, ["download.certs.test"]);
    const chain = await acme.post(account, issued.certificateUrl, "");
    expect(chain.status).toBe(200);
    expect(chain.headers["content-type"]).toMatch(/^application\/pem-certificate-chain/);
    expect(indexLinks(chain)).toEqual([`<${acme.urls.directory}>;rel="index"`]);
    const stranger = await acme.createAccount();
    expectProblem(await acme.post(stranger, issued.certificateUrl, ""), 404, "malformed");
    expectProblem(await acme.post(account, issued.certificateUrl, {}), 400, "malformed");
  });
});

describe("ACME renewalInfo (RFC 9773 §4)", () => {
  it("suggests a window inside a live certificate's validity, with Retry-After", async () => {
    const issued = await acme.issue(account, ["ari.certs.test"]);
    const answer = await renewalInfo(certIdOf(issued.leaf));
    expect(answer.status).toBe(200);
    expect(answer.headers["retry-after"]).toBe("21600");
    const start = new Date(answer.json.suggestedWindow.start).getTime();
    const end = new Date(answer.json.suggestedWindow.end).getTime();
    expect(start).toBeGreaterThanOrEqual(new Date(issued.leaf.validFrom).getTime());
    expect(end).toBeLessThanOrEqual(new Date(issued.leaf.validTo).getTime());
    expect(start).toBeLessThan(end);
    expect(start).toBeGreaterThan(Date.now());
  });

  it("answers a malformed certID with 400 and an unknown one with 404", async () => {
    expectProblem(await renewalInfo("not-a-cert-id"), 400, "malformed", { nonce: false });
    expectProblem(await renewalInfo("AAAA.AQ"), 404, "malformed", { nonce: false });
  });
});

describe("ACME replacement orders (RFC 9773 §5)", () => {
  it("accepts one order replacing a certificate of the account, refuses a second (alreadyReplaced) and other accounts", async () => {
    const issued = await acme.issue(account, ["replace.certs.test"]);
    const certId = certIdOf(issued.leaf);
    const replacing = await acme.newOrder(account, ["replace.certs.test"], { replaces: certId });
    expect(replacing.status).toBe(201);
    expect(replacing.json.replaces).toBe(certId);
    expectProblem(await acme.newOrder(account, ["replace.certs.test"], { replaces: certId }), 409, "alreadyReplaced");

    const stranger = await acme.createAccount();
    expectProblem(await acme.newOrder(stranger, ["replace.certs.test"], { replaces: certId }), 403, "unauthorized");
    expectProblem(await acme.newOrder(account, ["replace.certs.test"], { replaces: "junk" }), 400, "malformed");
  });

  it("accepts a new replacement once the previous one failed, even if no one read the failed order again", async () => {
    const name = "replace-again.certs.test";
    const issued = await acme.issue(account, [name]);
    const certId = certIdOf(issued.leaf);
    // The account's valid authorization would make every order ready at once: give it up.
    const reused = await acme.newOrder(account, [name]);
    expect((await acme.post(account, reused.json.authorizations[0], { status: "deactivated" })).status).toBe(200);

    // A replacement whose challenge fails: the client sees the authorization invalid and gives up on the order.
    const first = await acme.newOrder(account, [name], { replaces: certId });
    expect(first.status).toBe(201);
    const authorizationUrl = first.json.authorizations[0];
    const authorization = await acme.post(account, authorizationUrl, "");
    const challenge = authorization.json.challenges.find((c: { type: string }) => c.type === "http-01");
    t.tokens.set(challenge.token, "wrong");
    await acme.post(account, challenge.url, {});
    await acme.pollUntil(account, authorizationUrl, (json) => json["status"] !== "pending");

    // A second try at replacing the same certificate is accepted.
    const second = await acme.newOrder(account, [name], { replaces: certId });
    expect(second.status, second.text).toBe(201);
    const failed = await acme.post(account, first.headers.location!, "");
    expect(failed.json.status).toBe("invalid");
    expect(failed.json.error.subproblems[0].identifier).toEqual({ type: "dns", value: name });

    // Likewise after the client deactivates the pending replacement's authorization.
    expect((await acme.post(account, second.json.authorizations[0], { status: "deactivated" })).status).toBe(200);
    expect((await acme.newOrder(account, [name], { replaces: certId })).status).toBe(201);
  });
});

describe("ACME orders that need an operator's approval", () => {
  let approval: RawAcme;
  beforeAll(async () => {
    const { gateway } = t.env;
    // A copy of tls-server that waits for one approver, allowed on the CA and offered by its own directory.
    const tlsServer = createDefaultProfiles().find((p) => p.name === "tls-server")!;
    await gateway.profiles.create(
      { ...tlsServer, name: "tls-approved", requiresApproval: { required: true, approvers: 1 } },
      { actor: "test" },
    );
    const ca = await gateway.cas.get(issuingId);
    await gateway.cas.setAllowedProfiles(issuingId, [...ca.allowedProfiles, "tls-approved"], { actor: "test" });
    await gateway.acmeDirectories.create(
      { name: "approval", caId: issuingId, allowedProfiles: ["tls-approved"] },
      { actor: "test" },
    );
    approval = createRawAcme(t, { directory: "approval" });
  });

  it("stays processing with Retry-After until approved, then is valid with its certificate", async () => {
    const { gateway } = t.env;
    const applicant = await approval.createAccount();
    const order = await approval.readyOrder(applicant, ["approve.certs.test"]);
    expect(order.json.profile).toBe("tls-approved");

    const [, csr] = await csrFor(["approve.certs.test"]);
    const finalized = await approval.post(applicant, order.json.finalize, { csr });
    expect(finalized.status).toBe(200);
    expect(finalized.json.status).toBe("processing");
    expect(Number(finalized.headers["retry-after"])).toBeGreaterThan(0);
    const polled = await approval.post(applicant, order.url, "");
    expect(polled.json.status).toBe("processing");
    expect(Number(polled.headers["retry-after"])).toBeGreaterThan(0);

    const user = await gateway.users.create(
      { username: "acme-approver", role: "operator", assignedCaIds: [issuingId] },
      { actor: "test" },
    );
    const operator: RequestCaller = { userId: user.id, role: "operator", assignedCaIds: [issuingId] };
    const pending = await gateway.requests.list({ state: "pending" }, operator);
    const request = pending.requests.find((r) => r.protocolRequester === `acme-account:${applicant.id}`)!;
    expect(request).toBeDefined();
    await gateway.requests.approve(request.id, {}, operator);

    const valid = await approval.post(applicant, order.url, "");
    expect(valid.json.status).toBe("valid");
    expect(valid.json.certificate).toMatch(new RegExp(`^${approval.urls.prefix}/cert/[0-9a-f]+$`));
    const chain = await approval.post(applicant, valid.json.certificate, "");
    expect(chain.status).toBe(200);
    expect(chain.headers["content-type"]).toMatch(/^application\/pem-certificate-chain/);
  });

  it("becomes invalid, with the reason, when an operator rejects it", async () => {
    const { gateway } = t.env;
    const applicant = await approval.createAccount();
    const order = await approval.readyOrder(applicant, ["reject.certs.test"]);
    const [, csr] = await csrFor(["reject.certs.test"]);
    expect((await approval.post(applicant, order.json.finalize, { csr })).json.status).toBe("processing");
    const user = await gateway.users.create({ username: "acme-rejecter", role: "admin" }, { actor: "test" });
    const admin: RequestCaller = { userId: user.id, role: "admin", assignedCaIds: [] };
    const pending = await gateway.requests.list({ state: "pending" }, admin);
    const request = pending.requests.find((r) => r.protocolRequester === `acme-account:${applicant.id}`)!;
    await gateway.requests.reject(request.id, "not for this host", admin);
    const rejected = await approval.post(applicant, order.url, "");
    expect(rejected.json.status).toBe("invalid");
    expect(rejected.json.error).toMatchObject({
      type: "urn:ietf:params:acme:error:unauthorized",
      detail: expect.stringContaining("not for this host"),
    });
    expect(rejected.json.certificate).toBeUndefined();
  });
});

describe("ACME audit trail", () => {
  it("records every step: account, order, challenge, finalize, issuance, revocation, approval", async () => {
    const events = await t.env.gateway.audit.find({}, { order: "oldest", cursor: undefined, limit: 5000 });
    const actions = new Set(events.map((e) => e.action));
    for (const action of [
      "acme.account.create",
      "acme.order.create",
      "acme.challenge.respond",
      "acme.challenge.valid",
      "acme.order.finalize",
      "acme.order.valid",
      "certificate.issue",
      "certificate.revoke",
      "request.submit",
      "request.approve",
    ])
      expect(actions, action).toContain(action);
    // ACME events name the account that acted.
    const created = events.find((e) => e.action === "acme.account.create" && e.target === `acme-account:${account.id}`);
    expect(created?.actor).toBe(`acme-account:${account.id}`);
    expect(created?.sourceIp).toBe("127.0.0.1");
  });
});
