import type { JsonWebKey } from "node:crypto";
import { type CryptoKey, calculateJwkThumbprint, exportJWK, FlattenedSign, generateKeyPair, type JWK } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { AcmeProblem } from "../../src/core/acme/acme-problem.ts";
import { verifyKeyChange } from "./key-change.ts";

const keyChangeUrl = "https://acme.test/acme/default/key-change";
const accountUrl = "https://acme.test/acme/default/acct/0b7c3f9e-1111-4c1e-9c55-0d3c5b6a7e01";

async function refusal(promise: Promise<unknown>): Promise<AcmeProblem> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof AcmeProblem) return err;
    throw err;
  }
  throw new Error("expected an AcmeProblem");
}

interface Pair {
  privateKey: CryptoKey;
  jwk: JsonWebKey;
}

async function pair(alg: string): Promise<Pair> {
  const keys = await generateKeyPair(alg, { extractable: true });
  return { privateKey: keys.privateKey, jwk: (await exportJWK(keys.publicKey)) as JsonWebKey };
}

describe("verifyKeyChange (RFC 8555 §7.3.5)", () => {
  let oldKey: Pair;
  let newKey: Pair;
  let otherKey: Pair;

  beforeAll(async () => {
    [oldKey, newKey, otherKey] = await Promise.all([pair("ES256"), pair("EdDSA"), pair("ES256")]);
  });

  /** The inner JWS a client builds: signed by the new key, jwk = new key, url = outer url, no nonce. */
  async function inner(
    options: { signer?: Pair; alg?: string; header?: Record<string, unknown>; payload?: unknown } = {},
  ) {
    const signer = options.signer ?? newKey;
    const payload = options.payload ?? { account: accountUrl, oldKey: oldKey.jwk };
    const jws = await new FlattenedSign(new TextEncoder().encode(JSON.stringify(payload)))
      .setProtectedHeader({
        alg: options.alg ?? (signer === newKey ? "EdDSA" : "ES256"),
        jwk: signer.jwk,
        url: keyChangeUrl,
        ...options.header,
      })
      .sign(signer.privateKey);
    return { protected: jws.protected!, payload: jws.payload, signature: jws.signature };
  }

  const verify = (body: unknown) => verifyKeyChange(body, { outerUrl: keyChangeUrl, accountUrl, oldJwk: oldKey.jwk });

  it("accepts a well-formed key change and returns the new key and its thumbprint", async () => {
    const result = await verify(await inner());
    expect(result.newJwk).toEqual({ kty: "OKP", crv: "Ed25519", x: newKey.jwk.x });
    expect(result.newThumbprint).toBe(await calculateJwkThumbprint(newKey.jwk as JWK, "sha256"));
  });

  it("refuses an inner url other than the outer one", async () => {
    const body = await inner({ header: { url: "https://acme.test/acme/default/new-order" } });
    expect(await refusal(verify(body))).toMatchObject({ type: "unauthorized" });
  });

  it("refuses an account other than the signing one", async () => {
    const body = await inner({ payload: { account: `${accountUrl}0`, oldKey: oldKey.jwk } });
    expect(await refusal(verify(body))).toMatchObject({ type: "unauthorized" });
  });

  it("refuses an oldKey that is not the account's current key", async () => {
    const body = await inner({ payload: { account: accountUrl, oldKey: otherKey.jwk } });
    expect(await refusal(verify(body))).toMatchObject({ type: "unauthorized" });
  });

  it("refuses an inner JWS not signed by the key in its jwk", async () => {
    const body = await inner({ signer: otherKey, header: { jwk: newKey.jwk, alg: "ES256" } });
    // The header names an Ed25519 key under ES256: the key check refuses before the signature.
    expect(await refusal(verify(body))).toMatchObject({ type: "badPublicKey" });
    const forged = await inner({ signer: otherKey, header: { jwk: (await pair("ES256")).jwk } });
    expect(await refusal(verify(forged))).toMatchObject({ type: "malformed", message: "JWS signature invalid" });
  });

  it("refuses a nonce, a kid, a missing jwk, a bad payload, a weak new key and the old key again", async () => {
    expect(await refusal(verify(await inner({ header: { nonce: "abc" } })))).toMatchObject({ type: "malformed" });
    expect(await refusal(verify(await inner({ header: { kid: accountUrl } })))).toMatchObject({ type: "malformed" });
    expect(await refusal(verify(await inner({ header: { jwk: undefined } })))).toMatchObject({ type: "malformed" });
    expect(await refusal(verify(await inner({ payload: { account: accountUrl } })))).toMatchObject({
      type: "malformed",
    });
    expect(
      await refusal(verify(await inner({ payload: { account: accountUrl, oldKey: { kty: "EC" } } }))),
    ).toMatchObject({
      type: "malformed",
    });
    const withPrivate = await inner({ header: { jwk: { ...newKey.jwk, d: "AAAA" } } });
    expect(await refusal(verify(withPrivate))).toMatchObject({ type: "badPublicKey" });
    expect(await refusal(verify(await inner({ signer: oldKey })))).toMatchObject({ type: "malformed" });
    expect(await refusal(verify({ payload: "", signatures: [] }))).toMatchObject({ type: "malformed" });
  });

  it("refuses an inner alg outside the ACME list (badSignatureAlgorithm)", async () => {
    const body = await inner({ signer: await pair("RS512"), alg: "RS512" });
    expect(await refusal(verify(body))).toMatchObject({ type: "badSignatureAlgorithm" });
  });
});
