import type { JsonWebKey } from "node:crypto";
import { type CryptoKey, calculateJwkThumbprint, flattenedVerify, importJWK, type JWK } from "jose";
import { type AcmeErrorType, AcmeProblem } from "../../src/core/acme/acme-problem.ts";

/**
 * RFC 8555 §6.2: the JWS algorithms we accept. "none" and the MAC algorithms
 * are never among them (§6.2: a server MUST NOT accept them for request
 * signatures); EdDSA means Ed25519 only (Ed448 keys are refused).
 */
export const acmeJwsAlgorithms = ["ES256", "ES384", "ES512", "RS256", "PS256", "EdDSA"] as const;
export type AcmeJwsAlgorithm = (typeof acmeJwsAlgorithms)[number];

/** Which key header an endpoint takes (RFC 8555 §6.2). "either" is for revokeCert (§7.6): account key or certificate key. */
export type AcmeKeyRule = "jwk" | "kid" | "either";

/** The protected header after the checks of verifyAcmeJws: exactly one of jwk and kid is set. */
export interface AcmeProtectedHeader {
  readonly alg: AcmeJwsAlgorithm;
  readonly url: string;
  readonly nonce: string;
  readonly jwk?: JsonWebKey | undefined;
  readonly kid?: string | undefined;
  readonly [name: string]: unknown;
}

export interface AcmeAccountKeyRecord {
  readonly id: string;
  readonly jwk: JsonWebKey;
  readonly status: string;
}

export interface VerifiedRequest {
  readonly protectedHeader: AcmeProtectedHeader;
  /** The payload JSON object; undefined for POST-as-GET (an empty payload, RFC 8555 §6.3). */
  readonly payload: Record<string, unknown> | undefined;
  /** The verifying public key, reduced to its RFC 7638 required members (what an account stores). */
  readonly jwk: JsonWebKey;
  /** RFC 7638 SHA-256 thumbprint of `jwk`, base64url. */
  readonly thumbprint: string;
  /** The account named by kid; null when the request was signed with a jwk. */
  readonly account: AcmeAccountKeyRecord | null;
}

export interface VerifyAcmeJwsOptions {
  /** The absolute URL the request was sent to; RFC 8555 §6.4: the "url" header must equal it exactly. */
  readonly expectedUrl: string;
  readonly keyRule: AcmeKeyRule;
  /** Account URL prefix, e.g. "https://host/acme/default/acct/"; a kid is this plus the account id. */
  readonly kidPrefix: string;
  resolveAccount(accountId: string): Promise<AcmeAccountKeyRecord | null>;
  /** Uses the nonce up (NonceService.redeem); false = unknown, expired or already used. */
  redeemNonce(nonce: string): Promise<boolean>;
}

/**
 * Verifies an ACME request body (RFC 8555 §6.2-§6.5) and returns what it
 * says and who signed it. Every refusal is an AcmeProblem.
 *
 * Order of checks: everything that needs no secret and no database write
 * comes first (shape, alg, key header, url, nonce presence), then the key
 * (the jwk's own checks, or the account read for kid), then the signature,
 * and only then is the nonce redeemed. So unauthenticated garbage, or a
 * request whose signature does not verify, cannot burn a client's nonce
 * (anyone who sees a Replay-Nonce header could otherwise spend it), and
 * costs no write. A request signed by a deactivated account still uses its
 * nonce up before being refused, like any other authenticated request.
 */
export async function verifyAcmeJws(body: unknown, options: VerifyAcmeJwsOptions): Promise<VerifiedRequest> {
  const jws = parseFlattenedJws(body, "request");
  const header = jws.header;
  const alg = requireAcmeAlgorithm(header.alg);

  const hasJwk = header.jwk !== undefined;
  const hasKid = header.kid !== undefined;
  if (hasJwk === hasKid)
    throw new AcmeProblem("malformed", 'the JWS protected header must contain exactly one of "jwk" and "kid"');
  if (options.keyRule === "jwk" && !hasJwk)
    throw new AcmeProblem("malformed", 'this resource must be requested with a "jwk" header, not a "kid"');
  if (options.keyRule === "kid" && !hasKid)
    throw new AcmeProblem("malformed", 'this resource must be requested with an account "kid", not a "jwk"');

  const url = requireUrlHeader(header.url, options.expectedUrl, "request");

  // RFC 8555 §6.5: a missing nonce is badNonce; one that is not base64url is malformed (§6.5.1).
  if (header.nonce === undefined) throw new AcmeProblem("badNonce", 'the JWS protected header has no "nonce"');
  if (typeof header.nonce !== "string" || !base64urlSyntax.test(header.nonce) || header.nonce === "")
    throw new AcmeProblem("malformed", 'the "nonce" header is not a base64url string');
  const nonce = header.nonce;

  let verifying: CheckedKey;
  let account: AcmeAccountKeyRecord | null = null;
  if (hasJwk) {
    verifying = await checkPublicJwk(header.jwk, alg, "badPublicKey");
  } else {
    account = await lookUpAccount(header.kid, options);
    verifying = await checkPublicJwk(account.jwk, alg, "badSignatureAlgorithm");
  }

  const payloadBytes = await verifySignature(jws, verifying.key, alg);

  if (!(await options.redeemNonce(nonce)))
    throw new AcmeProblem("badNonce", "the nonce is unknown, expired or already used");

  // RFC 8555 §7.3.6: requests from a deactivated (or revoked) account are refused with 401 unauthorized.
  if (account && account.status !== "valid")
    throw new AcmeProblem("unauthorized", `the account is ${account.status}`, { status: 401 });

  const payload = payloadBytes.length === 0 ? undefined : decodeJsonObject(payloadBytes, "the JWS payload");
  const protectedHeader: AcmeProtectedHeader = {
    ...header,
    alg,
    url,
    nonce,
    ...(hasJwk ? { jwk: verifying.jwk } : { kid: header.kid as string }),
  };
  return {
    protectedHeader,
    payload,
    jwk: verifying.jwk,
    thumbprint: await jwkThumbprint(verifying.jwk),
    account,
  };
}

// ---------------------------------------------------------------------------
// Shared with external-account-binding.ts and key-change.ts.

/** A flattened JWS as RFC 8555 §6.2 allows it, with its decoded protected header. */
export interface ParsedFlattenedJws {
  readonly protected: string;
  readonly payload: string;
  readonly signature: string;
  readonly header: Record<string, unknown>;
}

const base64urlSyntax = /^[A-Za-z0-9_-]*$/;
const flattenedMembers = ["payload", "protected", "signature"];

/**
 * RFC 8555 §6.2: the flattened JSON serialization only, with exactly the
 * members protected, payload and signature (no unprotected header, no
 * general serialization), and a protected header that is a JSON object
 * without critical extensions (ACME defines none, and RFC 7797 "b64" would
 * change what the payload means). `what` names the JWS in error details.
 */
export function parseFlattenedJws(body: unknown, what: string): ParsedFlattenedJws {
  if (typeof body !== "object" || body === null || Array.isArray(body))
    throw new AcmeProblem("malformed", `the ${what} is not a JWS in flattened JSON serialization`);
  const record = body as Record<string, unknown>;
  if ("signatures" in record)
    throw new AcmeProblem(
      "malformed",
      `the ${what} uses the general JWS serialization; only the flattened one is allowed`,
    );
  if ("header" in record) throw new AcmeProblem("malformed", `the ${what} JWS has an unprotected header`);
  const keys = Object.keys(record).sort();
  if (keys.length !== flattenedMembers.length || keys.some((k, i) => k !== flattenedMembers[i]))
    throw new AcmeProblem(
      "malformed",
      `the ${what} JWS must have exactly the members protected, payload and signature`,
    );
  for (const member of flattenedMembers) {
    const value = record[member];
    if (typeof value !== "string" || !base64urlSyntax.test(value))
      throw new AcmeProblem("malformed", `the ${what} JWS "${member}" is not a base64url string`);
  }
  const header = decodeJsonObject(
    Buffer.from(record.protected as string, "base64url"),
    `the ${what} JWS protected header`,
  );
  if ("crit" in header || "b64" in header)
    throw new AcmeProblem("malformed", `the ${what} JWS protected header must not contain "crit" or "b64"`);
  return {
    protected: record.protected as string,
    payload: record.payload as string,
    signature: record.signature as string,
    header,
  };
}

/** RFC 8555 §6.2: one of our signature algorithms, else badSignatureAlgorithm listing them. */
export function requireAcmeAlgorithm(alg: unknown): AcmeJwsAlgorithm {
  if (typeof alg === "string" && (acmeJwsAlgorithms as readonly string[]).includes(alg)) return alg as AcmeJwsAlgorithm;
  const shown = typeof alg === "string" ? `"${alg.slice(0, 32)}"` : "missing";
  throw new AcmeProblem("badSignatureAlgorithm", `JWS algorithm ${shown} is not supported`, {
    algorithms: acmeJwsAlgorithms,
  });
}

/** RFC 8555 §6.4: a "url" header is required (else malformed) and must equal the request URL exactly (else unauthorized). */
export function requireUrlHeader(url: unknown, expectedUrl: string, what: string): string {
  if (typeof url !== "string") throw new AcmeProblem("malformed", `the ${what} JWS protected header has no "url"`);
  if (url !== expectedUrl)
    throw new AcmeProblem("unauthorized", `the ${what} JWS "url" header does not match the URL it was sent to`);
  return url;
}

/** A verifying key: its minimal public JWK and the imported key. */
export interface CheckedKey {
  readonly jwk: JsonWebKey;
  readonly key: CryptoKey;
}

const ecCurveFor: Record<string, { crv: string; coordinateBytes: number }> = {
  ES256: { crv: "P-256", coordinateBytes: 32 },
  ES384: { crv: "P-384", coordinateBytes: 48 },
  ES512: { crv: "P-521", coordinateBytes: 66 },
};
const rsaMinBits = 2048;
// Beyond this a key only makes every verification slower.
const rsaMaxBits = 8192;
const privateMembers = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/**
 * Checks a public JWK for use with `alg` and imports it: a public key only
 * (no "d" or other private members), RSA of 2048 to 8192 bits with an odd
 * exponent, an EC key on the curve `alg` names, or an Ed25519 key for EdDSA.
 * `problem` is the type thrown when the key does not suit (badPublicKey for
 * a key sent with the request, badSignatureAlgorithm for an account's stored
 * key signed with the wrong alg). Returns the key reduced to the members
 * RFC 7638 requires, so nothing else a client put in it is kept.
 */
export async function checkPublicJwk(
  candidate: unknown,
  alg: AcmeJwsAlgorithm,
  problem: Extract<AcmeErrorType, "badPublicKey" | "badSignatureAlgorithm">,
): Promise<CheckedKey> {
  const refuse = (detail: string): never => {
    throw new AcmeProblem(
      problem,
      detail,
      problem === "badSignatureAlgorithm" ? { algorithms: algorithmsFor(candidate) } : undefined,
    );
  };
  if (typeof candidate !== "object" || candidate === null || Array.isArray(candidate))
    return refuse('the "jwk" header is not a JSON Web Key');
  const jwk = candidate as Record<string, unknown>;
  if (privateMembers.some((m) => m in jwk))
    throw new AcmeProblem("badPublicKey", "the JWK contains private key material");
  const text = (member: string): string => {
    const value = jwk[member];
    if (typeof value !== "string" || value === "" || !base64urlSyntax.test(value))
      throw new AcmeProblem("badPublicKey", `the JWK member "${member}" is missing or not base64url`);
    return value;
  };

  let minimal: JsonWebKey;
  switch (jwk.kty) {
    case "RSA": {
      if (alg !== "RS256" && alg !== "PS256") return refuse(`an RSA key cannot sign with ${alg}`);
      const n = text("n");
      const e = text("e");
      const bits = unsignedBitLength(Buffer.from(n, "base64url"));
      if (bits < rsaMinBits || bits > rsaMaxBits)
        throw new AcmeProblem(
          "badPublicKey",
          `RSA keys must have ${rsaMinBits} to ${rsaMaxBits} bits; this one has ${bits}`,
        );
      const exponent = Buffer.from(e, "base64url");
      const exponentBits = unsignedBitLength(exponent);
      if (exponentBits < 2 || exponentBits > 64 || (exponent[exponent.length - 1]! & 1) === 0)
        throw new AcmeProblem("badPublicKey", "the RSA public exponent must be odd and at least 3");
      minimal = { kty: "RSA", n, e };
      break;
    }
    case "EC": {
      const curve = ecCurveFor[alg];
      if (!curve) return refuse(`an EC key cannot sign with ${alg}`);
      if (jwk.crv !== curve.crv)
        return refuse(
          `${alg} needs a ${curve.crv} key; this one is ${typeof jwk.crv === "string" ? jwk.crv : "unnamed"}`,
        );
      const x = text("x");
      const y = text("y");
      if (
        Buffer.from(x, "base64url").length !== curve.coordinateBytes ||
        Buffer.from(y, "base64url").length !== curve.coordinateBytes
      )
        throw new AcmeProblem("badPublicKey", `the ${curve.crv} key coordinates have the wrong length`);
      minimal = { kty: "EC", crv: curve.crv, x, y };
      break;
    }
    case "OKP": {
      if (alg !== "EdDSA") return refuse(`an OKP key cannot sign with ${alg}`);
      if (jwk.crv !== "Ed25519") throw new AcmeProblem("badPublicKey", "only Ed25519 keys are supported for EdDSA");
      const x = text("x");
      if (Buffer.from(x, "base64url").length !== 32)
        throw new AcmeProblem("badPublicKey", "the Ed25519 key has the wrong length");
      minimal = { kty: "OKP", crv: "Ed25519", x };
      break;
    }
    default:
      throw new AcmeProblem("badPublicKey", "the JWK key type must be RSA, EC or OKP");
  }

  try {
    // importJWK (WebCrypto) also checks that an EC point lies on its curve.
    const key = await importJWK(minimal as JWK, alg);
    if (key instanceof Uint8Array) throw new Error("a symmetric key");
    return { jwk: minimal, key };
  } catch (err) {
    throw new AcmeProblem("badPublicKey", "the JWK is not a valid public key", { cause: err });
  }
}

/** The algorithms that suit a key, for a badSignatureAlgorithm about an account key. */
function algorithmsFor(candidate: unknown): readonly string[] {
  const jwk = (typeof candidate === "object" && candidate !== null ? candidate : {}) as Record<string, unknown>;
  if (jwk.kty === "RSA") return ["RS256", "PS256"];
  if (jwk.kty === "EC") {
    const alg = Object.entries(ecCurveFor).find(([, c]) => c.crv === jwk.crv)?.[0];
    if (alg) return [alg];
  }
  if (jwk.kty === "OKP" && jwk.crv === "Ed25519") return ["EdDSA"];
  return acmeJwsAlgorithms;
}

function unsignedBitLength(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length && bytes[i] === 0) i++;
  if (i === bytes.length) return 0;
  return (bytes.length - i - 1) * 8 + (32 - Math.clz32(bytes[i]!));
}

/** Verifies the signature (or MAC) of a parsed JWS; returns the payload bytes. Failure is malformed (RFC 8555 §6.2). */
export async function verifySignature(
  jws: ParsedFlattenedJws,
  key: CryptoKey | Uint8Array,
  alg: string,
): Promise<Uint8Array> {
  try {
    const result = await flattenedVerify(
      { protected: jws.protected, payload: jws.payload, signature: jws.signature },
      key,
      { algorithms: [alg] },
    );
    return result.payload;
  } catch (err) {
    throw new AcmeProblem("malformed", "JWS signature invalid", { cause: err });
  }
}

/** Parses UTF-8 JSON that must be an object; malformed otherwise. */
export function decodeJsonObject(bytes: Uint8Array, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (err) {
    throw new AcmeProblem("malformed", `${what} is not valid JSON`, { cause: err });
  }
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new AcmeProblem("malformed", `${what} is not a JSON object`);
  return value as Record<string, unknown>;
}

/** RFC 7638 thumbprint, SHA-256, base64url: how ACME names a key (accounts, key authorizations). */
export async function jwkThumbprint(jwk: JsonWebKey): Promise<string> {
  return calculateJwkThumbprint(jwk as JWK, "sha256");
}

/** Resolves a kid (RFC 8555 §6.3: the account URL) to its account; accountDoesNotExist when there is none. */
async function lookUpAccount(kid: unknown, options: VerifyAcmeJwsOptions): Promise<AcmeAccountKeyRecord> {
  if (typeof kid !== "string" || !kid.startsWith(options.kidPrefix))
    throw new AcmeProblem("malformed", 'the "kid" header is not an account URL of this directory');
  const accountId = kid.slice(options.kidPrefix.length);
  // Ids are ours (UUIDs); anything else names no account, and is not passed to the store.
  if (!/^[A-Za-z0-9-]{1,64}$/.test(accountId)) throw new AcmeProblem("accountDoesNotExist", "no such account");
  const account = await options.resolveAccount(accountId);
  if (!account) throw new AcmeProblem("accountDoesNotExist", "no such account");
  return account;
}
