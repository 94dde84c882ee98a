import { type JsonWebKey, randomBytes } from "node:crypto";
import { exportJWK, FlattenedSign, generateKeyPair } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { AcmeProblem } from "../../src/core/acme/acme-problem.ts";
import { verifyExternalAccountBinding } from "./external-account-binding.ts";

const newAccountUrl = "https://acme.test/acme/default/new-account";
const keyId = "eab-key-0123456789abcdef";

async function refusal(promise: Promise<unknown>): Promise<AcmeProblem> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof AcmeProblem) return err;
    throw err;
  }
  throw new Error("expected an AcmeProblem");
}

describe("verifyExternalAccountBinding (RFC 8555 §7.3.4)", () => {
  const hmacKey = randomBytes(32);
  let accountJwk: JsonWebKey;
  let otherJwk: JsonWebKey;

  beforeAll(async () => {
    accountJwk = (await exportJWK((await generateKeyPair("ES256")).publicKey)) as JsonWebKey;
    otherJwk = (await exportJWK((await generateKeyPair("ES256")).publicKey)) as JsonWebKey;
  });

  /** What a client builds: HS256 over the account JWK, kid = key id, url = newAccount URL. */
  async function binding(
    options: { alg?: string; kid?: string; url?: string; key?: Uint8Array; payload?: unknown; extra?: object } = {},
  ) {
    const payload = new TextEncoder().encode(JSON.stringify(options.payload ?? accountJwk));
    const jws = await new FlattenedSign(payload)
      .setProtectedHeader({
        alg: options.alg ?? "HS256",
        kid: options.kid ?? keyId,
        url: options.url ?? newAccountUrl,
        ...options.extra,
      })
      .sign(options.key ?? hmacKey);
    return { protected: jws.protected!, payload: jws.payload, signature: jws.signature };
  }

  const verify = (eab: unknown) =>
    verifyExternalAccountBinding(eab, {
      accountJwk,
      expectedUrl: newAccountUrl,
      hmacKeyFor: async (id) => (id === keyId ? hmacKey : null),
    });

  it("accepts a binding MACed with HS256, HS384 or HS512 over the account key", async () => {
    for (const alg of ["HS256", "HS384", "HS512"]) expect(await verify(await binding({ alg }))).toEqual({ keyId });
  });

  it("compares the bound key by thumbprint: extra JWK members do not matter", async () => {
    expect(await verify(await binding({ payload: { ...accountJwk, use: "sig", alg: "ES256" } }))).toEqual({ keyId });
  });

  it("refuses a MAC made with another key", async () => {
    expect(await refusal(verify(await binding({ key: randomBytes(32) })))).toMatchObject({
      type: "unauthorized",
      message: "external account binding MAC invalid",
    });
  });

  it("refuses a binding for another URL", async () => {
    expect(await refusal(verify(await binding({ url: "https://acme.test/acme/other/new-account" })))).toMatchObject({
      type: "unauthorized",
    });
  });

  it("refuses a binding of another account key, and a payload that is not a JWK", async () => {
    expect(await refusal(verify(await binding({ payload: otherJwk })))).toMatchObject({
      type: "unauthorized",
      message: "the external account binding is for another account key",
    });
    expect(await refusal(verify(await binding({ payload: { hello: "world" } })))).toMatchObject({ type: "malformed" });
  });

  it("refuses an unknown key id", async () => {
    expect(await refusal(verify(await binding({ kid: "no-such-key-id-000000" })))).toMatchObject({
      type: "unauthorized",
    });
  });

  it("refuses a signature algorithm, a nonce, a missing kid and a non-flattened JWS (malformed)", async () => {
    const es256 = await generateKeyPair("ES256");
    const signed = await new FlattenedSign(new TextEncoder().encode(JSON.stringify(accountJwk)))
      .setProtectedHeader({ alg: "ES256", kid: keyId, url: newAccountUrl })
      .sign(es256.privateKey);
    expect(await refusal(verify(signed))).toMatchObject({ type: "malformed" });
    const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
    const unsecured = {
      protected: b64({ alg: "none", kid: keyId, url: newAccountUrl }),
      payload: b64(accountJwk),
      signature: "",
    };
    expect(await refusal(verify(unsecured))).toMatchObject({ type: "malformed" });
    expect(await refusal(verify(await binding({ extra: { nonce: "abc" } })))).toMatchObject({ type: "malformed" });
    expect(await refusal(verify(await binding({ kid: "" })))).toMatchObject({ type: "malformed" });
    const good = await binding();
    expect(await refusal(verify({ ...good, header: { kid: keyId } }))).toMatchObject({ type: "malformed" });
    expect(await refusal(verify(undefined))).toMatchObject({ type: "malformed" });
  });
});
