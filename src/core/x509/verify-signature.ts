import { constants, verify } from "node:crypto";
import { ChanceryError } from "../errors.ts";
import { publicKeyObject } from "../keys/public-key-object.ts";
import { children, type DerNode, expectChildren, expectTag, readOid, readSmallInteger } from "./der-reader.ts";
import { contextConstructed, tags } from "./der-writer.ts";
import { oids } from "./oids.ts";

type Hash = "sha256" | "sha384" | "sha512";

/** A signature algorithm we accept, read from an AlgorithmIdentifier. */
export type SignatureAlgorithm =
  | { readonly scheme: "ecdsa"; readonly hash: Hash; readonly name: string }
  | { readonly scheme: "rsa-pkcs1"; readonly hash: Hash; readonly name: string }
  | { readonly scheme: "rsa-pss"; readonly hash: Hash; readonly saltLength: number; readonly name: string }
  | { readonly scheme: "ed25519" | "ed448"; readonly name: string };

const hashOids: Record<string, Hash> = { [oids.sha256]: "sha256", [oids.sha384]: "sha384", [oids.sha512]: "sha512" };

function unsupported(message: string): ChanceryError {
  return new ChanceryError("invalid_argument", message);
}

/**
 * Reads a signature AlgorithmIdentifier. SHA-1 based algorithms are refused
 * (RFC 9155 and the CA/B BRs retire SHA-1 signatures).
 */
export function readSignatureAlgorithm(buf: Uint8Array, node: DerNode): SignatureAlgorithm {
  const parts = expectChildren(buf, node, tags.sequence, "AlgorithmIdentifier", 1, 2);
  const oid = readOid(buf, parts[0]!);
  const params = parts[1];
  const isNull = params !== undefined && params.tag === tags.null && params.end === params.contentStart;
  switch (oid) {
    case oids.ecdsaWithSha256:
    case oids.ecdsaWithSha384:
    case oids.ecdsaWithSha512: {
      // RFC 5758 §3.2: the parameters field MUST be absent.
      if (params) throw unsupported("ECDSA signature algorithms take no parameters");
      const hash = oid === oids.ecdsaWithSha256 ? "sha256" : oid === oids.ecdsaWithSha384 ? "sha384" : "sha512";
      return { scheme: "ecdsa", hash, name: `ecdsa-with-${hash.toUpperCase()}` };
    }
    case oids.sha256WithRsa:
    case oids.sha384WithRsa:
    case oids.sha512WithRsa: {
      // RFC 4055 §5: parameters NULL; absent parameters are a common, harmless deviation.
      if (params && !isNull) throw unsupported("RSA PKCS#1 v1.5 parameters must be NULL");
      const hash = oid === oids.sha256WithRsa ? "sha256" : oid === oids.sha384WithRsa ? "sha384" : "sha512";
      return { scheme: "rsa-pkcs1", hash, name: `${hash}WithRSAEncryption` };
    }
    case oids.rsassaPss:
      return readPssParameters(buf, params);
    case oids.ed25519:
    case oids.ed448:
      // RFC 8410 §3: parameters MUST be absent.
      if (params) throw unsupported("EdDSA signature algorithms take no parameters");
      return oid === oids.ed25519 ? { scheme: "ed25519", name: "Ed25519" } : { scheme: "ed448", name: "Ed448" };
    case oids.sha1WithRsa:
    case oids.ecdsaWithSha1:
      throw unsupported("SHA-1 signatures are not accepted");
    default:
      throw unsupported(`unsupported signature algorithm ${oid}`);
  }
}

/**
 * RFC 4055 §3.1 RSASSA-PSS-params. We require SHA-256/384/512 with MGF1 over
 * the same hash (what node:crypto implements) and trailerField 1; the
 * SHA-1 defaults of absent fields are refused.
 */
function readPssParameters(buf: Uint8Array, params: DerNode | undefined): SignatureAlgorithm {
  if (!params) throw unsupported("RSASSA-PSS needs explicit parameters");
  let hash: Hash | undefined;
  let mgfHash: Hash | undefined;
  let saltLength = 20;
  for (const field of expectChildren(buf, params, tags.sequence, "RSASSA-PSS-params", 0, 4)) {
    const [inner] = children(buf, field);
    if (!inner) throw unsupported("empty RSASSA-PSS parameter");
    switch (field.tag) {
      case contextConstructed(0):
        hash = hashOids[readOid(buf, expectChildren(buf, inner, tags.sequence, "hashAlgorithm", 1, 2)[0]!)];
        break;
      case contextConstructed(1): {
        const [mgfOid, mgfParams] = expectChildren(buf, inner, tags.sequence, "maskGenAlgorithm", 2);
        if (readOid(buf, mgfOid!) !== oids.mgf1) throw unsupported("RSASSA-PSS mask generation must be MGF1");
        mgfHash = hashOids[readOid(buf, expectChildren(buf, mgfParams!, tags.sequence, "MGF1 hash", 1, 2)[0]!)];
        break;
      }
      case contextConstructed(2):
        saltLength = readSmallInteger(buf, expectTag(inner, tags.integer, "saltLength"));
        break;
      case contextConstructed(3):
        if (readSmallInteger(buf, expectTag(inner, tags.integer, "trailerField")) !== 1)
          throw unsupported("RSASSA-PSS trailerField must be 1");
        break;
      default:
        throw unsupported("unknown RSASSA-PSS parameter");
    }
  }
  if (!hash || mgfHash !== hash) throw unsupported("RSASSA-PSS must use SHA-256/384/512 with MGF1 over the same hash");
  if (saltLength < 0 || saltLength > 1024) throw unsupported("RSASSA-PSS salt length out of range");
  return { scheme: "rsa-pss", hash, saltLength, name: `RSASSA-PSS-${hash.toUpperCase()}` };
}

/** Which SubjectPublicKeyInfo algorithm each scheme needs. */
const keyAlgorithmFor: Record<SignatureAlgorithm["scheme"], readonly string[]> = {
  ecdsa: [oids.ecPublicKey],
  "rsa-pkcs1": [oids.rsaEncryption],
  "rsa-pss": [oids.rsaEncryption, oids.rsassaPss],
  ed25519: [oids.ed25519],
  ed448: [oids.ed448],
};

/**
 * Verifies `signature` over `data` with node:crypto. Returns false for a
 * signature that does not verify, and for a key that cannot make it or that
 * OpenSSL cannot load (the caller has already checked the SPKI structure).
 */
export function verifySignature(
  algorithm: SignatureAlgorithm,
  spki: { readonly der: Uint8Array; readonly algorithmOid: string },
  data: Uint8Array,
  signature: Uint8Array,
): boolean {
  if (!keyAlgorithmFor[algorithm.scheme].includes(spki.algorithmOid)) return false;
  try {
    const key = publicKeyObject(spki.der);
    switch (algorithm.scheme) {
      case "ecdsa":
      case "rsa-pkcs1":
        return verify(algorithm.hash, data, key, signature);
      case "rsa-pss":
        return verify(
          algorithm.hash,
          data,
          { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: algorithm.saltLength },
          signature,
        );
      case "ed25519":
      case "ed448":
        return verify(null, data, key, signature);
    }
  } catch {
    // OpenSSL reports some malformed signatures (bad DER, wrong length) as errors rather than "false".
    return false;
  }
}
