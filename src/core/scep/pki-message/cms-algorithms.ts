import { createSecretKey, type KeyObject } from "node:crypto";
import { readOid } from "../../x509/der-reader.ts";
import { sequence, tags } from "../../x509/der-writer.ts";
import { BerError, type BerNode, type BerReader, expectBer } from "./ber-reader.ts";
import { cmsOids, encodeCmsOid } from "./cms-oids.ts";
import type { ContentCipher, MessageDigest } from "./pki-message-types.ts";

/** An AlgorithmIdentifier (RFC 5280 §4.1.1.2) as read: the OID and the parameters node, if any. */
export interface AlgorithmIdentifierNode {
  readonly oid: string;
  readonly params: BerNode | undefined;
}

export function readAlgorithmIdentifier(
  reader: BerReader,
  node: BerNode | undefined,
  what: string,
): AlgorithmIdentifierNode {
  const [oidNode, params] = expectBer(reader, node, tags.sequence, what, 1, 2);
  return { oid: readOid(reader.buf, oidNode!), params };
}

/** Parameters absent or NULL, the two forms RFC 5754 §2 and RFC 3370 allow. */
export function hasNoParameters(algorithm: AlgorithmIdentifierNode): boolean {
  const params = algorithm.params;
  return params === undefined || (params.tag === tags.null && params.end === params.contentStart);
}

const digestByOid: Readonly<Record<string, MessageDigest>> = {
  [cmsOids.sha1]: "sha1",
  [cmsOids.sha256]: "sha256",
  [cmsOids.sha512]: "sha512",
};

const oidByDigest: Readonly<Record<MessageDigest, string>> = {
  sha1: cmsOids.sha1,
  sha256: cmsOids.sha256,
  sha512: cmsOids.sha512,
};

/** The digest an OID names, or undefined when we do not support it. */
export function digestOfOid(oid: string): MessageDigest | undefined {
  return digestByOid[oid];
}

/** DigestAlgorithmIdentifier with absent parameters, as RFC 5754 §2 asks of writers. */
export function encodeDigestAlgorithm(digest: MessageDigest): Uint8Array {
  return sequence([encodeCmsOid(oidByDigest[digest])]);
}

export interface CipherSpec {
  readonly cipher: ContentCipher;
  readonly oid: string;
  readonly keyLength: number;
  readonly ivLength: number;
  /** DES and 3DES: only on endpoints with legacy crypto enabled. */
  readonly legacy: boolean;
}

export const cipherSpecs: Readonly<Record<ContentCipher, CipherSpec>> = {
  "aes-128-cbc": { cipher: "aes-128-cbc", oid: cmsOids.aes128Cbc, keyLength: 16, ivLength: 16, legacy: false },
  "aes-192-cbc": { cipher: "aes-192-cbc", oid: cmsOids.aes192Cbc, keyLength: 24, ivLength: 16, legacy: false },
  "aes-256-cbc": { cipher: "aes-256-cbc", oid: cmsOids.aes256Cbc, keyLength: 32, ivLength: 16, legacy: false },
  "des-ede3-cbc": { cipher: "des-ede3-cbc", oid: cmsOids.desEde3Cbc, keyLength: 24, ivLength: 8, legacy: true },
  "des-cbc": { cipher: "des-cbc", oid: cmsOids.desCbc, keyLength: 8, ivLength: 8, legacy: true },
};

const cipherByOid: ReadonlyMap<string, CipherSpec> = new Map(
  Object.values(cipherSpecs).map((spec) => [spec.oid, spec]),
);

export function cipherOfOid(oid: string): CipherSpec | undefined {
  return cipherByOid.get(oid);
}

/**
 * The node:crypto cipher and key for a content cipher. OpenSSL 3 moved
 * single DES to the legacy provider, which Node does not load; DES-CBC with
 * key K is exactly DES-EDE3-CBC with K||K||K (encrypt-decrypt-encrypt with
 * one key collapses to one encryption), so that is how we run it.
 *
 * The key comes back as a KeyObject: createSecretKey takes bytes without
 * the throwing key-input checks createCipheriv runs on a Buffer (see
 * src/core/keys/public-key-object.ts).
 */
export function nodeCipher(spec: CipherSpec, key: Uint8Array): { name: string; key: KeyObject } {
  if (spec.cipher === "des-cbc") return { name: "des-ede3-cbc", key: createSecretKey(Buffer.concat([key, key, key])) };
  return { name: spec.cipher, key: createSecretKey(key) };
}

/** CBC parameters: the IV as an OCTET STRING (RFC 3565 §4.1, RFC 3370 §5.1, RFC 8018 B.2.1). */
export function readCbcIv(reader: BerReader, algorithm: AlgorithmIdentifierNode, spec: CipherSpec): Uint8Array {
  const params = algorithm.params;
  if (params === undefined || params.tag !== tags.octetString) throw new BerError(`${spec.cipher} needs an IV`);
  const iv = reader.buf.subarray(params.contentStart, params.end);
  if (iv.length !== spec.ivLength) throw new BerError(`${spec.cipher} IV must be ${spec.ivLength} octets`);
  return iv;
}
