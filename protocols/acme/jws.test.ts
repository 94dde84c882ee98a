import { generateKeyPairSync, type JsonWebKey, sign as nodeSign } from "node:crypto";
import { type CryptoKey, calculateJwkThumbprint, exportJWK, FlattenedSign, generateKeyPair, type JWK } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { AcmeProblem } from "../../src/core/acme/acme-problem.ts";
import { type AcmeAccountKeyRecord, type AcmeJwsAlgorithm, acmeJwsAlgorithms, verifyAcmeJws } from "./jws.ts";

const base = "https://acme.test/acme/default";
const kidPrefix = `${base}/acct/`;
const newOrderUrl = `${base}/new-order`;
const newAccountUrl = `${base}/new-account`;

interface TestKey {
  alg: AcmeJwsAlgorithm;
  privateKey: CryptoKey;
  jwk: JsonWebKey;
}

async function testKey(alg: AcmeJwsAlgorithm): Promise<TestKey> {
  const pair = await generateKeyPair(alg, { extractable: true, crv: alg === "EdDSA" ? "Ed25519" : undefined });
  return { alg, privateKey: pair.privateKey, jwk: (await exportJWK(pair.publicKey)) as JsonWebKey };
}

/** An in-memory nonce source standing in for NonceService: each nonce redeemable once. */
function nonceSource() {
  const live = new Set<string>();
  let n = 0;
  return {
    live,
    mint() {
      const nonce = `nonce${++n}`;
      live.add(nonce);
      return nonce;
    },
    redeem: async (nonce: string) => live.delete(nonce),
  };
}

async function sign(
  key: TestKey,
  header: Record<string, unknown>,
  payload: unknown,
): Promise<{ protected: string; payload: string; signature: string }> {
  const bytes = payload === "" ? new Uint8Array() : new TextEncoder().encode(JSON.stringify(payload));
  const jws = await new FlattenedSign(bytes).setProtectedHeader({ alg: key.alg, ...header }).sign(key.privateKey);
  return { protected: jws.protected!, payload: jws.payload, signature: jws.signature };
}

const b64 = (value: unknown) =>
  Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url");

async function refusal(promise: Promise<unknown>): Promise<AcmeProblem> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof AcmeProblem) return err;
    throw err;
  }
  throw new Error("expected an AcmeProblem");
}

describe("verifyAcmeJws (RFC 8555 §6.2-§6.5)", () => {
  let keys: Record<AcmeJwsAlgorithm, TestKey>;
  let es256: TestKey;
  const validId = "0b7c3f9e-1111-4c1e-9c55-0d3c5b6a7e01";
  const deactivatedId = "0b7c3f9e-2222-4c1e-9c55-0d3c5b6a7e02";
  const accounts = new Map<string, AcmeAccountKeyRecord>();

  beforeAll(async () => {
    keys = Object.fromEntries(
      await Promise.all(acmeJwsAlgorithms.map(async (alg) => [alg, await testKey(alg)] as const)),
    ) as Record<AcmeJwsAlgorithm, TestKey>;
    es256 = keys.ES256;
    accounts.set(validId, { id: validId, jwk: es256.jwk, status: "valid" });
    accounts.set(deactivatedId, { id: deactivatedId, jwk: es256.jwk, status: "deactivated" });
  });
  const resolveAccount = async (id: string) => accounts.get(id) ?? null;

  function options(
    nonces: ReturnType<typeof nonceSource>,
    keyRule: "jwk" | "kid" | "either",
    expectedUrl = newOrderUrl,
  ) {
    return { expectedUrl, keyRule, kidPrefix, resolveAccount, redeemNonce: nonces.redeem };
  }

  it.each(acmeJwsAlgorithms)(
    "accepts a %s request with a jwk and returns its key, thumbprint and payload",
    async (alg) => {
      const key = keys[alg];
      const nonces = nonceSource();
      const body = await sign(
        key,
        { jwk: key.jwk, nonce: nonces.mint(), url: newAccountUrl },
        { termsOfServiceAgreed: true, contact: ["mailto:ops@example.com"] },
      );
      const verified = await verifyAcmeJws(body, options(nonces, "jwk", newAccountUrl));
      expect(verified.payload).toEqual({ termsOfServiceAgreed: true, contact: ["mailto:ops@example.com"] });
      expect(verified.account).toBeNull();
      expect(verified.thumbprint).toBe(await calculateJwkThumbprint(key.jwk as JWK, "sha256"));
      expect(verified.protectedHeader).toMatchObject({ alg, url: newAccountUrl });
      // Only the RFC 7638 members are kept.
      expect(Object.keys(verified.jwk).sort()).toEqual(
        alg.startsWith("RS") || alg === "PS256"
          ? ["e", "kty", "n"]
          : alg === "EdDSA"
            ? ["crv", "kty", "x"]
            : ["crv", "kty", "x", "y"],
      );
      expect(nonces.live.size).toBe(0);
    },
  );

  it("accepts a kid request from a valid account, and an empty payload as POST-as-GET", async () => {
    const nonces = nonceSource();
    const body = await sign(es256, { kid: kidPrefix + validId, nonce: nonces.mint(), url: newOrderUrl }, "");
    const verified = await verifyAcmeJws(body, options(nonces, "kid"));
    expect(verified.payload).toBeUndefined();
    expect(verified.account?.id).toBe(validId);
    expect(verified.thumbprint).toBe(await calculateJwkThumbprint(es256.jwk as JWK, "sha256"));
    expect(verified.protectedHeader.kid).toBe(kidPrefix + validId);
  });

  it('"either" (revokeCert, §7.6) takes a jwk or a kid', async () => {
    const nonces = nonceSource();
    const byJwk = await sign(es256, { jwk: es256.jwk, nonce: nonces.mint(), url: newOrderUrl }, {});
    const byKid = await sign(es256, { kid: kidPrefix + validId, nonce: nonces.mint(), url: newOrderUrl }, {});
    expect((await verifyAcmeJws(byJwk, options(nonces, "either"))).account).toBeNull();
    expect((await verifyAcmeJws(byKid, options(nonces, "either"))).account?.id).toBe(validId);
  });

  it("refuses a url header that differs from the request URL (unauthorized), and a missing one (malformed)", async () => {
    const nonces = nonceSource();
    const wrong = await sign(es256, { jwk: es256.jwk, nonce: nonces.mint(), url: `${newOrderUrl}/` }, {});
    expect(await refusal(verifyAcmeJws(wrong, options(nonces, "jwk")))).toMatchObject({
      type: "unauthorized",
      status: 403,
    });
    const missing = await sign(es256, { jwk: es256.jwk, nonce: nonces.mint() }, {});
    expect(await refusal(verifyAcmeJws(missing, options(nonces, "jwk")))).toMatchObject({ type: "malformed" });
    // Neither used its nonce.
    expect(nonces.live.size).toBe(2);
  });

  it("refuses a missing nonce and a replayed one with badNonce, and a non-base64url one as malformed", async () => {
    const nonces = nonceSource();
    const missing = await sign(es256, { jwk: es256.jwk, url: newOrderUrl }, {});
    expect(await refusal(verifyAcmeJws(missing, options(nonces, "jwk")))).toMatchObject({
      type: "badNonce",
      status: 400,
    });

    const once = await sign(es256, { jwk: es256.jwk, nonce: nonces.mint(), url: newOrderUrl }, {});
    await verifyAcmeJws(once, options(nonces, "jwk"));
    const replay = await refusal(verifyAcmeJws(once, options(nonces, "jwk")));
    expect(replay).toMatchObject({ type: "badNonce" });
    expect(replay.toDocument().type).toBe("urn:ietf:params:acme:error:badNonce");

    const notBase64 = await sign(es256, { jwk: es256.jwk, nonce: "a+b/c=", url: newOrderUrl }, {});
    expect(await refusal(verifyAcmeJws(notBase64, options(nonces, "jwk")))).toMatchObject({ type: "malformed" });
  });

  it('refuses "none" and MAC algorithms with badSignatureAlgorithm listing the supported ones', async () => {
    const nonces = nonceSource();
    for (const alg of ["none", "HS256", "RS512", "ES256K"]) {
      const header = { alg, jwk: es256.jwk, nonce: nonces.mint(), url: newOrderUrl };
      const body = { protected: b64(header), payload: b64({}), signature: alg === "none" ? "" : b64("mac") };
      const problem = await refusal(verifyAcmeJws(body, options(nonces, "jwk")));
      expect(problem.type).toBe("badSignatureAlgorithm");
      expect(problem.toDocument()).toMatchObject({
        type: "urn:ietf:params:acme:error:badSignatureAlgorithm",
        algorithms: ["ES256", "ES384", "ES512", "RS256", "PS256", "EdDSA"],
      });
    }
    expect(nonces.live.size).toBe(4);
  });

  it("refuses an RSA key under 2048 bits, a private key, and an EC curve that does not match alg (badPublicKey)", async () => {
    const nonces = nonceSource();
    const rsa1024 = generateKeyPairSync("rsa", { modulusLength: 1024 });
    const weakJwk = rsa1024.publicKey.export({ format: "jwk" });
    const header = { alg: "RS256", jwk: weakJwk, nonce: nonces.mint(), url: newOrderUrl };
    const input = `${b64(header)}.${b64({})}`;
    const weak = {
      protected: b64(header),
      payload: b64({}),
      signature: nodeSign("sha256", Buffer.from(input), rsa1024.privateKey).toString("base64url"),
    };
    const weakProblem = await refusal(verifyAcmeJws(weak, options(nonces, "jwk")));
    expect(weakProblem).toMatchObject({ type: "badPublicKey" });
    expect(weakProblem.message).toMatch(/2048/);

    const withPrivate = await sign(
      keys.RS256,
      { jwk: { ...keys.RS256.jwk, d: "AQAB" }, nonce: nonces.mint(), url: newOrderUrl },
      {},
    );
    expect(await refusal(verifyAcmeJws(withPrivate, options(nonces, "jwk")))).toMatchObject({ type: "badPublicKey" });

    const p256 = await sign(keys.ES256, { jwk: keys.ES256.jwk, nonce: nonces.mint(), url: newOrderUrl }, {});
    const relabelled = {
      ...p256,
      protected: b64({ ...JSON.parse(Buffer.from(p256.protected, "base64url").toString()), alg: "ES384" }),
    };
    expect(await refusal(verifyAcmeJws(relabelled, options(nonces, "jwk")))).toMatchObject({ type: "badPublicKey" });

    const offCurve = { ...keys.ES256.jwk, y: Buffer.alloc(32, 7).toString("base64url") };
    const notOnCurve = await sign(keys.ES256, { jwk: offCurve, nonce: nonces.mint(), url: newOrderUrl }, {});
    expect(await refusal(verifyAcmeJws(notOnCurve, options(nonces, "jwk")))).toMatchObject({ type: "badPublicKey" });
    expect(nonces.live.size).toBe(4);
  });

  it("requires exactly one of jwk and kid, the one the endpoint takes", async () => {
    const nonces = nonceSource();
    const both = await sign(
      es256,
      { jwk: es256.jwk, kid: kidPrefix + validId, nonce: nonces.mint(), url: newOrderUrl },
      {},
    );
    expect(await refusal(verifyAcmeJws(both, options(nonces, "kid")))).toMatchObject({ type: "malformed" });
    const neither = await sign(es256, { nonce: nonces.mint(), url: newOrderUrl }, {});
    expect(await refusal(verifyAcmeJws(neither, options(nonces, "either")))).toMatchObject({ type: "malformed" });
    const jwkForKid = await sign(es256, { jwk: es256.jwk, nonce: nonces.mint(), url: newOrderUrl }, {});
    expect(await refusal(verifyAcmeJws(jwkForKid, options(nonces, "kid")))).toMatchObject({ type: "malformed" });
    const kidForJwk = await sign(es256, { kid: kidPrefix + validId, nonce: nonces.mint(), url: newOrderUrl }, {});
    expect(await refusal(verifyAcmeJws(kidForJwk, options(nonces, "jwk")))).toMatchObject({ type: "malformed" });
  });

  it("refuses a kid of an unknown account (accountDoesNotExist), of another directory, and of a deactivated account (401)", async () => {
    const nonces = nonceSource();
    const unknown = await sign(
      es256,
      { kid: `${kidPrefix}0b7c3f9e-9999-4c1e-9c55-0d3c5b6a7e09`, nonce: nonces.mint(), url: newOrderUrl },
      {},
    );
    expect(await refusal(verifyAcmeJws(unknown, options(nonces, "kid")))).toMatchObject({
      type: "accountDoesNotExist",
    });
    const junk = await sign(es256, { kid: `${kidPrefix}../../x`, nonce: nonces.mint(), url: newOrderUrl }, {});
    expect(await refusal(verifyAcmeJws(junk, options(nonces, "kid")))).toMatchObject({ type: "accountDoesNotExist" });
    const other = await sign(
      es256,
      { kid: `https://acme.test/acme/other/acct/${validId}`, nonce: nonces.mint(), url: newOrderUrl },
      {},
    );
    expect(await refusal(verifyAcmeJws(other, options(nonces, "kid")))).toMatchObject({ type: "malformed" });
    expect(nonces.live.size).toBe(3);

    const deactivated = await sign(
      es256,
      { kid: kidPrefix + deactivatedId, nonce: nonces.mint(), url: newOrderUrl },
      {},
    );
    expect(await refusal(verifyAcmeJws(deactivated, options(nonces, "kid")))).toMatchObject({
      type: "unauthorized",
      status: 401,
    });
  });

  it("refuses a kid request signed with an alg that does not suit the account key (badSignatureAlgorithm)", async () => {
    const nonces = nonceSource();
    const body = await sign(keys.ES384, { kid: kidPrefix + validId, nonce: nonces.mint(), url: newOrderUrl }, {});
    const problem = await refusal(verifyAcmeJws(body, options(nonces, "kid")));
    expect(problem).toMatchObject({ type: "badSignatureAlgorithm", algorithms: ["ES256"] });
  });

  it("refuses a bad signature as malformed without using the nonce up", async () => {
    const nonces = nonceSource();
    const nonce = nonces.mint();
    const good = await sign(es256, { jwk: es256.jwk, nonce, url: newOrderUrl }, { a: 1 });
    const tampered = { ...good, payload: b64({ a: 2 }) };
    const problem = await refusal(verifyAcmeJws(tampered, options(nonces, "jwk")));
    expect(problem).toMatchObject({ type: "malformed", message: "JWS signature invalid" });
    // Signed by another key than the jwk it names.
    const other = await sign(await testKey("ES256"), { jwk: es256.jwk, nonce, url: newOrderUrl }, {});
    expect(await refusal(verifyAcmeJws(other, options(nonces, "jwk")))).toMatchObject({
      message: "JWS signature invalid",
    });
    expect(nonces.live.has(nonce)).toBe(true);
    await verifyAcmeJws(good, options(nonces, "jwk"));
  });

  it("refuses the general serialization, an unprotected header, extra members, non-JSON and crit", async () => {
    const nonces = nonceSource();
    const good = await sign(es256, { jwk: es256.jwk, nonce: nonces.mint(), url: newOrderUrl }, {});
    const general = { payload: good.payload, signatures: [{ protected: good.protected, signature: good.signature }] };
    for (const body of [
      general,
      { ...good, header: { kid: "x" } },
      { ...good, extra: 1 },
      { protected: good.protected, payload: good.payload },
      { ...good, payload: "not base64url!" },
      { ...good, protected: b64("not json") },
      { ...good, protected: b64([1, 2]) },
      "a.b.c",
      null,
      [good],
    ]) {
      expect(await refusal(verifyAcmeJws(body, options(nonces, "jwk")))).toMatchObject({ type: "malformed" });
    }
    const crit = await sign(
      es256,
      { jwk: es256.jwk, nonce: nonces.mint(), url: newOrderUrl, crit: ["b64"], b64: false },
      {},
    );
    expect(await refusal(verifyAcmeJws(crit, options(nonces, "jwk")))).toMatchObject({ type: "malformed" });
    expect(nonces.live.size).toBe(2);
  });

  it("refuses a signed payload that is not a JSON object (malformed)", async () => {
    const nonces = nonceSource();
    for (const text of ["{not json", "[1,2]", '"text"', "null"]) {
      const header = { alg: "ES256", jwk: es256.jwk, nonce: nonces.mint(), url: newOrderUrl };
      const jws = await new FlattenedSign(new TextEncoder().encode(text))
        .setProtectedHeader(header)
        .sign(es256.privateKey);
      const body = { protected: jws.protected!, payload: jws.payload, signature: jws.signature };
      expect(await refusal(verifyAcmeJws(body, options(nonces, "jwk")))).toMatchObject({ type: "malformed" });
    }
  });
});
