import type { JsonWebKey } from "node:crypto";
import { AcmeProblem } from "../../src/core/acme/acme-problem.ts";
import {
  checkPublicJwk,
  decodeJsonObject,
  jwkThumbprint,
  parseFlattenedJws,
  requireAcmeAlgorithm,
  requireUrlHeader,
  verifySignature,
} from "./jws.ts";

export interface VerifyKeyChangeOptions {
  /** The outer JWS's url (the keyChange URL); the inner one must carry the same. */
  readonly outerUrl: string;
  /** The URL of the account the outer JWS's kid named. */
  readonly accountUrl: string;
  /** That account's current key. */
  readonly oldJwk: JsonWebKey;
}

/**
 * Checks the inner JWS of a keyChange request (RFC 8555 §7.3.5), whose outer
 * JWS the route has already verified with the account's current key: signed
 * by the new key, carried in its "jwk" header (which passes the same key
 * checks as any request key), the outer "url", no nonce, and a payload
 * {account, oldKey} naming this account and its current key (compared by
 * RFC 7638 thumbprint). Returns the new key and its thumbprint. Whether
 * another account already has the new key (409, §7.3.5) is the caller's
 * check, against the store.
 */
export async function verifyKeyChange(
  inner: unknown,
  options: VerifyKeyChangeOptions,
): Promise<{ newJwk: JsonWebKey; newThumbprint: string }> {
  const jws = parseFlattenedJws(inner, "keyChange inner");
  const header = jws.header;
  const alg = requireAcmeAlgorithm(header.alg);
  if (header.jwk === undefined || header.kid !== undefined)
    throw new AcmeProblem("malformed", 'the keyChange inner JWS must carry the new key in "jwk", and no "kid"');
  if (header.nonce !== undefined)
    throw new AcmeProblem("malformed", 'the keyChange inner JWS must not contain a "nonce"');
  requireUrlHeader(header.url, options.outerUrl, "keyChange inner");

  const newKey = await checkPublicJwk(header.jwk, alg, "badPublicKey");
  const payload = decodeJsonObject(await verifySignature(jws, newKey.key, alg), "the keyChange inner payload");

  const { account, oldKey } = payload;
  if (typeof account !== "string" || typeof oldKey !== "object" || oldKey === null || Array.isArray(oldKey))
    throw new AcmeProblem("malformed", 'the keyChange object must have an "account" URL and an "oldKey" JWK');
  if (account !== options.accountUrl)
    throw new AcmeProblem(
      "unauthorized",
      "the keyChange object names another account than the one signing the request",
    );
  let oldKeyThumbprint: string;
  try {
    oldKeyThumbprint = await jwkThumbprint(oldKey as JsonWebKey);
  } catch (err) {
    throw new AcmeProblem("malformed", 'the keyChange "oldKey" is not a JWK', { cause: err });
  }
  if (oldKeyThumbprint !== (await jwkThumbprint(options.oldJwk)))
    throw new AcmeProblem("unauthorized", 'the keyChange "oldKey" is not the account\'s current key');

  const newThumbprint = await jwkThumbprint(newKey.jwk);
  if (newThumbprint === oldKeyThumbprint)
    throw new AcmeProblem("malformed", "the new account key is the same as the current one");
  return { newJwk: newKey.jwk, newThumbprint };
}
