import { createDecipheriv } from "node:crypto";
import { rsaDecryptKey } from "../../keys/rsa-key-transport.ts";
import { readOid } from "../../x509/der-reader.ts";
import { contextPrimitive, tags } from "../../x509/der-writer.ts";
import { type CertificateView, readCertificate } from "../../x509/parse-certificate.ts";
import { serialHexFromContent } from "../../x509/serial-number.ts";
import { failInfos } from "../scep-types.ts";
import {
  BerError,
  type BerNode,
  type BerReader,
  berRaw,
  createBerReader,
  expectBer,
  expectBerTag,
  isOctetString,
} from "./ber-reader.ts";
import {
  type AlgorithmIdentifierNode,
  type CipherSpec,
  cipherOfOid,
  hasNoParameters,
  nodeCipher,
  readAlgorithmIdentifier,
  readCbcIv,
} from "./cms-algorithms.ts";
import { cmsOids } from "./cms-oids.ts";
import { guarded, refused } from "./message-errors.ts";
import type { EnvelopeRecipient, KeyTransport, OpenedEnvelope } from "./pki-message-types.ts";

/** One KeyTransRecipientInfo (RFC 5652 §6.2.1) as read. */
interface KeyTransRecipient {
  readonly rid: BerNode;
  readonly keyEncryptionAlgorithm: AlgorithmIdentifierNode;
  readonly encryptedKey: Uint8Array;
}

interface EnvelopeFrame {
  readonly reader: BerReader;
  readonly recipients: readonly KeyTransRecipient[];
  readonly contentEncryptionAlgorithm: AlgorithmIdentifierNode;
  /** Absent content is malformed for SCEP, reported after the algorithms are checked. */
  readonly encryptedContent: BerNode | undefined;
}

interface KeyTransportSpec {
  readonly keyTransport: KeyTransport;
  readonly oaepHash?: "sha1" | "sha256";
  readonly oaepLabel?: Uint8Array;
}

/**
 * Opens a pkcsPKIEnvelope (RFC 8894 §3.2.2): a CMS EnvelopedData (RFC 5652
 * §6), DER or BER, whose KeyTransRecipientInfo names one of `recipients`
 * (our RA certificates) by issuerAndSerialNumber or subjectKeyIdentifier.
 *
 * Key transport: RSA PKCS#1 v1.5, what SCEP clients use (Node 24's OpenSSL
 * decrypts it with implicit rejection, so a wrong key yields a random key
 * and the content decryption then fails), and RSAES-OAEP with SHA-1 or
 * SHA-256 (MGF1 over the same hash). Content: AES-CBC always; 3DES and DES
 * only with `allowLegacy`.
 *
 * Throws only ScepMessageError: badAlg for an algorithm we do not implement
 * or that legacy crypto being off refuses, badMessageCheck when no recipient
 * is ours or decryption fails, badRequest for a malformed envelope.
 */
export function openEnvelope(
  envelope: Uint8Array,
  recipients: readonly EnvelopeRecipient[],
  options: { readonly allowLegacy: boolean },
): OpenedEnvelope {
  const frame = guarded(failInfos.badRequest, "malformed pkcsPKIEnvelope", () => readEnvelopeFrame(envelope));
  const { reader } = frame;

  const spec = cipherOfOid(frame.contentEncryptionAlgorithm.oid);
  if (spec === undefined)
    throw refused(failInfos.badAlg, `unsupported content encryption ${frame.contentEncryptionAlgorithm.oid}`);
  // RFC 8894 §3.5.2 / §8: DES is broken and 3DES deprecated; only endpoints that opt in accept them.
  if (spec.legacy && !options.allowLegacy)
    throw refused(failInfos.badAlg, `${spec.cipher} is refused: legacy crypto is disabled on this endpoint`);
  const iv = guarded(failInfos.badRequest, "malformed content encryption parameters", () =>
    readCbcIv(reader, frame.contentEncryptionAlgorithm, spec),
  );

  const held = recipients.map((recipient) => ({
    recipient,
    certificate: readCertificate(recipient.certificateDer),
  }));
  let chosen: { recipient: EnvelopeRecipient; info: KeyTransRecipient } | undefined;
  for (const info of frame.recipients) {
    const match = guarded(failInfos.badRequest, "malformed RecipientIdentifier", () =>
      held.find((candidate) => ridMatches(reader, info.rid, candidate.certificate)),
    );
    if (match !== undefined) {
      chosen = { recipient: match.recipient, info };
      break;
    }
  }
  if (chosen === undefined) {
    const serials = held.map((candidate) => candidate.certificate.serialHex).join(", ") || "none";
    throw refused(
      failInfos.badMessageCheck,
      `the envelope is not addressed to an RA certificate of this endpoint (RA serials: ${serials})`,
    );
  }
  const transport = guarded(failInfos.badRequest, "malformed key transport parameters", () =>
    readKeyTransport(reader, chosen.info.keyEncryptionAlgorithm),
  );

  const ciphertext = guarded(failInfos.badRequest, "malformed encryptedContent", () => {
    if (frame.encryptedContent === undefined) throw new BerError("the envelope has no encryptedContent");
    return reader.octets(frame.encryptedContent);
  });
  if (ciphertext.length === 0 || ciphertext.length % spec.ivLength !== 0)
    throw refused(failInfos.badMessageCheck, "encryptedContent is not a whole number of cipher blocks");

  const contentKey = decryptContentKey(chosen.recipient, chosen.info.encryptedKey, transport, spec);
  const content = decryptContent(spec, contentKey, iv, ciphertext);
  return { content, cipher: spec.cipher, keyTransport: transport.keyTransport };
}

function readEnvelopeFrame(der: Uint8Array): EnvelopeFrame {
  const reader = createBerReader(der);
  const root = reader.root();
  let envelopedData: BerNode | undefined;
  const top = expectBer(reader, root, tags.sequence, "ContentInfo", 2);
  if (top[0]!.tag === tags.oid) {
    if (top.length !== 2) throw new BerError("ContentInfo has extra elements");
    if (readOid(der, top[0]!) !== cmsOids.envelopedData) throw new BerError("content type is not envelopedData");
    [envelopedData] = expectBer(reader, top[1], 0xa0, "ContentInfo content", 1, 1);
  } else {
    // A bare EnvelopedData without its ContentInfo: not what RFC 8894 asks, but unambiguous.
    envelopedData = root;
  }
  // EnvelopedData ::= SEQUENCE { version, originatorInfo [0] IMPLICIT OPTIONAL, recipientInfos,
  //   encryptedContentInfo, unprotectedAttrs [1] IMPLICIT OPTIONAL }
  const fields = expectBer(reader, envelopedData, tags.sequence, "EnvelopedData", 3, 5);
  expectBerTag(fields[0], tags.integer, "EnvelopedData version");
  let index = 1;
  if (fields[index]!.tag === 0xa0) index++;
  const recipientInfos = expectBer(reader, fields[index++], tags.set, "recipientInfos", 1);
  // EncryptedContentInfo ::= SEQUENCE { contentType, contentEncryptionAlgorithm,
  //   encryptedContent [0] IMPLICIT OCTET STRING OPTIONAL }
  const [, algorithmNode, encryptedContent] = expectBer(
    reader,
    fields[index],
    tags.sequence,
    "EncryptedContentInfo",
    2,
    3,
  );
  if (encryptedContent !== undefined && !isOctetString(encryptedContent, contextPrimitive(0)))
    throw new BerError("encryptedContent is not [0] IMPLICIT OCTET STRING");
  const recipients: KeyTransRecipient[] = [];
  for (const info of recipientInfos) {
    // RecipientInfo CHOICE: ktri is the untagged SEQUENCE; kari, kekri, pwri and ori are tagged and skipped.
    if (info.tag !== tags.sequence) continue;
    const [version, rid, algorithm, encryptedKey] = expectBer(
      reader,
      info,
      tags.sequence,
      "KeyTransRecipientInfo",
      4,
      4,
    );
    expectBerTag(version, tags.integer, "KeyTransRecipientInfo version");
    if (!isOctetString(encryptedKey!)) throw new BerError("encryptedKey is not an OCTET STRING");
    recipients.push({
      rid: rid!,
      keyEncryptionAlgorithm: readAlgorithmIdentifier(reader, algorithm, "keyEncryptionAlgorithm"),
      encryptedKey: reader.octets(encryptedKey!),
    });
  }
  return {
    reader,
    recipients,
    contentEncryptionAlgorithm: readAlgorithmIdentifier(reader, algorithmNode, "contentEncryptionAlgorithm"),
    encryptedContent,
  };
}

/** RecipientIdentifier (RFC 5652 §6.2.1): issuerAndSerialNumber, or [0] subjectKeyIdentifier. */
function ridMatches(reader: BerReader, rid: BerNode, certificate: CertificateView): boolean {
  const buf = reader.buf;
  if (rid.tag === tags.sequence) {
    const [issuer, serial] = expectBer(reader, rid, tags.sequence, "IssuerAndSerialNumber", 2, 2);
    const issuerDer = berRaw(buf, expectBerTag(issuer, tags.sequence, "issuer"));
    expectBerTag(serial, tags.integer, "serialNumber");
    return (
      serialHexFromContent(buf.subarray(serial!.contentStart, serial!.end)) === certificate.serialHex &&
      Buffer.compare(issuerDer, certificate.issuer.der) === 0
    );
  }
  if (rid.tag === contextPrimitive(0)) {
    const keyId = buf.subarray(rid.contentStart, rid.end);
    return (
      certificate.subjectKeyIdentifier !== undefined && Buffer.compare(keyId, certificate.subjectKeyIdentifier) === 0
    );
  }
  throw new BerError("unknown RecipientIdentifier");
}

const oaepHashes: Readonly<Record<string, "sha1" | "sha256">> = {
  [cmsOids.sha1]: "sha1",
  [cmsOids.sha256]: "sha256",
};

/**
 * rsaEncryption (RFC 3370 §4.2.1) or id-RSAES-OAEP with RSAES-OAEP-params
 * (RFC 4055 §4.1, RFC 3560 §2.1): absent fields default to SHA-1, MGF1-SHA-1
 * and an empty label. node:crypto runs MGF1 over the OAEP hash, so the two
 * must agree.
 */
function readKeyTransport(reader: BerReader, algorithm: AlgorithmIdentifierNode): KeyTransportSpec {
  if (algorithm.oid === cmsOids.rsaEncryption) {
    if (!hasNoParameters(algorithm)) throw refused(failInfos.badAlg, "rsaEncryption parameters must be NULL");
    return { keyTransport: "rsa-pkcs1" };
  }
  if (algorithm.oid !== cmsOids.rsaesOaep)
    throw refused(failInfos.badAlg, `unsupported key transport ${algorithm.oid}`);
  let hash = cmsOids.sha1 as string;
  let mgfHash = cmsOids.sha1 as string;
  let label: Uint8Array = new Uint8Array(0);
  const params = algorithm.params;
  if (params !== undefined && params.tag !== tags.null) {
    for (const field of expectBer(reader, params, tags.sequence, "RSAES-OAEP-params", 0, 3)) {
      const [inner] = expectBer(reader, field, field.tag, "RSAES-OAEP-params field", 1, 1);
      switch (field.tag) {
        case 0xa0:
          hash = readAlgorithmIdentifier(reader, inner, "hashFunc").oid;
          break;
        case 0xa1: {
          const mgf = readAlgorithmIdentifier(reader, inner, "maskGenFunc");
          if (mgf.oid !== cmsOids.mgf1) throw refused(failInfos.badAlg, "OAEP mask generation must be MGF1");
          mgfHash = readAlgorithmIdentifier(reader, mgf.params, "MGF1 hash").oid;
          break;
        }
        case 0xa2: {
          const source = readAlgorithmIdentifier(reader, inner, "pSourceFunc");
          if (source.oid !== cmsOids.pSpecified || source.params === undefined)
            throw refused(failInfos.badAlg, "OAEP label source must be pSpecified");
          label = reader.octets(expectBerTag(source.params, tags.octetString, "pSpecified label"));
          break;
        }
        default:
          throw new BerError("unknown RSAES-OAEP-params field");
      }
    }
  }
  const oaepHash = oaepHashes[hash];
  if (oaepHash === undefined) throw refused(failInfos.badAlg, `unsupported OAEP hash ${hash}`);
  if (mgfHash !== hash)
    throw refused(failInfos.badAlg, "OAEP with an MGF1 hash other than its own hash is not supported");
  return { keyTransport: oaepHash === "sha1" ? "rsa-oaep-sha1" : "rsa-oaep-sha256", oaepHash, oaepLabel: label };
}

function decryptContentKey(
  recipient: EnvelopeRecipient,
  encryptedKey: Uint8Array,
  transport: KeyTransportSpec,
  spec: CipherSpec,
): Uint8Array {
  let key: Buffer;
  try {
    key = rsaDecryptKey(
      recipient.privateKey,
      transport.keyTransport === "rsa-pkcs1"
        ? { padding: "pkcs1" }
        : { padding: "oaep", oaepHash: transport.oaepHash!, oaepLabel: transport.oaepLabel! },
      encryptedKey,
    );
  } catch {
    throw refused(failInfos.badMessageCheck, "the content key cannot be decrypted with the RA key");
  }
  // With implicit rejection a wrong PKCS#1 v1.5 key transport yields a random key of random length.
  if (key.length !== spec.keyLength)
    throw refused(failInfos.badMessageCheck, "the content key cannot be decrypted with the RA key");
  return key;
}

function decryptContent(spec: CipherSpec, contentKey: Uint8Array, iv: Uint8Array, ciphertext: Uint8Array): Buffer {
  const { name, key } = nodeCipher(spec, contentKey);
  try {
    const decipher = createDecipheriv(name, key, iv);
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  } catch {
    // Bad padding: a wrong content key (implicit rejection) or corrupted ciphertext.
    throw refused(failInfos.badMessageCheck, "the envelope does not decrypt (wrong key or corrupted content)");
  }
}
