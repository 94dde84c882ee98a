import { X509Certificate } from "node:crypto";
import acme from "acme-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AcmeTestEnv, startAcmeTestEnv } from "./acme-test-env.ts";

let t: AcmeTestEnv;
beforeAll(async () => {
  t = await startAcmeTestEnv();
}, 120_000);
afterAll(async () => {
  await t?.stop();
});

function chainOf(pem: string): X509Certificate[] {
  return (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map(
    (block) => new X509Certificate(block),
  );
}

describe("ACME with acme-client (RFC 8555 end to end)", () => {
  it("registers, orders over http-01, finalizes and downloads a chain that verifies", async () => {
    t.dns.setA("www.flow.test", ["127.0.0.1"]);
    const client = await t.client();
    const [key, csr] = await acme.crypto.createCsr({ commonName: "www.flow.test", altNames: ["www.flow.test"] });
    const pem = await client.auto({
      csr,
      email: "ops@flow.test",
      termsOfServiceAgreed: true,
      challengePriority: ["http-01"],
      skipChallengeVerification: true,
      challengeCreateFn: async (_authz, challenge, keyAuthorization) => {
        t.tokens.set(challenge.token, keyAuthorization);
      },
      challengeRemoveFn: async (_authz, challenge) => {
        t.tokens.delete(challenge.token);
      },
    });
    expect(key.length).toBeGreaterThan(0);
    const [leaf, issuing] = chainOf(pem);
    expect(leaf!.subjectAltName).toBe("DNS:www.flow.test");
    expect(leaf!.verify(issuing!.publicKey)).toBe(true);
    expect(t.http.requests.some((r) => r.host === `www.flow.test:${t.http.port}` || r.host === "www.flow.test")).toBe(
      true,
    );
  });

  it("issues a wildcard over dns-01 only", async () => {
    const client = await t.client();
    await client.createAccount({ termsOfServiceAgreed: true });
    const order = await client.createOrder({ identifiers: [{ type: "dns", value: "*.wild.test" }] });
    const [authz] = await client.getAuthorizations(order);
    expect(authz!.wildcard).toBe(true);
    expect(authz!.challenges.map((c) => c.type)).toEqual(["dns-01"]);
    const challenge = authz!.challenges[0]!;
    const keyAuthorization = await client.getChallengeKeyAuthorization(challenge);
    t.dns.setTxt("_acme-challenge.wild.test", [keyAuthorization]);
    await client.completeChallenge(challenge);
    await client.waitForValidStatus(challenge);
    const [, csr] = await acme.crypto.createCsr({ commonName: "*.wild.test" });
    const finalized = await client.finalizeOrder(order, csr);
    const pem = await client.getCertificate(finalized);
    expect(chainOf(pem)[0]!.subjectAltName).toBe("DNS:*.wild.test");
  });

  it("marks the challenge invalid when the answer is wrong, and the order with it", async () => {
    t.dns.setA("wrong.flow.test", ["127.0.0.1"]);
    const client = await t.client();
    await client.createAccount({ termsOfServiceAgreed: true });
    const order = await client.createOrder({ identifiers: [{ type: "dns", value: "wrong.flow.test" }] });
    const [authz] = await client.getAuthorizations(order);
    const challenge = authz!.challenges.find((c) => c.type === "http-01")!;
    t.tokens.set(challenge.token, "not-the-key-authorization");
    await client.completeChallenge(challenge);
    await expect(client.waitForValidStatus(challenge)).rejects.toThrow();
    const updated = await client.getOrder(order);
    expect(updated.status).toBe("invalid");
  });

  it("refuses to finalize while CAA names another CA (RFC 8659); the order stays ready for a retry", async () => {
    t.dns.setA("caa.flow.test", ["127.0.0.1"]);
    t.dns.setCaa("flow.test", [{ flags: 0, tag: "issue", value: "other-ca.example" }]);
    const client = await t.client();
    await client.createAccount({ termsOfServiceAgreed: true });
    const order = await client.createOrder({ identifiers: [{ type: "dns", value: "caa.flow.test" }] });
    const [authz] = await client.getAuthorizations(order);
    const challenge = authz!.challenges.find((c) => c.type === "http-01")!;
    t.tokens.set(challenge.token, await client.getChallengeKeyAuthorization(challenge));
    await client.completeChallenge(challenge);
    await client.waitForValidStatus(challenge);
    const [, csr] = await acme.crypto.createCsr({ commonName: "caa.flow.test" });
    await expect(client.finalizeOrder(order, csr)).rejects.toThrow(/CAA/);
    expect((await client.getOrder(order)).status).toBe("ready");
    t.dns.clear("flow.test");
  });
});
