import { X509Certificate } from "node:crypto";
import acme from "acme-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AcmeTestEnv, startAcmeTestEnv } from "./acme-test-env.ts";

let t: AcmeTestEnv;
let hmacKey: string;
let keyId: string;
beforeAll(async () => {
  t = await startAcmeTestEnv();
  const issuing = (await t.env.gateway.cas.list()).find((ca) => ca.name === "issuing")!;
  const directory = await t.env.gateway.acmeDirectories.create(
    {
      name: "internal",
      caId: issuing.id,
      allowedProfiles: ["tls-server"],
      externalAccountRequired: true,
      authorizationMode: "eab_trusted",
      trustedIdentifiers: ["*.corp.test", "10.20.0.0/16"],
      challengeTypes: ["http-01"],
    },
    { actor: "test" },
  );
  ({ keyId, hmacKey } = await t.env.gateway.acmeEabKeys.create(
    directory.id,
    { label: "cert-manager" },
    { actor: "test" },
  ));
}, 120_000);
afterAll(async () => {
  await t?.stop();
});

describe("internal-PKI mode: EAB-bound accounts trusted for identifier patterns", () => {
  it("issues for trusted names and addresses without any challenge, and still challenges the rest", async () => {
    const client = new acme.Client({
      directoryUrl: `${t.baseUrl}/acme/internal/directory`,
      accountKey: await acme.crypto.createPrivateEcdsaKey(),
      externalAccountBinding: { kid: keyId, hmacKey },
    });
    await client.createAccount({ termsOfServiceAgreed: true });

    const order = await client.createOrder({
      identifiers: [
        { type: "dns", value: "db.corp.test" },
        { type: "dns", value: "*.apps.corp.test" },
        { type: "ip", value: "10.20.3.4" },
      ],
    });
    // RFC 8555 §7.1.6: every authorization is already valid, so the order is ready at once.
    expect(order.status).toBe("ready");
    for (const authz of await client.getAuthorizations(order)) {
      expect(authz.status).toBe("valid");
      expect(authz.challenges).toEqual([]);
    }
    const [, csr] = await acme.crypto.createCsr({
      commonName: "db.corp.test",
      altNames: ["db.corp.test", "*.apps.corp.test", "10.20.3.4"],
    });
    const finalized = await client.finalizeOrder(order, csr);
    const pem = await client.getCertificate(finalized);
    const leaf = new X509Certificate(pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/)![0]);
    expect(leaf.subjectAltName).toContain("DNS:db.corp.test");
    expect(leaf.subjectAltName).toContain("IP Address:10.20.3.4");

    // A name outside the patterns still needs a challenge.
    const outside = await client.createOrder({ identifiers: [{ type: "dns", value: "www.example.test" }] });
    expect(outside.status).toBe("pending");
    const [authz] = await client.getAuthorizations(outside);
    expect(authz!.challenges.map((c) => c.type)).toEqual(["http-01"]);
  });

  it("trusts nobody without an EAB binding: the directory refuses such accounts", async () => {
    const client = new acme.Client({
      directoryUrl: `${t.baseUrl}/acme/internal/directory`,
      accountKey: await acme.crypto.createPrivateEcdsaKey(),
    });
    await expect(client.createAccount({ termsOfServiceAgreed: true })).rejects.toThrow(/external account binding/i);
  });
});
