import { createPrivateKey, type KeyObject } from "node:crypto";
import type { Signer } from "../../ca/signer.ts";
import { createSoftwareSigner } from "../../ca/software-signer.ts";
import { generateKeyPair } from "../../keys/generate-key-pair.ts";
import type { KeyAlgorithm } from "../../keys/key-algorithm.ts";

/**
 * Test-only: a fresh key of `algorithm` behind the real software Signer
 * (signing inline, as a test awaits one signature at a time), plus the
 * private key so tests can hand it to openssl or sign things by hand.
 */
export interface TestSigner extends Signer {
  readonly privateKey: KeyObject;
  readonly privateKeyPkcs8: Uint8Array;
}

export function createTestSigner(algorithm: KeyAlgorithm): TestSigner {
  const pair = generateKeyPair(algorithm);
  const signer = createSoftwareSigner(pair.privateKeyPkcs8, { threadPool: false });
  return {
    algorithm: signer.algorithm,
    publicKeySpki: new Uint8Array(signer.publicKeySpki),
    signatureAlgorithmDer: signer.signatureAlgorithmDer,
    sign: (data) => signer.sign(data),
    privateKey: createPrivateKey({ key: pair.privateKeyPkcs8, format: "der", type: "pkcs8" }),
    privateKeyPkcs8: new Uint8Array(pair.privateKeyPkcs8),
  };
}
