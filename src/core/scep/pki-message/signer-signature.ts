import { constants, verify } from "node:crypto";
import { publicKeyObject } from "../../keys/public-key-object.ts";
import { readRoot } from "../../x509/der-reader.ts";
import { readSignatureAlgorithm } from "../../x509/verify-signature.ts";
import { failInfos } from "../scep-types.ts";
import { type BerNode, type BerReader, berRaw } from "./ber-reader.ts";
import { type AlgorithmIdentifierNode, hasNoParameters } from "./cms-algorithms.ts";
import { cmsOids } from "./cms-oids.ts";
import { refused } from "./message-errors.ts";
import type { MessageDigest } from "./pki-message-types.ts";

/** How a SignerInfo signature is checked. */
export type SignerAlgorithm =
  | { readonly scheme: "rsa-pkcs1" | "ecdsa"; readonly hash: MessageDigest }
  | { readonly scheme: "rsa-pss"; readonly hash: MessageDigest; readonly saltLength: number };

const rsaWithHash: Readonly<Record<string, string>> = {
  [cmsOids.sha1WithRsa]: "sha1",
  [cmsOids.sha256WithRsa]: "sha256",
  [cmsOids.sha384WithRsa]: "sha384",
  [cmsOids.sha512WithRsa]: "sha512",
};

const ecdsaWithHash: Readonly<Record<string, string>> = {
  [cmsOids.ecdsaWithSha1]: "sha1",
  [cmsOids.ecdsaWithSha256]: "sha256",
  [cmsOids.ecdsaWithSha384]: "sha384",
  [cmsOids.ecdsaWithSha512]: "sha512",
};

/**
 * The SignerInfo signatureAlgorithm, checked against its digestAlgorithm.
 * RFC 3370 §3.2 lets RSA signers name plain rsaEncryption (OpenSSL and many
 * SCEP clients do) or sha*WithRSAEncryption; some ECDSA signers name the key
 * type. A hash that differs from the digest algorithm, or an algorithm we do
 * not implement, is badAlg.
 */
export function readSignerAlgorithm(
  reader: BerReader,
  algorithm: AlgorithmIdentifierNode,
  algorithmNode: BerNode,
  digest: MessageDigest,
): SignerAlgorithm {
  const mismatch = (hash: string) =>
    refused(failInfos.badAlg, `signature algorithm hash ${hash} differs from the digest algorithm ${digest}`);
  const { oid } = algorithm;
  if (oid === cmsOids.rsaEncryption || oid === cmsOids.ecPublicKey) {
    if (oid === cmsOids.rsaEncryption && !hasNoParameters(algorithm))
      throw refused(failInfos.badAlg, "rsaEncryption signature parameters must be NULL");
    return { scheme: oid === cmsOids.rsaEncryption ? "rsa-pkcs1" : "ecdsa", hash: digest };
  }
  const rsaHash = rsaWithHash[oid];
  if (rsaHash !== undefined) {
    if (!hasNoParameters(algorithm))
      throw refused(failInfos.badAlg, "RSA PKCS#1 v1.5 signature parameters must be NULL");
    if (rsaHash !== digest) throw mismatch(rsaHash);
    return { scheme: "rsa-pkcs1", hash: digest };
  }
  const ecdsaHash = ecdsaWithHash[oid];
  if (ecdsaHash !== undefined) {
    if (algorithm.params !== undefined)
      throw refused(failInfos.badAlg, "ECDSA signature algorithms take no parameters");
    if (ecdsaHash !== digest) throw mismatch(ecdsaHash);
    return { scheme: "ecdsa", hash: digest };
  }
  if (oid === cmsOids.rsassaPss) {
    // RFC 4055 §3.1 parameters, read by the X.509 code (SHA-2 with MGF1 over the same hash only).
    const der = berRaw(reader.buf, algorithmNode).slice();
    let parsed: ReturnType<typeof readSignatureAlgorithm>;
    try {
      parsed = readSignatureAlgorithm(der, readRoot(der));
    } catch (cause) {
      throw refused(
        failInfos.badAlg,
        `unsupported RSASSA-PSS parameters: ${cause instanceof Error ? cause.message : cause}`,
      );
    }
    if (parsed.scheme !== "rsa-pss") throw refused(failInfos.badAlg, "unsupported RSASSA-PSS parameters");
    if (parsed.hash !== digest) throw mismatch(parsed.hash);
    return { scheme: "rsa-pss", hash: digest, saltLength: parsed.saltLength };
  }
  throw refused(failInfos.badAlg, `unsupported signature algorithm ${oid}`);
}

/**
 * Verifies the signature over the DER signed attributes with the signer
 * certificate's key. A key the algorithm cannot use, or one OpenSSL cannot
 * load, makes the signature fail rather than throw.
 */
export function verifySignerSignature(
  algorithm: SignerAlgorithm,
  spkiDer: Uint8Array,
  data: Uint8Array,
  signature: Uint8Array,
): boolean {
  try {
    const key = publicKeyObject(spkiDer);
    const keyType = key.asymmetricKeyType;
    switch (algorithm.scheme) {
      case "rsa-pkcs1":
        if (keyType !== "rsa") return false;
        // RSA keys verify PKCS#1 v1.5 by default; a bare KeyObject skips node's key-input checks (public-key-object.ts).
        return verify(algorithm.hash, data, key, signature);
      case "rsa-pss":
        if (keyType !== "rsa" && keyType !== "rsa-pss") return false;
        return verify(
          algorithm.hash,
          data,
          { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: algorithm.saltLength },
          signature,
        );
      case "ecdsa":
        if (keyType !== "ec") return false;
        return verify(algorithm.hash, data, key, signature);
    }
  } catch {
    return false;
  }
}
