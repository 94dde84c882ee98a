import { afterAll, describe, expect, it } from "vitest";
import { createSoftwareSigner } from "../ca/software-signer.ts";
import { generateKeyPair } from "../keys/generate-key-pair.ts";
import type { KeyAlgorithm } from "../keys/key-algorithm.ts";
import { createCertificateSigningRequest } from "./certificate-signing-request.ts";
import { readCsr } from "./parse-csr.ts";
import { createInlineSignatureVerifier, createWorkerSignatureVerifier } from "./signature-verifier.ts";

async function csr(algorithm: KeyAlgorithm): Promise<Uint8Array> {
  const key = generateKeyPair(algorithm);
  const signer = createSoftwareSigner(key.privateKeyPkcs8, { threadPool: false });
  return createCertificateSigningRequest({ signer, subject: [{ type: "CN", value: `${algorithm}.example` }] });
}

describe("signature verifiers", () => {
  const worker = createWorkerSignatureVerifier({ threads: 2 });
  afterAll(() => worker.close());

  it.each<KeyAlgorithm>(["ecdsa-p256", "ecdsa-p384", "rsa-2048", "ed25519"])(
    "agree with each other on a good and a tampered %s CSR, on worker threads and inline",
    async (algorithm) => {
      const der = await csr(algorithm);
      const { proof } = readCsr(der);
      const tampered = { ...proof, signature: Uint8Array.from(proof.signature, (b, i) => (i === 5 ? b ^ 1 : b)) };
      const inline = createInlineSignatureVerifier();
      expect(await worker.verify(proof)).toBe(true);
      expect(await inline.verify(proof)).toBe(true);
      expect(await worker.verify(tampered)).toBe(false);
      expect(await inline.verify(tampered)).toBe(false);
    },
  );

  it("answers many checks submitted at once, each with its own result", async () => {
    const good = readCsr(await csr("ecdsa-p256")).proof;
    const bad = { ...good, signedData: Uint8Array.from(good.signedData, (b, i) => (i === 10 ? b ^ 0xff : b)) };
    const results = await Promise.all(Array.from({ length: 300 }, (_, i) => worker.verify(i % 3 === 0 ? bad : good)));
    expect(results.filter((ok) => !ok)).toHaveLength(100);
    expect(results.every((ok, i) => ok === (i % 3 !== 0))).toBe(true);
  });

  it("refuses new checks after close with unavailable", async () => {
    const closing = createWorkerSignatureVerifier({ threads: 1 });
    const { proof } = readCsr(await csr("ed25519"));
    expect(await closing.verify(proof)).toBe(true);
    await closing.close();
    await expect(closing.verify(proof)).rejects.toMatchObject({ code: "unavailable" });
  });
});
