import {
  createCipheriv,
  createHash,
  diffieHellman,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  sign,
} from "node:crypto";
import { ChanceryError } from "../errors.ts";
import { publicKeyObject } from "../keys/public-key-object.ts";
import { rsaEncryptKey } from "../keys/rsa-key-transport.ts";
import {
  bitString,
  contextConstructed,
  contextPrimitive,
  derInteger,
  derNull,
  derOid,
  integerFromUnsigned,
  octetString,
  sequence,
  setOf,
  tlv,
  tlvOf,
} from "../x509/der-writer.ts";
import { oids } from "../x509/oids.ts";
import { readCertificate } from "../x509/parse-certificate.ts";
import { readSubjectPublicKeyInfo } from "../x509/subject-public-key-info.ts";

/** RFC 5652 content types, RFC 5958 §1 id-ct-KP-aKeyPackage, and the algorithms used below. */
const cmsOids = {
  signedData: "1.2.840.113549.1.7.2",
  envelopedData: "1.2.840.113549.1.7.3",
  aKeyPackage: "2.16.840.1.101.2.1.2.78.5",
  contentType: "1.2.840.113549.1.9.3",
  messageDigest: "1.2.840.113549.1.9.4",
  /** RFC 8017 / RFC 4055 §4.1 RSAES-OAEP. */
  rsaesOaep: "1.2.840.113549.1.1.7",
  /** RFC 3565: AES-256-CBC content encryption and AES-256 key wrap. */
  aes256Cbc: "2.16.840.1.101.3.4.1.42",
  aes256Wrap: "2.16.840.1.101.3.4.1.45",
  /** RFC 5753 §7.1.4 dhSinglePass-stdDH-sha256kdf-scheme. */
  ecdhSha256Kdf: "1.3.132.1.11.1",
} as const;

/** The party that generated the key signs it (RFC 7030 §4.4.2); here, the EST server's TLS certificate and key. */
export interface KeyPackageSigner {
  readonly certificateDer: Uint8Array;
  readonly privateKey: KeyObject;
  /** The CA certificates above the signer's, nearest first, sent along so a client can build the path. */
  readonly chainDer?: readonly Uint8Array[] | undefined;
}

/** Who the key is encrypted to: a public key the client proved it holds, named by its key identifier. */
export interface KeyPackageRecipient {
  /** SubjectPublicKeyInfo DER (RSA, or ECDSA P-256/P-384/P-521). */
  readonly publicKeySpki: Uint8Array;
  /** RFC 7030 §4.4.1.2 AsymmetricDecryptKeyIdentifier: the rid the client finds its key by. */
  readonly keyIdentifier: Uint8Array;
}

/**
 * RFC 7030 §4.4.2 with additional encryption: the server-generated private
 * key as an RFC 5958 AsymmetricKeyPackage, in a SignedData signed by the
 * server, in an EnvelopedData for the client's key. DER ContentInfo, what
 * the "application/pkcs7-mime; smime-type=server-generated-key" part holds.
 * RSA recipients get RSAES-OAEP (SHA-256) key transport, EC recipients
 * ephemeral-static ECDH with the X9.63 SHA-256 KDF and AES-256 key wrap
 * (RFC 5753); the content is AES-256-CBC. `openssl cms -decrypt` reads both.
 */
export function buildEncryptedKeyPackage(input: {
  privateKeyPkcs8: Uint8Array;
  signer: KeyPackageSigner;
  recipient: KeyPackageRecipient;
}): Buffer {
  const signed = buildSignedKeyPackage(input.privateKeyPkcs8, input.signer);
  const cek = randomBytes(32);
  const iv = randomBytes(16);
  const cipher = createCipheriv("aes-256-cbc", cek, iv);
  const encrypted = Buffer.concat([cipher.update(signed), cipher.final()]);
  const recipientInfo = recipientInfoFor(input.recipient, cek);
  cek.fill(0);
  const envelopedData = sequence([
    // RFC 5652 §6.1: version 2 when a RecipientInfo is not version 0 (ours name the key by its identifier).
    derInteger(2),
    setOf([recipientInfo]),
    sequence([
      derOid(cmsOids.signedData),
      sequence([derOid(cmsOids.aes256Cbc), octetString(iv)]),
      tlv(contextPrimitive(0), encrypted),
    ]),
  ]);
  return toBuffer(sequence([derOid(cmsOids.envelopedData), tlvOf(contextConstructed(0), [envelopedData])]));
}

/** The SignedData ContentInfo around the AsymmetricKeyPackage (RFC 5958 §2 and §4). */
export function buildSignedKeyPackage(privateKeyPkcs8: Uint8Array, signer: KeyPackageSigner): Buffer {
  // AsymmetricKeyPackage ::= SEQUENCE SIZE (1..MAX) OF OneAsymmetricKey; a PKCS#8 PrivateKeyInfo is a v1 one.
  const keyPackage = sequence([privateKeyPkcs8]);
  const certificate = readCertificate(signer.certificateDer);
  const scheme = signatureScheme(signer.privateKey);
  const digest = createHash(scheme.digest).update(keyPackage).digest();
  const signedAttributes = [
    sequence([derOid(cmsOids.contentType), setOf([derOid(cmsOids.aKeyPackage)])]),
    sequence([derOid(cmsOids.messageDigest), setOf([octetString(digest)])]),
  ];
  // RFC 5652 §5.4: the signature covers the attributes DER-encoded as a SET OF, not as the [0] they are sent in.
  const toSign = setOf(signedAttributes);
  const signature = sign(scheme.hash, toSign, { key: signer.privateKey, dsaEncoding: "der" });
  const signerInfo = sequence([
    derInteger(1),
    sequence([certificate.issuer.der, integerFromUnsigned(Buffer.from(certificate.serialHex, "hex"))]),
    sequence([derOid(scheme.digestOid)]),
    tlv(contextConstructed(0), toSign.subarray(headerLength(toSign))),
    scheme.algorithm,
    octetString(signature),
  ]);
  const signedData = sequence([
    // RFC 5652 §5.1: version 3 when the encapsulated content is not id-data.
    derInteger(3),
    setOf([sequence([derOid(scheme.digestOid)])]),
    sequence([derOid(cmsOids.aKeyPackage), tlvOf(contextConstructed(0), [octetString(keyPackage)])]),
    tlvOf(contextConstructed(0), [signer.certificateDer, ...(signer.chainDer ?? [])]),
    setOf([signerInfo]),
  ]);
  return toBuffer(sequence([derOid(cmsOids.signedData), tlvOf(contextConstructed(0), [signedData])]));
}

/** Whether a key can be a recipient here (RSA key transport or ECDH key agreement); checked before anything is issued. */
export function isEncryptableTo(publicKeySpki: Uint8Array): boolean {
  try {
    const type = readSubjectPublicKeyInfo(publicKeySpki).key.type;
    return type === "rsa" || type === "ec";
  } catch {
    return false;
  }
}

function recipientInfoFor(recipient: KeyPackageRecipient, cek: Buffer): Uint8Array {
  const spki = readSubjectPublicKeyInfo(recipient.publicKeySpki);
  const publicKey = publicKeyObject(recipient.publicKeySpki);
  if (spki.key.type === "rsa") {
    const encryptedKey = rsaEncryptKey(publicKey, { padding: "oaep", oaepHash: "sha256" }, cek);
    const sha256 = sequence([derOid(oids.sha256)]);
    // RFC 4055 §4.1 RSAES-OAEP-params: [0] hashAlgorithm, [1] maskGenAlgorithm (MGF1 with the same hash).
    const oaepParameters = sequence([
      tlvOf(contextConstructed(0), [sha256]),
      tlvOf(contextConstructed(1), [sequence([derOid(oids.mgf1), sha256])]),
    ]);
    return sequence([
      derInteger(2), // RFC 5652 §6.2.1: version 2 with a subjectKeyIdentifier rid
      tlv(contextPrimitive(0), recipient.keyIdentifier),
      sequence([derOid(cmsOids.rsaesOaep), oaepParameters]),
      octetString(encryptedKey),
    ]);
  }
  if (spki.key.type === "ec") {
    const curve = spki.key.curve;
    const ephemeral = generateKeyPairSync("ec", { namedCurve: curve });
    const shared = diffieHellman({ privateKey: ephemeral.privateKey, publicKey });
    const keyWrapAlgorithm = sequence([derOid(cmsOids.aes256Wrap)]);
    // RFC 5753 §7.2 ECC-CMS-SharedInfo: the key-wrap algorithm and the KEK length in bits, big-endian.
    const sharedInfo = sequence([
      keyWrapAlgorithm,
      tlvOf(contextConstructed(2), [octetString(Uint8Array.of(0, 0, 1, 0))]),
    ]);
    // ANSI X9.63 KDF with SHA-256: one block gives the 256-bit KEK.
    const kek = createHash("sha256")
      .update(shared)
      .update(Uint8Array.of(0, 0, 0, 1))
      .update(sharedInfo)
      .digest();
    shared.fill(0);
    // RFC 3394 AES key wrap with its default IV.
    const wrap = createCipheriv("id-aes256-wrap", kek, Buffer.from("a6a6a6a6a6a6a6a6", "hex"));
    const encryptedKey = Buffer.concat([wrap.update(cek), wrap.final()]);
    kek.fill(0);
    const ephemeralSpki = readSubjectPublicKeyInfo(ephemeral.publicKey.export({ type: "spki", format: "der" }));
    return tlvOf(contextConstructed(1), [
      derInteger(3), // RFC 5652 §6.2.2: version 3
      // originator [0] EXPLICIT OriginatorIdentifierOrKey: originatorKey [1] (RFC 5753 §3.1.1: id-ecPublicKey, parameters absent).
      tlvOf(contextConstructed(0), [
        tlvOf(contextConstructed(1), [sequence([derOid(oids.ecPublicKey)]), bitString(ephemeralSpki.subjectPublicKey)]),
      ]),
      sequence([derOid(cmsOids.ecdhSha256Kdf), keyWrapAlgorithm]),
      sequence([
        sequence([
          // rKeyId [0] RecipientKeyIdentifier { subjectKeyIdentifier }
          tlvOf(contextConstructed(0), [octetString(recipient.keyIdentifier)]),
          octetString(encryptedKey),
        ]),
      ]),
    ]);
  }
  throw new ChanceryError(
    "invalid_argument",
    "the key to encrypt the private key to must be RSA or ECDSA (key transport or key agreement, RFC 7030 §4.4.1.2)",
  );
}

function signatureScheme(key: KeyObject): {
  hash: string | null;
  digest: string;
  digestOid: string;
  algorithm: Uint8Array;
} {
  switch (key.asymmetricKeyType) {
    case "ec":
      return {
        hash: "sha256",
        digest: "sha256",
        digestOid: oids.sha256,
        algorithm: sequence([derOid(oids.ecdsaWithSha256)]),
      };
    case "rsa":
      return {
        hash: "sha256",
        digest: "sha256",
        digestOid: oids.sha256,
        algorithm: sequence([derOid(oids.sha256WithRsa), derNull]),
      };
    case "ed25519":
      // RFC 8419 §3: Ed25519 signs the attributes themselves ("pure"); the message digest is SHA-512.
      return { hash: null, digest: "sha512", digestOid: oids.sha512, algorithm: sequence([derOid(oids.ed25519)]) };
    default:
      throw new ChanceryError("internal", `cannot sign a key package with a ${key.asymmetricKeyType} key`);
  }
}

/** Length of a DER header (tag and length octets) at the start of `der`. */
function headerLength(der: Uint8Array): number {
  const first = der[1]!;
  return first < 0x80 ? 2 : 2 + (first & 0x7f);
}

function toBuffer(der: Uint8Array): Buffer {
  return Buffer.from(der.buffer, der.byteOffset, der.length);
}
