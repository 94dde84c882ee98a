import { sign } from "node:crypto";
import { FlattenedSign } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AcmeDirectory } from "../../src/core/acme/acme-types.ts";
import {
  createRawAcme,
  expectProblem,
  newTestKey,
  type RawAcme,
  type TestAccount,
  type TestKey,
} from "./acme-raw-client.ts";
import { type AcmeTestEnv, startAcmeTestEnv } from "./acme-test-env.ts";

/** Accounts (RFC 8555 §7.3): lookup, contacts, deactivation, key rollover, the orders list, and EAB (§7.3.4). */

let t: AcmeTestEnv;
let acme: RawAcme;
beforeAll(async () => {
  t = await startAcmeTestEnv();
  acme = createRawAcme(t);
}, 120_000);
afterAll(async () => {
  await t?.stop();
});

describe("ACME newAccount and account updates (RFC 8555 §7.3)", () => {
  it("onlyReturnExisting: accountDoesNotExist for an unknown key, 200 and the same Location for a known one", async () => {
    const key = await newTestKey();
    expectProblem(await acme.post(key, acme.urls.newAccount, { onlyReturnExisting: true }), 400, "accountDoesNotExist");
    const account = await acme.createAccount({ termsOfServiceAgreed: true, contact: ["mailto:ops@example.com"] }, key);
    const again = await acme.post(key, acme.urls.newAccount, { onlyReturnExisting: true });
    expect(again.status).toBe(200);
    expect(again.headers.location).toBe(account.url);
    expect(again.json).toMatchObject({
      status: "valid",
      contact: ["mailto:ops@example.com"],
      orders: `${account.url}/orders`,
    });
    // A second newAccount with the same key is that account too (RFC 8555 §7.3.1).
    const repeated = await acme.post(key, acme.urls.newAccount, { termsOfServiceAgreed: true });
    expect(repeated.status).toBe(200);
    expect(repeated.headers.location).toBe(account.url);
  });

  it("accepts P-256, P-384, RSA and Ed25519 account keys, and refuses an RSA key under 2048 bits", async () => {
    for (const alg of ["ES384", "RS256", "EdDSA"] as const) {
      const account = await acme.createAccount({ termsOfServiceAgreed: true }, await newTestKey(alg));
      const read = await acme.post(account, account.url, "");
      expect(read.status, `${alg}: ${read.text}`).toBe(200);
    }
    // jose will not sign with a short RSA key; node:crypto will.
    const weak = await newTestKey("RS256", 1024);
    const header = { alg: "RS256", jwk: weak.publicJwk, url: acme.urls.newAccount, nonce: await acme.nonce() };
    const signingInput = `${Buffer.from(JSON.stringify(header)).toString("base64url")}.${Buffer.from("{}").toString("base64url")}`;
    const [protectedPart, payload] = signingInput.split(".");
    const signature = sign("sha256", Buffer.from(signingInput), weak.privateKey).toString("base64url");
    const body = JSON.stringify({ protected: protectedPart, payload, signature });
    expectProblem(await acme.postBody(acme.urls.newAccount, body), 400, "badPublicKey");
  });

  it("refuses a non-mailto contact (unsupportedContact) and a mailto with hfields (invalidContact)", async () => {
    const key = await newTestKey();
    expectProblem(
      await acme.post(key, acme.urls.newAccount, { contact: ["tel:+15555550100"] }),
      400,
      "unsupportedContact",
    );
    expectProblem(
      await acme.post(key, acme.urls.newAccount, { contact: ["mailto:a@b.example?subject=x"] }),
      400,
      "invalidContact",
    );
    // The same rules on an update.
    const account = await acme.createAccount();
    expectProblem(await acme.post(account, account.url, { contact: ["tel:+15555550100"] }), 400, "unsupportedContact");
    const updated = await acme.post(account, account.url, { contact: ["mailto:new@example.com"] });
    expect(updated.status).toBe(200);
    expect(updated.json.contact).toEqual(["mailto:new@example.com"]);
  });

  it("refuses an account reading or changing another account", async () => {
    const a = await acme.createAccount();
    const b = await acme.createAccount();
    expectProblem(await acme.post(a, b.url, ""), 403, "unauthorized");
    expectProblem(await acme.post(a, `${b.url}/orders`, ""), 403, "unauthorized");
  });

  it("refuses every request of a deactivated account with unauthorized", async () => {
    const account = await acme.createAccount();
    const deactivated = await acme.post(account, account.url, { status: "deactivated" });
    expect(deactivated.status).toBe(200);
    expect(deactivated.json.status).toBe("deactivated");
    expectProblem(await acme.post(account, account.url, ""), 401, "unauthorized");
    expectProblem(await acme.newOrder(account, ["after.deactivation.test"]), 401, "unauthorized");
    // Its key is done with (RFC 8555 §7.3.6): newAccount with it is refused too, not answered with the account.
    expectProblem(
      await acme.post(account.key, acme.urls.newAccount, { onlyReturnExisting: true }),
      401,
      "unauthorized",
    );
    expectProblem(
      await acme.post(account.key, acme.urls.newAccount, { termsOfServiceAgreed: true }),
      401,
      "unauthorized",
    );
  });
});

/** The keyChange body (RFC 8555 §7.3.5): an inner JWS signed by the new key over {account, oldKey}. */
async function keyChangeInner(account: TestAccount, newKey: TestKey): Promise<unknown> {
  return new FlattenedSign(
    new TextEncoder().encode(JSON.stringify({ account: account.url, oldKey: account.key.publicJwk })),
  )
    .setProtectedHeader({ alg: newKey.alg, jwk: newKey.publicJwk, url: acme.urls.keyChange })
    .sign(newKey.privateKey);
}

describe("ACME key rollover (RFC 8555 §7.3.5)", () => {
  it("moves the account to the new key; the old key is refused from then on", async () => {
    const account = await acme.createAccount();
    const newKey = await newTestKey();
    const changed = await acme.post(account, acme.urls.keyChange, await keyChangeInner(account, newKey));
    expect(changed.status).toBe(200);
    expect(changed.headers.location).toBe(account.url);

    const rolled: TestAccount = { ...account, key: newKey };
    expect((await acme.post(rolled, account.url, "")).status).toBe(200);
    // The old key no longer verifies for the account's kid, and no longer finds an account.
    expectProblem(await acme.post(account, account.url, ""), 400, "malformed");
    expectProblem(
      await acme.post(account.key, acme.urls.newAccount, { onlyReturnExisting: true }),
      400,
      "accountDoesNotExist",
    );
    const found = await acme.post(newKey, acme.urls.newAccount, { onlyReturnExisting: true });
    expect(found.headers.location).toBe(account.url);
  });

  it("answers 409 with the Location of the account that already has the new key", async () => {
    const account = await acme.createAccount();
    const holder = await acme.createAccount();
    const answer = await acme.post(account, acme.urls.keyChange, await keyChangeInner(account, holder.key));
    expectProblem(answer, 409, "malformed");
    expect(answer.headers.location).toBe(holder.url);
    // Nothing changed: the account still signs with its key.
    expect((await acme.post(account, account.url, "")).status).toBe(200);
  });

  it("refuses an inner JWS naming another account", async () => {
    const account = await acme.createAccount();
    const other = await acme.createAccount();
    const newKey = await newTestKey();
    const inner = await keyChangeInner(other, newKey);
    expectProblem(await acme.post(account, acme.urls.keyChange, inner), 403, "unauthorized");
  });
});

describe("ACME orders list (RFC 8555 §7.1.2.1)", () => {
  it("returns {orders} with absolute URLs, 50 a page, and Link rel=next for the rest", async () => {
    const account = await acme.createAccount();
    const created: string[] = [];
    for (let i = 0; i < 51; i++) {
      const order = await acme.newOrder(account, [`o${i}.list.test`]);
      expect(order.status).toBe(201);
      created.push(order.headers.location!);
    }
    const first = await acme.post(account, `${account.url}/orders`, "");
    expect(first.status).toBe(200);
    expect(Object.keys(first.json)).toEqual(["orders"]);
    expect(first.json.orders).toHaveLength(50);
    for (const url of first.json.orders) expect(url).toMatch(new RegExp(`^${acme.urls.prefix}/order/[0-9a-f-]{36}$`));
    const links = ([] as string[]).concat(first.headers.link ?? []).join(",");
    const next = /<([^>]+)>;rel="next"/.exec(links)?.[1];
    expect(next).toMatch(new RegExp(`^${account.url}/orders\\?cursor=`));
    expect(links).toContain(`<${acme.urls.directory}>;rel="index"`);

    const second = await acme.post(account, next!, "");
    expect(second.status).toBe(200);
    expect(second.json.orders).toHaveLength(1);
    expect(String(second.headers.link)).not.toContain('rel="next"');
    expect(new Set([...first.json.orders, ...second.json.orders])).toEqual(new Set(created));
    // The list is read with POST-as-GET only.
    expectProblem(await acme.post(account, `${account.url}/orders`, {}), 400, "malformed");
  });
});

describe("ACME external account binding (RFC 8555 §7.3.4)", () => {
  let directory: AcmeDirectory;
  let eab: RawAcme;

  beforeAll(async () => {
    const { gateway } = t.env;
    const issuing = (await gateway.cas.list()).find((ca) => ca.name === "issuing")!;
    directory = await gateway.acmeDirectories.create(
      { name: "eab", caId: issuing.id, allowedProfiles: ["tls-server"], externalAccountRequired: true },
      { actor: "test" },
    );
    eab = createRawAcme(t, { directory: "eab" });
  });

  async function binding(key: TestKey, keyId: string, hmacKey: Uint8Array) {
    return new FlattenedSign(new TextEncoder().encode(JSON.stringify(key.publicJwk)))
      .setProtectedHeader({ alg: "HS256", kid: keyId, url: eab.urls.newAccount })
      .sign(hmacKey);
  }

  it("says so in the directory, and refuses a newAccount without a binding", async () => {
    const dir = await eab.send("GET", eab.urls.directory);
    expect(dir.json.meta.externalAccountRequired).toBe(true);
    const key = await newTestKey();
    expectProblem(
      await eab.post(key, eab.urls.newAccount, { termsOfServiceAgreed: true }),
      401,
      "externalAccountRequired",
    );
  });

  it("refuses a wrong MAC, binds with the right one, and the key id binds one account only", async () => {
    const { keyId, hmacKey } = await t.env.gateway.acmeEabKeys.create(
      directory.id,
      { label: "test" },
      { actor: "test" },
    );
    const hmac = Buffer.from(hmacKey, "base64url");
    const key = await newTestKey();

    const wrong = await binding(key, keyId, Buffer.alloc(32, 9));
    expectProblem(await eab.post(key, eab.urls.newAccount, { externalAccountBinding: wrong }), 403, "unauthorized");

    const created = await eab.post(key, eab.urls.newAccount, {
      termsOfServiceAgreed: true,
      externalAccountBinding: await binding(key, keyId, hmac),
    });
    expect(created.status).toBe(201);
    expect(created.headers.location).toMatch(new RegExp(`^${eab.urls.prefix}/acct/`));
    expect(created.json.externalAccountBinding).toEqual({ kid: keyId });

    // The same key again: its account, without needing the used-up binding.
    const again = await eab.post(key, eab.urls.newAccount, { onlyReturnExisting: true });
    expect(again.headers.location).toBe(created.headers.location);

    const otherKey = await newTestKey();
    const reused = await eab.post(otherKey, eab.urls.newAccount, {
      externalAccountBinding: await binding(otherKey, keyId, hmac),
    });
    expectProblem(reused, 403, "unauthorized");
  });

  it("refuses a binding over another account key than the one signing", async () => {
    const { keyId, hmacKey } = await t.env.gateway.acmeEabKeys.create(directory.id, {}, { actor: "test" });
    const key = await newTestKey();
    const other = await newTestKey();
    const answer = await eab.post(key, eab.urls.newAccount, {
      externalAccountBinding: await binding(other, keyId, Buffer.from(hmacKey, "base64url")),
    });
    expectProblem(answer, 403, "unauthorized");
  });
});

describe("ACME account audit trail", () => {
  it("records account creation, update, deactivation and key change", async () => {
    const events = await t.env.gateway.audit.find(
      { action: "acme.account." },
      { order: "oldest", cursor: undefined, limit: 1000 },
    );
    const actions = new Set(events.map((e) => e.action));
    for (const action of [
      "acme.account.create",
      "acme.account.update",
      "acme.account.deactivate",
      "acme.account.key_change",
    ])
      expect(actions, action).toContain(action);
  });
});
