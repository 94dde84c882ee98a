import { createHash, sign } from "node:crypto";
import { ChanceryError } from "../../errors.ts";
import {
  contextConstructed,
  derInteger,
  derNull,
  derTime,
  octetString,
  sequence,
  setOf,
  tlvOf,
} from "../../x509/der-writer.ts";
import { encodeDigestAlgorithm } from "./cms-algorithms.ts";
import { cmsOids, encodeCmsOid } from "./cms-oids.ts";
import { issuerAndSerialNumber } from "./issuer-and-serial.ts";
import type { EnvelopeRecipient, MessageDigest } from "./pki-message-types.ts";
import { encodeAttribute, encodeSignedAttributes } from "./signed-attributes.ts";

const version1 = derInteger(1);
/** RFC 3370 §3.2: rsaEncryption names an RSA PKCS#1 v1.5 signature whatever the digest; every SCEP client reads it. */
const rsaEncryption = sequence([encodeCmsOid(cmsOids.rsaEncryption), derNull]);
const dataContentType = encodeAttribute(cmsOids.contentType, encodeCmsOid(cmsOids.data));

/**
 * A CMS SignedData (RFC 5652 §5) in its ContentInfo, DER, signed by an RA
 * credential: id-data `content` encapsulated, the RA certificate in
 * `certificates`, one SignerInfo (issuerAndSerialNumber, RSA PKCS#1 v1.5
 * with `digest`) whose signed attributes are contentType, signingTime,
 * messageDigest and `attributes` (encoded Attribute SEQUENCEs).
 */
export function buildRaSignedData(
  content: Uint8Array,
  attributes: readonly Uint8Array[],
  signer: EnvelopeRecipient,
  digest: MessageDigest,
  now: Date,
): Buffer {
  if (signer.privateKey.asymmetricKeyType !== "rsa")
    throw new ChanceryError("invalid_argument", "the RA key must be RSA");
  const { signedDer, implicitDer } = encodeSignedAttributes([
    dataContentType,
    encodeAttribute(cmsOids.signingTime, derTime(now)),
    encodeAttribute(cmsOids.messageDigest, octetString(createHash(digest).update(content).digest())),
    ...attributes,
  ]);
  // RSA keys sign PKCS#1 v1.5 by default; a bare KeyObject skips node's key-input checks (public-key-object.ts).
  const signature = sign(digest, signedDer, signer.privateKey);
  const digestAlgorithm = encodeDigestAlgorithm(digest);
  const signerInfo = sequence([
    version1, // RFC 5652 §5.3: version 1 with issuerAndSerialNumber
    issuerAndSerialNumber(signer.certificateDer),
    digestAlgorithm,
    implicitDer,
    rsaEncryption,
    octetString(signature),
  ]);
  const signedData = sequence([
    version1, // RFC 5652 §5.1: X.509 certificates only, id-data content, version 1 signers
    setOf([digestAlgorithm]),
    sequence([encodeCmsOid(cmsOids.data), tlvOf(contextConstructed(0), [octetString(content)])]),
    tlvOf(contextConstructed(0), [signer.certificateDer]),
    setOf([signerInfo]),
  ]);
  const contentInfo = sequence([encodeCmsOid(cmsOids.signedData), tlvOf(contextConstructed(0), [signedData])]);
  return Buffer.from(contentInfo.buffer, contentInfo.byteOffset, contentInfo.length);
}
