import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { FlattenedSign } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { configSchema } from "../../src/config/config-schema.ts";
import { unusedPort } from "../../src/core/acme/validation/testing/test-challenge-servers.ts";
import { type Gateway, startGateway } from "../../src/gateway.ts";
import { loopbackListeners } from "../support/loopback-listeners.ts";
import { testLogger } from "../support/test-core.ts";
import {
  createRawAcme,
  expectProblem,
  indexLinks,
  newTestKey,
  type RawAcme,
  type TestAccount,
} from "./acme-raw-client.ts";
import { type AcmeTestEnv, startAcmeTestEnv } from "./acme-test-env.ts";

/**
 * The ACME directory, newNonce and the JWS checks every POST passes
 * (RFC 8555 §6, §7.1, §7.2), driven over HTTPS with hand-made requests.
 */

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

/** A signed body with a protected header and signature of the test's own making. */
function rawJws(header: Record<string, unknown>, payload: string, signature: string): string {
  return JSON.stringify({
    protected: Buffer.from(JSON.stringify(header)).toString("base64url"),
    payload: Buffer.from(payload).toString("base64url"),
    signature,
  });
}

describe("ACME directory and newNonce (RFC 8555 §7.1.1, §7.2)", () => {
  it("lists absolute URLs under baseUrl, renewalInfo, profiles and externalAccountRequired", async () => {
    const answer = await acme.send("GET", acme.urls.directory);
    expect(answer.status).toBe(200);
    expect(answer.headers["content-type"]).toMatch(/^application\/json/);
    const directory = answer.json as Record<string, unknown>;
    for (const field of ["newNonce", "newAccount", "newOrder", "newAuthz", "revokeCert", "keyChange", "renewalInfo"])
      expect(directory[field], field).toMatch(new RegExp(`^${t.baseUrl}/acme/default/`));
    expect(directory["renewalInfo"]).toBe(`${t.baseUrl}/acme/default/renewal-info`);
    expect(directory["meta"]).toMatchObject({
      externalAccountRequired: false,
      profiles: { "tls-server": expect.any(String) },
    });
    expect(answer.headers.link).toBe(`<${t.baseUrl}/acme/default/directory>;rel="index"`);
  });

  it("answers an unknown directory with a 404 problem", async () => {
    const answer = await acme.send("GET", `${t.baseUrl}/acme/nope/directory`);
    expect(answer.status).toBe(404);
    expect(answer.headers["content-type"]).toMatch(/^application\/problem\+json/);
    expect(answer.json.type).toBe("urn:ietf:params:acme:error:malformed");
  });

  it("gives nonces on HEAD (200) and GET (204), never cached; POST is 405", async () => {
    const head = await acme.send("HEAD", acme.urls.newNonce);
    expect(head.status).toBe(200);
    expect(head.headers["cache-control"]).toBe("no-store");
    expect(head.headers["replay-nonce"]).toMatch(/^[A-Za-z0-9_-]{56}$/);
    expect(head.headers.link).toBe(`<${acme.urls.directory}>;rel="index"`);
    const get = await acme.send("GET", acme.urls.newNonce);
    expect(get.status).toBe(204);
    expect(get.headers["cache-control"]).toBe("no-store");
    expect(get.headers["replay-nonce"]).not.toBe(head.headers["replay-nonce"]);
    const post = await acme.postBody(acme.urls.newNonce, "{}");
    expectProblem(post, 405, "malformed");
    expect(post.headers.allow).toBe("GET, HEAD");
  });

  it("links the directory exactly once on an error", async () => {
    const answer = await acme.postBody(acme.urls.newOrder, "{}", "application/json");
    expect(indexLinks(answer)).toEqual([`<${acme.urls.directory}>;rel="index"`]);
  });

  it("answers an unknown resource with a 404 problem", async () => {
    const answer = await acme.postBody(`${acme.urls.prefix}/nothing-here`, "{}");
    expect(answer.status).toBe(404);
    expect(answer.json.type).toBe("urn:ietf:params:acme:error:malformed");
  });

  it("refuses every request to a disabled directory with unauthorized", async () => {
    const { gateway } = t.env;
    const issuing = (await gateway.cas.list()).find((ca) => ca.name === "issuing")!;
    const created = await gateway.acmeDirectories.create(
      { name: "disabled", caId: issuing.id, allowedProfiles: ["tls-server"], enabled: false },
      { actor: "test" },
    );
    expect(created.enabled).toBe(false);
    const disabled = createRawAcme(t, { directory: "disabled" });
    const directory = await disabled.send("GET", disabled.urls.directory);
    expect(directory.status).toBe(403);
    expect(directory.json.type).toBe("urn:ietf:params:acme:error:unauthorized");
    const key = await newTestKey();
    const body = await disabled.sign(key, disabled.urls.newAccount, {}, { nonce: await acme.nonce() });
    expectProblem(await disabled.postBody(disabled.urls.newAccount, body), 403, "unauthorized");
  });

  it("answers a GET on a POST-only resource with a 405 problem", async () => {
    const answer = await acme.send("GET", acme.urls.newOrder);
    expect(answer.status).toBe(405);
    expect(answer.headers["content-type"]).toMatch(/^application\/problem\+json/);
    expect(answer.json.type).toBe("urn:ietf:params:acme:error:malformed");
  });
});

describe("ACME request checks (RFC 8555 §6.2-§6.5)", () => {
  it("refuses a Content-Type other than application/jose+json with 415", async () => {
    const body = await acme.sign(account, account.url, "");
    expectProblem(await acme.postBody(account.url, body, "application/json"), 415, "malformed");
  });

  it("refuses a body over 128 KiB with 413", async () => {
    const big = JSON.stringify({ protected: "a", payload: "b".repeat(130 * 1024), signature: "c" });
    expectProblem(await acme.postBody(account.url, big), 413, "malformed");
    // Without a Content-Length (chunked), the limit holds while reading.
    const chunked = await acme.send("POST", account.url, {
      body: big,
      contentType: "application/jose+json",
      chunked: true,
    });
    expectProblem(chunked, 413, "malformed");
  });

  it("accepts application/jose+json with parameters", async () => {
    const body = await acme.sign(account, account.url, "");
    expect((await acme.postBody(account.url, body, "application/jose+json; charset=utf-8")).status).toBe(200);
  });

  it("refuses a body that is not JSON", async () => {
    expectProblem(await acme.postBody(account.url, "{not json"), 400, "malformed");
  });

  it("refuses the general JWS serialization", async () => {
    const flattened = JSON.parse(await acme.sign(account, account.url, ""));
    const general = JSON.stringify({
      payload: flattened.payload,
      signatures: [{ protected: flattened.protected, signature: flattened.signature }],
    });
    expectProblem(await acme.postBody(account.url, general), 400, "malformed");
  });

  it('refuses alg "none" and HS256 with badSignatureAlgorithm listing the accepted algorithms', async () => {
    const none = rawJws({ alg: "none", kid: account.url, url: account.url, nonce: await acme.nonce() }, "", "");
    const answer = await acme.postBody(account.url, none);
    expectProblem(answer, 400, "badSignatureAlgorithm");
    expect(answer.json.algorithms).toContain("ES256");
    expect(answer.json.algorithms).not.toContain("none");

    const hs256 = await new FlattenedSign(new Uint8Array())
      .setProtectedHeader({ alg: "HS256", kid: account.url, url: account.url, nonce: await acme.nonce() })
      .sign(new Uint8Array(32).fill(7));
    expectProblem(await acme.postBody(account.url, JSON.stringify(hs256)), 400, "badSignatureAlgorithm");
  });

  it("refuses a bad signature as malformed, without using the nonce up", async () => {
    const nonce = await acme.nonce();
    const jws = JSON.parse(await acme.sign(account, account.url, "", { nonce }));
    const signature = Buffer.from(jws.signature, "base64url");
    signature[5]! ^= 0x01;
    jws.signature = signature.toString("base64url");
    expectProblem(await acme.postBody(account.url, JSON.stringify(jws)), 400, "malformed");
    // The forged request did not spend the nonce: the real one still works.
    expect((await acme.post(account, account.url, "", { nonce })).status).toBe(200);
  });

  it("refuses a url header other than the URL requested with unauthorized", async () => {
    const answer = await acme.post(account, account.url, "", { url: `${account.url}/orders` });
    expectProblem(answer, 403, "unauthorized");
  });

  it("refuses a request without a nonce with badNonce", async () => {
    expectProblem(await acme.post(account, account.url, "", { nonce: null }), 400, "badNonce");
  });

  it("refuses a replayed nonce with badNonce and a fresh Replay-Nonce that then works", async () => {
    const nonce = await acme.freshNonce();
    expect((await acme.post(account, account.url, "", { nonce })).status).toBe(200);
    const replayed = await acme.post(account, account.url, "", { nonce });
    expectProblem(replayed, 400, "badNonce");
    const retry = replayed.headers["replay-nonce"] as string;
    expect(retry).not.toBe(nonce);
    expect((await acme.post(account, account.url, "", { nonce: retry })).status).toBe(200);
  });

  it("refuses a nonce that is not one of ours", async () => {
    const forged = Buffer.alloc(42, 1).toString("base64url");
    expectProblem(await acme.post(account, account.url, "", { nonce: forged }), 400, "badNonce");
  });

  it("refuses a kid naming no account with accountDoesNotExist", async () => {
    const kid = `${acme.urls.prefix}/acct/00000000-0000-4000-8000-000000000000`;
    expectProblem(await acme.post(account, kid, "", { kid }), 400, "accountDoesNotExist");
    const orders = await acme.post(
      account,
      acme.urls.newOrder,
      { identifiers: [{ type: "dns", value: "x.test" }] },
      { kid },
    );
    expectProblem(orders, 400, "accountDoesNotExist");
  });

  it('refuses a "jwk" header where an account "kid" is required, and a "kid" on newAccount', async () => {
    expectProblem(await acme.post(account, account.url, "", { useJwk: true }), 400, "malformed");
    const key = await newTestKey();
    const withBoth = await acme.post(key, acme.urls.newOrder, { identifiers: [] }, { useJwk: true });
    expectProblem(withBoth, 400, "malformed");
    const kidOnNewAccount = await acme.post(account, acme.urls.newAccount, { onlyReturnExisting: true });
    expectProblem(kidOnNewAccount, 400, "malformed");
  });

  it("accepts a nonce minted by another replica once, and refuses it after that on either replica", async () => {
    let second: Gateway | undefined;
    const dataDir = mkdtempSync(path.join(tmpdir(), "chancery-acme-replica-"));
    try {
      const port = await unusedPort();
      // A second replica behind the same baseUrl: its own data directory and listener, the same database and KEK.
      second = await startGateway(
        configSchema.parse({
          dataDir,
          database: { url: t.env.db.url },
          keyEncryptionKeyFile: path.join(t.env.dataDir, "kek"),
          listen: { ...loopbackListeners, acme: `127.0.0.1:${port}` },
          acme: { baseUrl: t.baseUrl },
          log: { level: "silent" },
        }),
        testLogger,
      );
      const replica = createRawAcme(t, { port });

      // Minted there, redeemed there once, then replayed here.
      const there = await replica.freshNonce();
      expect((await replica.post(account, account.url, "", { nonce: there })).status).toBe(200);
      expectProblem(await acme.post(account, account.url, "", { nonce: there }), 400, "badNonce");

      // Minted there, redeemed here, then replayed there.
      const crossing = await replica.freshNonce();
      expect((await acme.post(account, account.url, "", { nonce: crossing })).status).toBe(200);
      expectProblem(await replica.post(account, account.url, "", { nonce: crossing }), 400, "badNonce");
    } finally {
      await second?.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);
});
