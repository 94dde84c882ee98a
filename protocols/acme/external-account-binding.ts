import type { JsonWebKey } from "node:crypto";
import { AcmeProblem } from "../../src/core/acme/acme-problem.ts";
import { decodeJsonObject, jwkThumbprint, parseFlattenedJws, requireUrlHeader, verifySignature } from "./jws.ts";

/** RFC 8555 §7.3.4: the binding is a MAC, with one of these. */
export const eabAlgorithms = ["HS256", "HS384", "HS512"] as const;

export interface VerifyExternalAccountBindingOptions {
  /** The key of the account being created (the outer JWS's verified jwk). */
  readonly accountJwk: JsonWebKey;
  /** The newAccount URL: RFC 8555 §7.3.4 wants the same "url" as the outer JWS. */
  readonly expectedUrl: string;
  /** The HMAC key of an EAB key id, or null when there is no usable one (unknown, revoked, expired, used). */
  hmacKeyFor(keyId: string): Promise<Uint8Array | null>;
}

/**
 * Checks the externalAccountBinding of a newAccount request (RFC 8555
 * §7.3.4): a flattened JWS with alg HS256/384/512, "kid" the EAB key id,
 * "url" the newAccount URL, no nonce, whose payload is the account's JWK and
 * whose MAC verifies under the key id's HMAC key. Returns the key id, which
 * the caller then binds (once) to the new account.
 *
 * The MAC is checked before the payload is read, so an attacker without the
 * HMAC key learns nothing about which of the later checks would have failed.
 */
export async function verifyExternalAccountBinding(
  eab: unknown,
  options: VerifyExternalAccountBindingOptions,
): Promise<{ keyId: string }> {
  const jws = parseFlattenedJws(eab, "externalAccountBinding");
  const header = jws.header;
  const alg = header.alg;
  if (typeof alg !== "string" || !(eabAlgorithms as readonly string[]).includes(alg))
    throw new AcmeProblem("malformed", "the external account binding must be MACed with HS256, HS384 or HS512");
  if (typeof header.kid !== "string" || header.kid === "")
    throw new AcmeProblem("malformed", 'the external account binding has no "kid" (the EAB key id)');
  if ("nonce" in header) throw new AcmeProblem("malformed", 'the external account binding must not contain a "nonce"');
  if ("jwk" in header) throw new AcmeProblem("malformed", 'the external account binding must not contain a "jwk"');
  requireUrlHeader(header.url, options.expectedUrl, "externalAccountBinding");
  const keyId = header.kid;

  // Unknown, revoked, expired and already used key ids look alike to the client.
  const hmacKey = await options.hmacKeyFor(keyId);
  if (!hmacKey) throw new AcmeProblem("unauthorized", "the external account binding key id is unknown or not usable");
  let payloadBytes: Uint8Array;
  try {
    payloadBytes = await verifySignature(jws, hmacKey, alg);
  } catch (err) {
    throw new AcmeProblem("unauthorized", "external account binding MAC invalid", { cause: err });
  }

  const payload = decodeJsonObject(payloadBytes, "the external account binding payload");
  let boundThumbprint: string;
  try {
    boundThumbprint = await jwkThumbprint(payload as JsonWebKey);
  } catch (err) {
    throw new AcmeProblem("malformed", "the external account binding payload is not a JWK", { cause: err });
  }
  if (boundThumbprint !== (await jwkThumbprint(options.accountJwk)))
    throw new AcmeProblem("unauthorized", "the external account binding is for another account key");
  return { keyId };
}
