import { createCipheriv, randomBytes } from "node:crypto";
import { publicKeyObject } from "../../keys/public-key-object.ts";
import { rsaEncryptKey } from "../../keys/rsa-key-transport.ts";
import {
  contextConstructed,
  contextPrimitive,
  derInteger,
  derNull,
  octetString,
  sequence,
  setOf,
  tlv,
  tlvOf,
} from "../../x509/der-writer.ts";
import { readCertificate } from "../../x509/parse-certificate.ts";
import { failInfos } from "../scep-types.ts";
import { cipherSpecs, nodeCipher } from "./cms-algorithms.ts";
import { cmsOids, encodeCmsOid } from "./cms-oids.ts";
import { issuerAndSerialNumber } from "./issuer-and-serial.ts";
import { refused } from "./message-errors.ts";
import type { ContentCipher } from "./pki-message-types.ts";

const version0 = derInteger(0);
const rsaEncryption = sequence([encodeCmsOid(cmsOids.rsaEncryption), derNull]);

/**
 * Encrypts `content` for the holder of `recipientCertificateDer` as a CMS
 * EnvelopedData (RFC 5652 §6) in its ContentInfo, DER: a fresh content key
 * under `cipher`, transported with RSA PKCS#1 v1.5 (RFC 3370 §4.2.1), the
 * key transport every SCEP client decrypts (RFC 8894 §3.2.2). The recipient
 * is named by issuerAndSerialNumber, which every client matches.
 *
 * A recipient whose key is not RSA cannot be answered this way:
 * ScepMessageError badAlg.
 */
export function sealEnvelope(
  content: Uint8Array,
  recipientCertificateDer: Uint8Array,
  cipher: ContentCipher,
): Uint8Array {
  const certificate = readCertificate(recipientCertificateDer);
  const publicKey = publicKeyObject(certificate.publicKey.der);
  if (publicKey.asymmetricKeyType !== "rsa")
    throw refused(failInfos.badAlg, "the requester's key is not RSA, so the reply cannot be encrypted to it");

  const spec = cipherSpecs[cipher];
  const contentKey = randomBytes(spec.keyLength);
  // DES keys carry odd parity in each octet's low bit (FIPS 46-3 §3); some decryptors check it.
  if (spec.legacy) for (let i = 0; i < contentKey.length; i++) contentKey[i] = withOddParity(contentKey[i]!);
  const iv = randomBytes(spec.ivLength);
  const { name, key } = nodeCipher(spec, contentKey);
  const encipher = createCipheriv(name, key, iv);
  const ciphertext = Buffer.concat([encipher.update(content), encipher.final()]);
  const encryptedKey = rsaEncryptKey(publicKey, { padding: "pkcs1" }, contentKey);

  const recipientInfo = sequence([
    version0, // RFC 5652 §6.2.1: version 0 with issuerAndSerialNumber
    issuerAndSerialNumber(recipientCertificateDer),
    rsaEncryption,
    octetString(encryptedKey),
  ]);
  const encryptedContentInfo = sequence([
    encodeCmsOid(cmsOids.data),
    sequence([encodeCmsOid(spec.oid), octetString(iv)]),
    tlv(contextPrimitive(0), ciphertext),
  ]);
  // RFC 5652 §6.1: version 0 without originatorInfo, unprotectedAttrs or non-v0 recipients.
  const envelopedData = sequence([version0, setOf([recipientInfo]), encryptedContentInfo]);
  return sequence([encodeCmsOid(cmsOids.envelopedData), tlvOf(contextConstructed(0), [envelopedData])]);
}

function withOddParity(byte: number): number {
  let ones = 0;
  for (let bit = 1; bit < 0x100; bit <<= 1) if (byte & bit & 0xfe) ones++;
  return (byte & 0xfe) | (ones % 2 === 0 ? 1 : 0);
}
