import { createPrivateKey, createPublicKey, type KeyObject, sign } from "node:crypto";
import { ChanceryError } from "../errors.ts";
import type { KeyAlgorithm } from "../keys/key-algorithm.ts";
import { keyAlgorithmOf } from "../keys/key-algorithm-of.ts";
import type { Signer } from "./signer.ts";

interface SignatureScheme {
  /** Digest name for node:crypto sign(); null for Ed25519, which hashes internally (RFC 8032 §5.1.6). */
  hash: "sha256" | "sha384" | null;
  /** DER AlgorithmIdentifier, as hex. */
  algorithmIdentifierHex: string;
}

// ecdsa-with-SHA256 (1.2.840.10045.4.3.2): RFC 5758 §3.2, parameters field ABSENT.
const ecdsaWithSha256 = "300a06082a8648ce3d040302";
// ecdsa-with-SHA384 (1.2.840.10045.4.3.3): RFC 5758 §3.2, parameters field ABSENT.
const ecdsaWithSha384 = "300a06082a8648ce3d040303";
// sha256WithRSAEncryption (1.2.840.113549.1.1.11): RFC 4055 §5, parameters MUST be NULL.
const sha256WithRsaEncryption = "300d06092a864886f70d01010b0500";
// id-Ed25519 (1.3.101.112): RFC 8410 §3, parameters MUST be absent.
const idEd25519 = "300506032b6570";

const schemes: Record<KeyAlgorithm, SignatureScheme> = {
  "ecdsa-p256": { hash: "sha256", algorithmIdentifierHex: ecdsaWithSha256 },
  "ecdsa-p384": { hash: "sha384", algorithmIdentifierHex: ecdsaWithSha384 },
  "rsa-2048": { hash: "sha256", algorithmIdentifierHex: sha256WithRsaEncryption },
  "rsa-3072": { hash: "sha256", algorithmIdentifierHex: sha256WithRsaEncryption },
  "rsa-4096": { hash: "sha256", algorithmIdentifierHex: sha256WithRsaEncryption },
  ed25519: { hash: null, algorithmIdentifierHex: idEd25519 },
};

export interface SoftwareSignerOptions {
  /**
   * Where sign() runs. true (the default): on libuv's thread pool, through
   * node:crypto's callback form. false: on the calling thread.
   *
   * Measured on a shared 2-core machine with 256 signatures in flight: the
   * thread pool signs P-256 at 29-50k/s with 13-18 µs of event-loop time
   * each, inline signing 27-38k/s with the event loop busy all the time
   * (~30 µs each); Ed25519 30-38k/s against 18-24k/s; RSA-2048 4.4-5.4k/s
   * against 2.3-3.8k/s, and inline an RSA-4096 signature would stall every
   * other request for milliseconds. The price is latency when only one
   * signature is in flight (P-256: ~60-100 µs instead of ~33 µs), so a
   * caller that signs strictly one at a time and needs nothing else from
   * the event loop meanwhile (a one-off CLI, a test) may choose false.
   */
  threadPool?: boolean;
}

/**
 * A Signer over a private key held in process memory (as opposed to an HSM
 * or KMS). The key, the public key and the AlgorithmIdentifier are prepared
 * once here, since sign() is on the issuance hot path.
 */
export function createSoftwareSigner(privateKeyPkcs8: Uint8Array, options: SoftwareSignerOptions = {}): Signer {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: Buffer.from(privateKeyPkcs8), format: "der", type: "pkcs8" });
  } catch (cause) {
    throw new ChanceryError("invalid_argument", "CA private key is not a valid DER PKCS#8 PrivateKeyInfo", { cause });
  }
  const algorithm = keyAlgorithmOf(privateKey);
  const scheme = schemes[algorithm];
  const { hash } = scheme;
  const threadPool = options.threadPool ?? true;
  // Each signer gets its own copies, so a caller that scribbles on them cannot affect another signer.
  const signatureAlgorithmDer = Buffer.from(scheme.algorithmIdentifierHex, "hex");
  const publicKeySpki = createPublicKey(privateKey).export({ type: "spki", format: "der" });

  // node:crypto's defaults are the encodings X.509 wants (RFC 5280 §4.1.1.3): dsaEncoding "der" gives an
  // ECDSA-Sig-Value (RFC 5758 §3.2), RSA padding is PKCS#1 v1.5 (RFC 8017 §8.2), Ed25519 is pure EdDSA.
  const failed = (cause: unknown) => new ChanceryError("internal", `${algorithm} signing failed`, { cause });
  const signInline = async (data: Uint8Array): Promise<Uint8Array> => {
    try {
      return sign(hash, data, privateKey);
    } catch (cause) {
      throw failed(cause);
    }
  };
  const signOnThreadPool = (data: Uint8Array): Promise<Uint8Array> =>
    new Promise((resolve, reject) => {
      try {
        sign(hash, data, privateKey, (err, signature) => (err ? reject(failed(err)) : resolve(signature)));
      } catch (cause) {
        // Argument errors are thrown synchronously, before the work is queued.
        reject(failed(cause));
      }
    });

  return Object.freeze({
    algorithm,
    publicKeySpki,
    signatureAlgorithmDer,
    sign: threadPool ? signOnThreadPool : signInline,
  });
}
