import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, X509Certificate } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import https from "node:https";
import acme from "acme-client";
import { calculateJwkThumbprint, exportJWK, FlattenedSign, type JWK } from "jose";
import { expect } from "vitest";
import { type AcmeUrls, acmeUrls } from "../../protocols/acme/acme-urls.ts";
import type { AcmeTestEnv } from "./acme-test-env.ts";

/**
 * A hand-made ACME client for error-path tests: every header, every byte of
 * the JWS is the test's choice, so it can send what no real client would.
 * It talks HTTPS to the gateway with node:https, trusting the env's root.
 */

export interface HttpAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly text: string;
  // biome-ignore lint/suspicious/noExplicitAny: test assertions read arbitrary JSON members.
  readonly json: any;
}

/** An account key pair: the private KeyObject for jose, its public JWK, and PEM for acme-client's CSR builder. */
export interface TestKey {
  readonly privateKey: KeyObject;
  readonly publicJwk: JWK;
  readonly pem: string;
  readonly thumbprint: string;
  readonly alg: TestKeyAlgorithm;
}

export interface TestAccount {
  readonly key: TestKey;
  /** The account URL (the kid). */
  readonly url: string;
  readonly id: string;
}

export interface SignOptions {
  /** Sign with this key's jwk in the header instead of the account kid. */
  readonly useJwk?: boolean;
  /** Override the nonce; null leaves the header out. */
  readonly nonce?: string | null;
  /** Override the "url" header. */
  readonly url?: string;
  /** Override the "kid" header. */
  readonly kid?: string;
  /** Extra protected header members. */
  readonly header?: Record<string, unknown>;
}

export type TestKeyAlgorithm = "ES256" | "ES384" | "RS256" | "EdDSA";

/** A new key pair; `rsaBits` only for RS256 (default 2048). */
export async function newTestKey(alg: TestKeyAlgorithm = "ES256", rsaBits = 2048): Promise<TestKey> {
  const { privateKey, publicKey } =
    alg === "ES256"
      ? generateKeyPairSync("ec", { namedCurve: "P-256" })
      : alg === "ES384"
        ? generateKeyPairSync("ec", { namedCurve: "P-384" })
        : alg === "RS256"
          ? generateKeyPairSync("rsa", { modulusLength: rsaBits })
          : generateKeyPairSync("ed25519");
  const publicJwk = await exportJWK(publicKey);
  return {
    privateKey,
    publicJwk,
    pem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    thumbprint: await calculateJwkThumbprint(publicJwk, "sha256"),
    alg,
  };
}

/** A P-256 key given as PEM (a certificate key from csrFor) as a TestKey, to sign with it. */
export async function testKeyFromPem(pem: string): Promise<TestKey> {
  const privateKey = createPrivateKey(pem);
  const publicJwk = await exportJWK(createPublicKey(privateKey));
  return { privateKey, publicJwk, pem, thumbprint: await calculateJwkThumbprint(publicJwk, "sha256"), alg: "ES256" };
}

export type RawAcme = ReturnType<typeof createRawAcme>;

/** A raw client for one directory of the env; `port` sends to another replica behind the same baseUrl. */
export function createRawAcme(t: AcmeTestEnv, options: { directory?: string; port?: number } = {}) {
  const directoryName = options.directory ?? "default";
  const port = options.port ?? Number(new URL(t.baseUrl).port);
  const urls: AcmeUrls = acmeUrls(t.baseUrl, directoryName);
  const spareNonces: string[] = [];

  function send(
    method: string,
    url: string,
    request: { body?: string | Buffer; contentType?: string; headers?: Record<string, string>; chunked?: boolean } = {},
  ): Promise<HttpAnswer> {
    const target = new URL(url);
    return new Promise((resolve, reject) => {
      const req = https.request(
        {
          host: "127.0.0.1",
          servername: "localhost",
          port,
          path: target.pathname + target.search,
          method,
          ca: t.env.rootCa,
          agent: false,
          headers: {
            host: target.host,
            ...(request.contentType ? { "content-type": request.contentType } : {}),
            ...(request.body !== undefined && !request.chunked
              ? { "content-length": String(Buffer.byteLength(request.body)) }
              : {}),
            ...request.headers,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            const nonce = res.headers["replay-nonce"];
            if (typeof nonce === "string") spareNonces.push(nonce);
            let json: unknown;
            try {
              json = text ? JSON.parse(text) : undefined;
            } catch {
              json = undefined;
            }
            resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
          });
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      req.end(request.body);
    });
  }

  /** A fresh nonce from newNonce (HEAD). */
  async function freshNonce(): Promise<string> {
    const answer = await send("HEAD", urls.newNonce);
    spareNonces.length = 0;
    const nonce = answer.headers["replay-nonce"];
    if (typeof nonce !== "string") throw new Error("newNonce gave no Replay-Nonce");
    return nonce;
  }

  /** A nonce left over from an earlier answer, or a fresh one. */
  async function nonce(): Promise<string> {
    return spareNonces.pop() ?? freshNonce();
  }

  /** The flattened JWS body (a JSON string) for a request to `url`; payload "" is POST-as-GET. */
  async function sign(
    signer: TestAccount | TestKey,
    url: string,
    payload: unknown,
    opts: SignOptions = {},
  ): Promise<string> {
    const key = "key" in signer ? signer.key : signer;
    const useJwk = opts.useJwk ?? !("key" in signer);
    const nonceValue = opts.nonce === undefined ? await nonce() : opts.nonce;
    const header: Record<string, unknown> = {
      alg: key.alg,
      url: opts.url ?? url,
      ...(nonceValue === null ? {} : { nonce: nonceValue }),
      ...(useJwk ? { jwk: key.publicJwk } : { kid: opts.kid ?? (signer as TestAccount).url }),
      ...opts.header,
    };
    const bytes = payload === "" ? new Uint8Array() : new TextEncoder().encode(JSON.stringify(payload));
    const jws = await new FlattenedSign(bytes).setProtectedHeader(header as never).sign(key.privateKey);
    return JSON.stringify(jws);
  }

  /** A signed POST (jose+json); payload "" is POST-as-GET. */
  async function post(signer: TestAccount | TestKey, url: string, payload: unknown, opts: SignOptions = {}) {
    return postBody(url, await sign(signer, url, payload, opts));
  }

  function postBody(url: string, body: string | Buffer, contentType = "application/jose+json") {
    return send("POST", url, { body, contentType });
  }

  async function createAccount(
    payload: Record<string, unknown> = { termsOfServiceAgreed: true },
    key?: TestKey,
  ): Promise<TestAccount> {
    const accountKey = key ?? (await newTestKey());
    const answer = await post(accountKey, urls.newAccount, payload);
    if (answer.status !== 201) throw new Error(`newAccount: ${answer.status} ${answer.text}`);
    const url = answer.headers.location!;
    return { key: accountKey, url, id: url.slice(url.lastIndexOf("/") + 1) };
  }

  async function newOrder(account: TestAccount, names: readonly string[], extra: Record<string, unknown> = {}) {
    return post(account, urls.newOrder, { identifiers: names.map(identifierOf), ...extra });
  }

  /** Polls a resource with POST-as-GET until `done` holds (short interval; the env validates at once). */
  async function pollUntil(account: TestAccount, url: string, done: (json: Record<string, unknown>) => boolean) {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const answer = await post(account, url, "");
      if (answer.status !== 200) throw new Error(`poll ${url}: ${answer.status} ${answer.text}`);
      if (done(answer.json)) return answer;
      if (Date.now() > deadline) throw new Error(`poll ${url}: still ${answer.text}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Answers the authorization's http-01 challenge (the env's HTTP server serves it) and waits until it is valid. */
  async function proveHttp01(account: TestAccount, authorizationUrl: string): Promise<void> {
    const authorization = await post(account, authorizationUrl, "");
    if (authorization.json.status === "valid") return;
    const challenge = authorization.json.challenges.find((c: { type: string }) => c.type === "http-01");
    if (!challenge) throw new Error(`no http-01 challenge: ${authorization.text}`);
    t.tokens.set(challenge.token, `${challenge.token}.${account.key.thumbprint}`);
    const responded = await post(account, challenge.url, {});
    if (responded.status !== 200) throw new Error(`challenge: ${responded.status} ${responded.text}`);
    await pollUntil(account, authorizationUrl, (json) => json["status"] !== "pending");
  }

  /** A new order for `names` (dns names resolve to 127.0.0.1), every authorization proven: the order is ready. */
  async function readyOrder(account: TestAccount, names: readonly string[], extra: Record<string, unknown> = {}) {
    for (const name of names) if (identifierOf(name).type === "dns") t.dns.setA(name, ["127.0.0.1"]);
    const created = await newOrder(account, names, extra);
    if (created.status !== 201) throw new Error(`newOrder: ${created.status} ${created.text}`);
    const orderUrl = created.headers.location!;
    for (const authorizationUrl of created.json.authorizations as string[])
      await proveHttp01(account, authorizationUrl);
    const ready = await pollUntil(account, orderUrl, (json) => json["status"] !== "pending");
    expect(ready.json.status).toBe("ready");
    return { url: orderUrl, json: ready.json };
  }

  /** A certificate issued to the account for `names`: its PEM chain, leaf, and the certificate key. */
  async function issue(account: TestAccount, names: readonly string[], extra: Record<string, unknown> = {}) {
    const order = await readyOrder(account, names, extra);
    const [keyPem, csr] = await csrFor(names);
    const finalized = await post(account, order.json.finalize, { csr });
    if (finalized.status !== 200) throw new Error(`finalize: ${finalized.status} ${finalized.text}`);
    const valid = await pollUntil(account, order.url, (json) => json["status"] !== "processing");
    expect(valid.json.status).toBe("valid");
    const chain = await post(account, valid.json.certificate, "");
    expect(chain.status).toBe(200);
    const leaf = new X509Certificate(
      chain.text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/)![0],
    );
    return { orderUrl: order.url, certificateUrl: valid.json.certificate as string, leaf, keyPem };
  }

  return {
    urls,
    send,
    freshNonce,
    nonce,
    sign,
    post,
    postBody,
    createAccount,
    newOrder,
    pollUntil,
    proveHttp01,
    readyOrder,
    issue,
  };
}

export function identifierOf(name: string): { type: "dns" | "ip"; value: string } {
  return /^[0-9.]+$|:/.test(name) ? { type: "ip", value: name } : { type: "dns", value: name };
}

/** A CSR (base64url DER) naming `names` (the first as CN), with a new key or `keyPem`; returns [keyPem, csr]. */
export async function csrFor(names: readonly string[], keyPem?: string): Promise<[string, string]> {
  const [key, csrPem] = await acme.crypto.createCsr(
    { commonName: names[0]!, altNames: [...names] },
    keyPem ?? (await acme.crypto.createPrivateEcdsaKey()),
  );
  return [key.toString(), pemToDer(csrPem.toString()).toString("base64url")];
}

export function pemToDer(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, ""), "base64");
}

/** The Link rel="index" values of an answer (RFC 8555 §7.1: exactly one, the directory). */
export function indexLinks(answer: HttpAnswer): string[] {
  return ([] as string[])
    .concat(answer.headers.link ?? [])
    .flatMap((value) => value.split(/,\s*(?=<)/))
    .filter((link) => /;\s*rel="index"/.test(link));
}

/** The checks every ACME error answer passes: status, problem+json, the exact type, a fresh nonce, the index link. */
export function expectProblem(answer: HttpAnswer, status: number, type: string, options: { nonce?: boolean } = {}) {
  expect({ status: answer.status, type: answer.json?.type }, answer.text).toEqual({
    status,
    type: `urn:ietf:params:acme:error:${type}`,
  });
  expect(answer.headers["content-type"]).toMatch(/^application\/problem\+json/);
  if (options.nonce !== false) expect(answer.headers["replay-nonce"]).toMatch(/^[A-Za-z0-9_-]{20,}$/);
  expect(indexLinks(answer)).toEqual([
    expect.stringMatching(/^<https:\/\/localhost:\d+\/acme\/[a-z0-9-]+\/directory>;rel="index"$/),
  ]);
}
