import { hash } from "node:crypto";
import { ChanceryError } from "../errors.ts";
import type { PublicKeyInfo } from "../keys/public-key-info.ts";
import { expectChildren, readBitString, readInteger, readIntegerContent, readOid, readRoot } from "./der-reader.ts";
import { tags } from "./der-writer.ts";
import { oids } from "./oids.ts";

export interface SubjectPublicKeyInfoView {
  readonly der: Uint8Array;
  readonly algorithmOid: string;
  /** The subjectPublicKey BIT STRING payload, without the unused-bits octet. */
  readonly subjectPublicKey: Uint8Array;
  readonly key: PublicKeyInfo;
}

const curves: Record<string, { curve: "P-256" | "P-384" | "P-521"; bits: number; coordinateBytes: number }> = {
  [oids.secp256r1]: { curve: "P-256", bits: 256, coordinateBytes: 32 },
  [oids.secp384r1]: { curve: "P-384", bits: 384, coordinateBytes: 48 },
  [oids.secp521r1]: { curve: "P-521", bits: 521, coordinateBytes: 66 },
};

function unsupported(message: string): ChanceryError {
  return new ChanceryError("invalid_argument", message);
}

/**
 * Reads a DER SubjectPublicKeyInfo (RFC 5280 §4.1.2.7) without creating a
 * key object: policy checks on the hot path only need the type and size,
 * and node's createPublicKey costs far more than this walk.
 */
export function readSubjectPublicKeyInfo(der: Uint8Array): SubjectPublicKeyInfoView {
  const root = readRoot(der);
  const [algorithm, bits] = expectChildren(der, root, tags.sequence, "SubjectPublicKeyInfo", 2);
  const algorithmParts = expectChildren(der, algorithm!, tags.sequence, "AlgorithmIdentifier", 1, 2);
  const algorithmOid = readOid(der, algorithmParts[0]!);
  const { bytes: subjectPublicKey, unusedBits } = readBitString(der, bits!);
  if (unusedBits !== 0) throw unsupported("subjectPublicKey has unused bits");
  let key: PublicKeyInfo;
  switch (algorithmOid) {
    case oids.ecPublicKey: {
      // RFC 5480 §2.1.1: namedCurve only; implicit and explicit curves are not allowed.
      const params = algorithmParts[1];
      if (!params || params.tag !== tags.oid) throw unsupported("EC keys must name their curve (RFC 5480 §2.1.1)");
      const curveOid = readOid(der, params);
      const curve = curves[curveOid];
      if (!curve) throw unsupported(`unsupported EC curve ${curveOid}`);
      // RFC 5480 §2.2: the uncompressed form is the one every implementation supports.
      if (subjectPublicKey.length !== 1 + 2 * curve.coordinateBytes || subjectPublicKey[0] !== 0x04)
        throw unsupported(`EC public key is not an uncompressed ${curve.curve} point`);
      key = { type: "ec", curve: curve.curve, bits: curve.bits };
      break;
    }
    case oids.rsaEncryption: {
      // RFC 3279 §2.3.1: parameters MUST be NULL; RSAPublicKey ::= SEQUENCE { modulus, publicExponent }.
      const params = algorithmParts[1];
      if (!params || params.tag !== tags.null || params.end !== params.contentStart)
        throw unsupported("rsaEncryption parameters must be NULL");
      const [modulus, exponent] = expectChildren(
        subjectPublicKey,
        readRoot(subjectPublicKey),
        tags.sequence,
        "RSAPublicKey",
        2,
      );
      // The modulus only for its size: counted from its octets, not made into a bigint (a 4096-bit
      // one costs tens of microseconds that way, on every certificate and CSR read).
      const n = readIntegerContent(subjectPublicKey, modulus!);
      const e = readInteger(subjectPublicKey, exponent!);
      if (n[0]! & 0x80 || (n.length === 1 && n[0] === 0) || e <= 0n)
        throw unsupported("RSA modulus and exponent must be positive");
      key = { type: "rsa", bits: unsignedBitLength(n), publicExponent: e };
      break;
    }
    case oids.ed25519:
      // RFC 8410 §3: parameters MUST be absent.
      if (algorithmParts.length !== 1 || subjectPublicKey.length !== 32) throw unsupported("malformed Ed25519 key");
      key = { type: "ed25519", bits: 256 };
      break;
    case oids.ed448:
      if (algorithmParts.length !== 1 || subjectPublicKey.length !== 57) throw unsupported("malformed Ed448 key");
      key = { type: "ed448", bits: 456 };
      break;
    default:
      throw unsupported(`unsupported public key algorithm ${algorithmOid}`);
  }
  return { der, algorithmOid, subjectPublicKey, key };
}

/** Bit length of a positive, minimally encoded INTEGER's content octets (at most one leading 0x00). */
function unsignedBitLength(octets: Uint8Array): number {
  const first = octets[0] === 0 ? 1 : 0;
  return (octets.length - first - 1) * 8 + (32 - Math.clz32(octets[first]!));
}

/**
 * Key identifier for SKI/AKI: RFC 7093 §2 method 1, the leftmost 160 bits
 * of the SHA-256 hash of the subjectPublicKey BIT STRING value (without tag,
 * length and unused-bits octet). Chosen over RFC 5280 §4.2.1.2's SHA-1 so
 * that nothing here depends on SHA-1 (FIPS builds may refuse it), while
 * keeping the familiar 20-octet length other software expects.
 */
export function keyIdentifierFromPublicKey(subjectPublicKey: Uint8Array): Uint8Array {
  return new Uint8Array(hash("sha256", subjectPublicKey, "buffer").subarray(0, 20));
}

/** Key identifier of a DER SubjectPublicKeyInfo (see keyIdentifierFromPublicKey). */
export function keyIdentifier(spkiDer: Uint8Array): Uint8Array {
  return keyIdentifierFromPublicKey(readSubjectPublicKeyInfo(spkiDer).subjectPublicKey);
}

/**
 * The subjectPublicKey BIT STRING payload of a DER SubjectPublicKeyInfo,
 * by walking just the outer structure (the issuance hot path already knows
 * the key is valid; readSubjectPublicKeyInfo checked it).
 */
export function subjectPublicKeyBits(spkiDer: Uint8Array): Uint8Array {
  const root = readRoot(spkiDer);
  const [, bits] = expectChildren(spkiDer, root, tags.sequence, "SubjectPublicKeyInfo", 2);
  return readBitString(spkiDer, bits!).bytes;
}
