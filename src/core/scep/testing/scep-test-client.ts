import {
  constants,
  createCipheriv,
  createDecipheriv,
  createHash,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
  sign,
  verify,
  X509Certificate,
} from "node:crypto";
import * as asn1js from "asn1js";
import * as pkijs from "pkijs";
import { parseIpAddress } from "../../x509/ip-address.ts";
import type { ContentCipher, KeyTransport, MessageDigest } from "../pki-message/pki-message-types.ts";
import type { FailInfo, PkiStatus, ScepMessageType } from "../scep-types.ts";

/**
 * A SCEP (RFC 8894) client for tests and benchmarks: it builds pkiMessages
 * (PKCSReq, RenewalReq, CertPoll, GetCert, GetCRL) and reads CertReps, with
 * every algorithm choice a real client may make selectable.
 *
 * It shares no CMS code with the server codec (src/core/scep/pki-message):
 * structures are built and read with pkijs/asn1js, the crypto is node:crypto
 * called directly, and its algorithm tables are its own. So a round trip is
 * two independent implementations agreeing, not the server agreeing with
 * itself. Pure functions, no I/O: callers send `der` over HTTP themselves.
 *
 * Everything throws plain Errors: a test client has no protocol to answer.
 */

/** The certificate and key that sign a request; the CertRep is encrypted to this certificate. */
export interface ScepTestSigner {
  readonly certificateDer: Buffer;
  readonly privateKey: KeyObject;
}

export interface RequestOptions {
  /** The RA (or CA) certificate from GetCACert: the envelope is encrypted to it. */
  readonly raCertificateDer: Uint8Array;
  /** Signs the request: a self-signed certificate (selfSignedSigner) or, for RenewalReq, an issued one. */
  readonly signer: ScepTestSigner;
  /** Content encryption; default aes-128-cbc. */
  readonly cipher?: ContentCipher | undefined;
  /** Key transport of the content key to the RA; default rsa-pkcs1. */
  readonly keyTransport?: KeyTransport | undefined;
  /** Digest of the SignerInfo (and signature hash); default sha256. */
  readonly digest?: MessageDigest | undefined;
  /**
   * How an RSA signer names its signature: "with-digest" (default,
   * sha256WithRSAEncryption etc., as micromdm's scepclient), "rsa-encryption"
   * (plain rsaEncryption, as OpenSSL writes) or "pss" (RSASSA-PSS). EC
   * signers always use ecdsa-with-SHA*.
   */
  readonly signatureStyle?: "with-digest" | "rsa-encryption" | "pss" | undefined;
  /** How the KeyTransRecipientInfo names the RA certificate; default issuer-and-serial. */
  readonly recipientIdentifier?: "issuer-and-serial" | "subject-key-identifier" | undefined;
  /**
   * BER instead of DER: indefinite lengths on the outer SignedData and the
   * EnvelopedData, eContent and encryptedContent as segmented constructed
   * OCTET STRINGs, as Apple devices send. Default false.
   */
  readonly ber?: boolean | undefined;
  /** Default: hex SHA-256 of the signer's public key (RFC 8894 §3.2.1.1 suggests a key hash). */
  readonly transactionId?: string | undefined;
  /** Default: 16 random octets. */
  readonly senderNonce?: Uint8Array | undefined;
  /** The signingTime attribute; default now, null leaves it out. */
  readonly signingTime?: Date | null | undefined;
}

/** A built request and what reading its CertRep needs. */
export interface ScepTestRequest {
  readonly der: Buffer;
  readonly messageType: ScepMessageType;
  readonly transactionId: string;
  readonly senderNonce: Buffer;
  readonly signer: ScepTestSigner;
  /** The decrypted message content the envelope carries (for assertions). */
  readonly messageData: Buffer;
}

export interface CertRepResult {
  readonly pkiStatus: PkiStatus;
  /** Set when pkiStatus is FAILURE. */
  readonly failInfo: FailInfo | null;
  readonly transactionId: string;
  readonly senderNonce: Buffer;
  readonly recipientNonce: Buffer;
  /** The certificate that signed the CertRep (verified). */
  readonly signerCertificateDer: Buffer;
  readonly digest: MessageDigest;
  readonly signingTime: Date | null;
  /** SUCCESS: the certificates of the decrypted degenerate PKCS#7, in order (issued certificate first). */
  readonly certificatesDer: readonly Buffer[];
  readonly crlsDer: readonly Buffer[];
  /** SUCCESS: how the reply envelope was encrypted. */
  readonly cipher: ContentCipher | null;
  readonly keyTransport: KeyTransport | null;
}

// Our own algorithm tables: deliberately not imported from the server codec.
const oid = {
  data: "1.2.840.113549.1.7.1",
  signedData: "1.2.840.113549.1.7.2",
  envelopedData: "1.2.840.113549.1.7.3",
  contentType: "1.2.840.113549.1.9.3",
  messageDigest: "1.2.840.113549.1.9.4",
  signingTime: "1.2.840.113549.1.9.5",
  challengePassword: "1.2.840.113549.1.9.7",
  extensionRequest: "1.2.840.113549.1.9.14",
  messageType: "2.16.840.1.113733.1.9.2",
  pkiStatus: "2.16.840.1.113733.1.9.3",
  failInfo: "2.16.840.1.113733.1.9.4",
  senderNonce: "2.16.840.1.113733.1.9.5",
  recipientNonce: "2.16.840.1.113733.1.9.6",
  transactionId: "2.16.840.1.113733.1.9.7",
  rsaEncryption: "1.2.840.113549.1.1.1",
  rsaesOaep: "1.2.840.113549.1.1.7",
  mgf1: "1.2.840.113549.1.1.8",
  rsassaPss: "1.2.840.113549.1.1.10",
  subjectAltName: "2.5.29.17",
} as const;

const digestOids: Record<MessageDigest, string> = {
  sha1: "1.3.14.3.2.26",
  sha256: "2.16.840.1.101.3.4.2.1",
  sha512: "2.16.840.1.101.3.4.2.3",
};
const rsaSignatureOids: Record<MessageDigest, string> = {
  sha1: "1.2.840.113549.1.1.5",
  sha256: "1.2.840.113549.1.1.11",
  sha512: "1.2.840.113549.1.1.13",
};
const ecdsaSignatureOids: Record<MessageDigest, string> = {
  sha1: "1.2.840.10045.4.1",
  sha256: "1.2.840.10045.4.3.2",
  sha512: "1.2.840.10045.4.3.4",
};
const ciphers: Record<ContentCipher, { oid: string; keyLength: number; ivLength: number }> = {
  "aes-128-cbc": { oid: "2.16.840.1.101.3.4.1.2", keyLength: 16, ivLength: 16 },
  "aes-192-cbc": { oid: "2.16.840.1.101.3.4.1.22", keyLength: 24, ivLength: 16 },
  "aes-256-cbc": { oid: "2.16.840.1.101.3.4.1.42", keyLength: 32, ivLength: 16 },
  "des-ede3-cbc": { oid: "1.2.840.113549.3.7", keyLength: 24, ivLength: 8 },
  "des-cbc": { oid: "1.3.14.3.2.7", keyLength: 8, ivLength: 8 },
};
const nameTypes: Record<string, string> = {
  CN: "2.5.4.3",
  SERIALNUMBER: "2.5.4.5",
  C: "2.5.4.6",
  L: "2.5.4.7",
  ST: "2.5.4.8",
  O: "2.5.4.10",
  OU: "2.5.4.11",
};

const requestTypes = { PKCSReq: 19, RenewalReq: 17, CertPoll: 20, GetCert: 21, GetCRL: 22 } as const;

// ---------------------------------------------------------------- keys, CSRs, signers

/** A fresh RSA key pair (2048 bits by default; generation takes tens of milliseconds, so share keys across tests). */
export function generateRsaKey(bits = 2048): { privateKey: KeyObject; publicKey: KeyObject } {
  return generateKeyPairSync("rsa", { modulusLength: bits });
}

export interface TestCsrOptions {
  readonly privateKey: KeyObject;
  /**
   * Subject attributes in encoding order, one per RDN: [["O", "Example"], ["CN", "device-1"]]
   * is "CN=device-1,O=Example" in RFC 4514 form (which lists RDNs last first). Short names
   * (CN, O, OU, C, ST, L, SERIALNUMBER) or OIDs. Default CN=scep-test-client.
   */
  readonly subject?: readonly (readonly [string, string])[] | undefined;
  /** PKCS#9 challengePassword (RFC 8894 §2.2), a PrintableString when it fits, else UTF8String. */
  readonly challengePassword?: string | undefined;
  /** Requested subjectAltName entries as "dns:x", "ip:x", "email:x", "uri:x". */
  readonly sans?: readonly string[] | undefined;
}

/** A PKCS#10 request (RFC 2986) for `privateKey`, signed with SHA-256 (ECDSA or RSA PKCS#1 v1.5). */
export function buildTestCsr(options: TestCsrOptions): Buffer {
  const csr = new pkijs.CertificationRequest();
  csr.version = 0;
  csr.subject = encodeSubject(options.subject ?? [["CN", "scep-test-client"]]);
  csr.subjectPublicKeyInfo = publicKeyInfo(options.privateKey);
  const attributes: pkijs.Attribute[] = [];
  if (options.challengePassword !== undefined)
    attributes.push(
      new pkijs.Attribute({ type: oid.challengePassword, values: [directoryString(options.challengePassword)] }),
    );
  if (options.sans && options.sans.length > 0) {
    const extension = new pkijs.Extension({
      extnID: oid.subjectAltName,
      critical: false,
      extnValue: new pkijs.GeneralNames({ names: options.sans.map(generalName) }).toSchema().toBER(),
    });
    attributes.push(
      new pkijs.Attribute({
        type: oid.extensionRequest,
        values: [new pkijs.Extensions({ extensions: [extension] }).toSchema()],
      }),
    );
  }
  csr.attributes = attributes;
  const algorithm = signatureAlgorithm(options.privateKey, "sha256", "with-digest");
  csr.signatureAlgorithm = algorithm.identifier;
  const tbs = (csr.toSchema(true).valueBlock.value[0] as asn1js.Sequence).toBER();
  csr.signatureValue = new asn1js.BitString({ valueHex: algorithm.sign(new Uint8Array(tbs)) });
  return Buffer.from(csr.toSchema(true).toBER());
}

/**
 * A signer with a self-signed certificate for `privateKey`, as a client
 * makes for its first PKCSReq (RFC 8894 §2.3): subject CN `commonName`,
 * valid from an hour ago for `validDays`.
 */
export function selfSignedSigner(
  privateKey: KeyObject,
  options: { commonName?: string; validDays?: number } = {},
): ScepTestSigner {
  const certificate = new pkijs.Certificate();
  certificate.version = 2;
  // Positive and minimally encoded (RFC 5280 §4.1.2.2): a random first octet of 0x00 would make a
  // non-minimal INTEGER, which the gateway rightly refuses to read.
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x40;
  certificate.serialNumber = new asn1js.Integer({ valueHex: serial });
  const name = encodeSubject([["CN", options.commonName ?? "scep-test-client"]]);
  certificate.issuer = name;
  certificate.subject = name;
  const now = Date.now();
  certificate.notBefore = new pkijs.Time({ type: 0, value: new Date(now - 3_600_000) });
  certificate.notAfter = new pkijs.Time({ type: 0, value: new Date(now + (options.validDays ?? 1) * 86_400_000) });
  certificate.subjectPublicKeyInfo = publicKeyInfo(privateKey);
  const algorithm = signatureAlgorithm(privateKey, "sha256", "with-digest");
  certificate.signature = algorithm.identifier;
  certificate.signatureAlgorithm = algorithm.identifier;
  certificate.signatureValue = new asn1js.BitString({
    valueHex: algorithm.sign(new Uint8Array(certificate.encodeTBS().toBER())),
  });
  return { certificateDer: Buffer.from(certificate.toSchema(true).toBER()), privateKey };
}

// ---------------------------------------------------------------- requests

/** PKCSReq (RFC 8894 §3.3.1): enrol `csrDer`, signed by a self-signed certificate of the CSR key. */
export function pkcsReq(csrDer: Uint8Array, options: RequestOptions): ScepTestRequest {
  return buildPkiMessage(requestTypes.PKCSReq, csrDer, options);
}

/** RenewalReq (RFC 8894 §3.3.1.2): like PKCSReq, signed by the certificate being renewed. */
export function renewalReq(csrDer: Uint8Array, options: RequestOptions): ScepTestRequest {
  return buildPkiMessage(requestTypes.RenewalReq, csrDer, options);
}

/** CertPoll / GetCertInitial (RFC 8894 §3.3.3): IssuerAndSubject; use the PKCSReq's transactionId. */
export function certPoll(
  content: { issuerDer: Uint8Array; subjectDer: Uint8Array },
  options: RequestOptions,
): ScepTestRequest {
  const data = new asn1js.Sequence({ value: [fromDer(content.issuerDer), fromDer(content.subjectDer)] }).toBER();
  return buildPkiMessage(requestTypes.CertPoll, new Uint8Array(data), options);
}

/** GetCert (RFC 8894 §3.3.4): IssuerAndSerialNumber, serial in hex. */
export function getCert(
  content: { issuerDer: Uint8Array; serialHex: string },
  options: RequestOptions,
): ScepTestRequest {
  return buildPkiMessage(requestTypes.GetCert, issuerAndSerial(content), options);
}

/** GetCRL (RFC 8894 §3.3.5): IssuerAndSerialNumber of a certificate the CRL covers. */
export function getCrl(
  content: { issuerDer: Uint8Array; serialHex: string },
  options: RequestOptions,
): ScepTestRequest {
  return buildPkiMessage(requestTypes.GetCRL, issuerAndSerial(content), options);
}

/** The issuer and subject Name DER of a certificate, for certPoll, getCert and getCrl. */
export function certificateNames(certificateDer: Uint8Array): {
  issuerDer: Buffer;
  subjectDer: Buffer;
  serialHex: string;
} {
  const certificate = pkijs.Certificate.fromBER(certificateDer);
  return {
    issuerDer: Buffer.from(certificate.issuer.toSchema().toBER()),
    subjectDer: Buffer.from(certificate.subject.toSchema().toBER()),
    serialHex: Buffer.from(certificate.serialNumber.valueBlock.valueHexView)
      .toString("hex")
      .replace(/^(00)+(?=.)/, ""),
  };
}

/**
 * Any SCEP pkiMessage (RFC 8894 §3.2): `messageData` encrypted to the RA
 * in an EnvelopedData, encapsulated in a SignedData signed by the signer.
 */
export function buildPkiMessage(
  messageType: ScepMessageType,
  messageData: Uint8Array,
  options: RequestOptions,
): ScepTestRequest {
  const digest = options.digest ?? "sha256";
  const ber = options.ber ?? false;
  const senderNonce = Buffer.from(options.senderNonce ?? randomBytes(16));
  const signerCertificate = pkijs.Certificate.fromBER(options.signer.certificateDer);
  const transactionId =
    options.transactionId ??
    createHash("sha256")
      .update(createPublicKey(options.signer.privateKey).export({ type: "spki", format: "der" }))
      .digest("hex");

  const envelope = buildEnvelope(messageData, options, ber);

  const attributes = [
    new pkijs.Attribute({ type: oid.contentType, values: [new asn1js.ObjectIdentifier({ value: oid.data })] }),
    ...(options.signingTime === null
      ? []
      : [
          new pkijs.Attribute({
            type: oid.signingTime,
            values: [new asn1js.UTCTime({ valueDate: options.signingTime ?? new Date() })],
          }),
        ]),
    new pkijs.Attribute({
      type: oid.messageType,
      values: [new asn1js.PrintableString({ value: String(messageType) })],
    }),
    new pkijs.Attribute({ type: oid.transactionId, values: [new asn1js.PrintableString({ value: transactionId })] }),
    new pkijs.Attribute({ type: oid.senderNonce, values: [new asn1js.OctetString({ valueHex: senderNonce })] }),
    new pkijs.Attribute({
      type: oid.messageDigest,
      values: [new asn1js.OctetString({ valueHex: createHash(digest).update(envelope).digest() })],
    }),
  ];
  // RFC 5652 §5.4: the signature covers the DER SET OF the attributes, sorted as DER requires.
  const encoded = attributes.map((attribute) => Buffer.from(attribute.toSchema().toBER()));
  const order = encoded.map((bytes, index) => ({ bytes, index })).sort((a, b) => Buffer.compare(a.bytes, b.bytes));
  const sortedAttributes = order.map(({ index }) => attributes[index]!);
  const signedSet = new asn1js.Set({ value: order.map(({ bytes }) => fromDer(bytes)) }).toBER();
  const algorithm = signatureAlgorithm(options.signer.privateKey, digest, options.signatureStyle ?? "with-digest");

  const signerInfo = new pkijs.SignerInfo({
    version: 1,
    sid: new pkijs.IssuerAndSerialNumber({
      issuer: signerCertificate.issuer,
      serialNumber: signerCertificate.serialNumber,
    }),
    digestAlgorithm: new pkijs.AlgorithmIdentifier({ algorithmId: digestOids[digest] }),
    signedAttrs: new pkijs.SignedAndUnsignedAttributes({ type: 0, attributes: sortedAttributes }),
    signatureAlgorithm: algorithm.identifier,
    signature: new asn1js.OctetString({ valueHex: algorithm.sign(new Uint8Array(signedSet)) }),
  });
  const encapContentInfo = new pkijs.EncapsulatedContentInfo({
    eContentType: oid.data,
    eContent: new asn1js.OctetString({ valueHex: envelope }),
  });
  // pkijs always segments eContent; DER wants it primitive, BER gets small indefinite segments.
  encapContentInfo.eContent = ber ? segmented(envelope) : new asn1js.OctetString({ valueHex: envelope });
  const signedData = new pkijs.SignedData({
    version: 1,
    digestAlgorithms: [new pkijs.AlgorithmIdentifier({ algorithmId: digestOids[digest] })],
    encapContentInfo,
    certificates: [signerCertificate],
    signerInfos: [signerInfo],
  });
  const contentInfo = new pkijs.ContentInfo({ contentType: oid.signedData, content: signedData.toSchema(true) });
  return {
    der: Buffer.from(contentInfo.toSchema().toBER()),
    messageType,
    transactionId,
    senderNonce,
    signer: options.signer,
    messageData: Buffer.from(messageData),
  };
}

function buildEnvelope(content: Uint8Array, options: RequestOptions, ber: boolean): Buffer {
  const cipherName = options.cipher ?? "aes-128-cbc";
  const cipher = ciphers[cipherName];
  const transport = options.keyTransport ?? "rsa-pkcs1";
  const ra = pkijs.Certificate.fromBER(options.raCertificateDer);
  const raKey = new X509Certificate(options.raCertificateDer).publicKey;

  const key = randomBytes(cipher.keyLength);
  const iv = randomBytes(cipher.ivLength);
  // Node has no single DES: K||K||K under 3DES is the same cipher.
  const encipher =
    cipherName === "des-cbc"
      ? createCipheriv("des-ede3-cbc", Buffer.concat([key, key, key]), iv)
      : createCipheriv(cipherName, key, iv);
  const ciphertext = Buffer.concat([encipher.update(content), encipher.final()]);

  let keyEncryptionAlgorithm: pkijs.AlgorithmIdentifier;
  let encryptedKey: Buffer;
  if (transport === "rsa-pkcs1") {
    keyEncryptionAlgorithm = new pkijs.AlgorithmIdentifier({
      algorithmId: oid.rsaEncryption,
      algorithmParams: new asn1js.Null(),
    });
    encryptedKey = publicEncrypt({ key: raKey, padding: constants.RSA_PKCS1_PADDING }, key);
  } else {
    const hash = transport === "rsa-oaep-sha1" ? "sha1" : "sha256";
    const hashAlgorithm = new pkijs.AlgorithmIdentifier({
      algorithmId: digestOids[hash],
      algorithmParams: new asn1js.Null(),
    });
    // RFC 4055 §4.1: SHA-1 and MGF1-SHA-1 are the defaults, so OAEP-SHA-1 parameters are an empty SEQUENCE.
    const params =
      hash === "sha1"
        ? new asn1js.Sequence()
        : new pkijs.RSAESOAEPParams({
            hashAlgorithm,
            maskGenAlgorithm: new pkijs.AlgorithmIdentifier({
              algorithmId: oid.mgf1,
              algorithmParams: hashAlgorithm.toSchema(),
            }),
          }).toSchema();
    keyEncryptionAlgorithm = new pkijs.AlgorithmIdentifier({ algorithmId: oid.rsaesOaep, algorithmParams: params });
    encryptedKey = publicEncrypt({ key: raKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, key);
  }

  const rid =
    options.recipientIdentifier === "subject-key-identifier"
      ? new asn1js.OctetString({ valueHex: subjectKeyIdentifier(ra) })
      : new pkijs.IssuerAndSerialNumber({ issuer: ra.issuer, serialNumber: ra.serialNumber });
  const recipient = new pkijs.KeyTransRecipientInfo({
    rid,
    keyEncryptionAlgorithm,
    encryptedKey: new asn1js.OctetString({ valueHex: encryptedKey }),
  });
  const encryptedContentInfo = new pkijs.EncryptedContentInfo({
    contentType: oid.data,
    contentEncryptionAlgorithm: new pkijs.AlgorithmIdentifier({
      algorithmId: cipher.oid,
      algorithmParams: new asn1js.OctetString({ valueHex: iv }),
    }),
    encryptedContent: ber ? segmented(ciphertext) : new asn1js.OctetString({ valueHex: ciphertext }),
    disableSplit: true,
  });
  const envelopedData = new pkijs.EnvelopedData({
    version: recipient.rid instanceof pkijs.IssuerAndSerialNumber ? 0 : 2,
    recipientInfos: [new pkijs.RecipientInfo({ variant: 1, value: recipient })],
    encryptedContentInfo,
  });
  const contentInfo = new pkijs.ContentInfo({ contentType: oid.envelopedData, content: envelopedData.toSchema() });
  return Buffer.from(contentInfo.toSchema().toBER());
}

// ---------------------------------------------------------------- CertRep

export interface ReadCertRepOptions {
  /** The request answered: its senderNonce must come back as recipientNonce, its transactionId too, and its signer key decrypts. */
  readonly request?: ScepTestRequest | undefined;
  /** When given, the CertRep must be signed by this certificate (the RA). */
  readonly raCertificateDer?: Uint8Array | undefined;
  /** Decrypts the envelope when no request is given. */
  readonly privateKey?: KeyObject | undefined;
}

/**
 * Reads a CertRep (RFC 8894 §3.3.2): verifies the signature (with the
 * certificate the SignerInfo names, which must be raCertificateDer when
 * given) and the messageDigest, checks messageType 3 and, with a request,
 * the recipientNonce and transactionID; for SUCCESS decrypts the envelope
 * and returns the certificates and CRLs of the degenerate PKCS#7 inside.
 */
export function readCertRep(der: Uint8Array, options: ReadCertRepOptions = {}): CertRepResult {
  const signed = readSignedData(der, options.raCertificateDer);
  const attributes = signed.attributes;
  const text = (type: string) => {
    const value = attributes.get(type);
    return value instanceof asn1js.PrintableString ? value.valueBlock.value : undefined;
  };
  const octets = (type: string) => {
    const value = attributes.get(type);
    return value instanceof asn1js.OctetString ? Buffer.from(value.valueBlock.valueHexView) : undefined;
  };
  if (text(oid.messageType) !== "3") throw new Error(`not a CertRep: messageType ${text(oid.messageType)}`);
  const pkiStatus = Number(text(oid.pkiStatus));
  if (pkiStatus !== 0 && pkiStatus !== 2 && pkiStatus !== 3) throw new Error(`bad pkiStatus ${text(oid.pkiStatus)}`);
  const failInfoText = text(oid.failInfo);
  const failInfo = failInfoText === undefined ? null : (Number(failInfoText) as FailInfo);
  if (pkiStatus === 2 && failInfo === null) throw new Error("a FAILURE CertRep without failInfo");
  const transactionId = text(oid.transactionId);
  const senderNonce = octets(oid.senderNonce);
  const recipientNonce = octets(oid.recipientNonce);
  if (transactionId === undefined || senderNonce === undefined || recipientNonce === undefined)
    throw new Error("the CertRep lacks transactionID, senderNonce or recipientNonce");
  if (options.request) {
    if (!recipientNonce.equals(options.request.senderNonce)) throw new Error("recipientNonce is not our senderNonce");
    if (transactionId !== options.request.transactionId) throw new Error("transactionID differs from the request's");
  }
  let certificatesDer: Buffer[] = [];
  let crlsDer: Buffer[] = [];
  let cipher: ContentCipher | null = null;
  let keyTransport: KeyTransport | null = null;
  if (pkiStatus === 0) {
    const privateKey = options.privateKey ?? options.request?.signer.privateKey;
    if (!privateKey) throw new Error("a SUCCESS CertRep needs the requester key to decrypt");
    const opened = decryptEnvelope(signed.content, privateKey);
    ({ cipher, keyTransport } = opened);
    ({ certificatesDer, crlsDer } = readCertsOnly(opened.content));
  } else if (signed.content.length > 0) {
    throw new Error("a PENDING or FAILURE CertRep must not carry an envelope");
  }
  const signingTime = attributes.get(oid.signingTime);
  return {
    pkiStatus: pkiStatus as PkiStatus,
    failInfo,
    transactionId,
    senderNonce,
    recipientNonce,
    signerCertificateDer: signed.signerCertificateDer,
    digest: signed.digest,
    signingTime:
      signingTime instanceof asn1js.UTCTime || signingTime instanceof asn1js.GeneralizedTime
        ? signingTime.toDate()
        : null,
    certificatesDer,
    crlsDer,
    cipher,
    keyTransport,
  };
}

/** The certificates and CRLs of a degenerate certs-only PKCS#7 (GetCACert, a CertRep's envelope content, EST /cacerts). */
export function readCertsOnly(der: Uint8Array): { certificatesDer: Buffer[]; crlsDer: Buffer[] } {
  const contentInfo = pkijs.ContentInfo.fromBER(der);
  if (contentInfo.contentType !== oid.signedData) throw new Error("not a SignedData");
  const signedData = new pkijs.SignedData({ schema: contentInfo.content });
  if (signedData.signerInfos.length !== 0) throw new Error("a certs-only PKCS#7 has no signers");
  return {
    certificatesDer: (signedData.certificates ?? []).map((certificate) => Buffer.from(certificate.toSchema().toBER())),
    crlsDer: (signedData.crls ?? []).map((crl) => Buffer.from(crl.toSchema().toBER())),
  };
}

/** GetNextCACert's answer (RFC 8894 §4.7.1): a signed certs-only PKCS#7; the signature is verified. */
export function readSignedCertsOnly(
  der: Uint8Array,
  raCertificateDer?: Uint8Array,
): { certificatesDer: Buffer[]; signerCertificateDer: Buffer } {
  const signed = readSignedData(der, raCertificateDer);
  return {
    certificatesDer: readCertsOnly(signed.content).certificatesDer,
    signerCertificateDer: signed.signerCertificateDer,
  };
}

// ---------------------------------------------------------------- internals

interface VerifiedSignedData {
  readonly content: Buffer;
  readonly digest: MessageDigest;
  readonly signerCertificateDer: Buffer;
  readonly attributes: Map<string, asn1js.AsnType>;
}

function readSignedData(der: Uint8Array, expectedSignerDer: Uint8Array | undefined): VerifiedSignedData {
  const contentInfo = pkijs.ContentInfo.fromBER(der);
  if (contentInfo.contentType !== oid.signedData) throw new Error("not a SignedData");
  const signedData = new pkijs.SignedData({ schema: contentInfo.content });
  if (signedData.signerInfos.length !== 1) throw new Error("expected one SignerInfo");
  const signerInfo = signedData.signerInfos[0]!;
  if (!(signerInfo.sid instanceof pkijs.IssuerAndSerialNumber))
    throw new Error("expected an issuerAndSerialNumber sid");
  const sid = signerInfo.sid;
  const signer = (signedData.certificates ?? []).find(
    (certificate): certificate is pkijs.Certificate =>
      certificate instanceof pkijs.Certificate &&
      certificate.issuer.isEqual(sid.issuer) &&
      certificate.serialNumber.isEqual(sid.serialNumber),
  );
  if (!signer) throw new Error("the signer certificate is not in the SignedData");
  const signerCertificateDer = Buffer.from(signer.toSchema().toBER());
  if (expectedSignerDer && !signerCertificateDer.equals(Buffer.from(expectedSignerDer)))
    throw new Error("signed by a certificate other than the RA's");
  const digest = (Object.keys(digestOids) as MessageDigest[]).find(
    (name) => digestOids[name] === signerInfo.digestAlgorithm.algorithmId,
  );
  if (!digest) throw new Error(`unknown digest ${signerInfo.digestAlgorithm.algorithmId}`);
  if (!signerInfo.signedAttrs) throw new Error("no signed attributes");
  const attributes = new Map<string, asn1js.AsnType>();
  for (const attribute of signerInfo.signedAttrs.attributes) attributes.set(attribute.type, attribute.values[0]);
  const eContent = signedData.encapContentInfo.eContent;
  const content = eContent ? octetStringValue(eContent) : Buffer.alloc(0);
  const messageDigest = attributes.get(oid.messageDigest);
  if (
    !(messageDigest instanceof asn1js.OctetString) ||
    !Buffer.from(messageDigest.valueBlock.valueHexView).equals(createHash(digest).update(content).digest())
  )
    throw new Error("messageDigest does not match the content");
  // pkijs keeps the attributes exactly as received, retagged as SET OF (RFC 5652 §5.4).
  const signedBytes = new Uint8Array(signerInfo.signedAttrs.encodedValue);
  const publicKey = new X509Certificate(signerCertificateDer).publicKey;
  const valid = verify(
    digest,
    signedBytes,
    publicKey.asymmetricKeyType === "rsa" ? { key: publicKey, padding: constants.RSA_PKCS1_PADDING } : publicKey,
    signerInfo.signature.valueBlock.valueHexView,
  );
  if (!valid) throw new Error("the SignedData signature does not verify");
  return { content, digest, signerCertificateDer, attributes };
}

function decryptEnvelope(
  der: Uint8Array,
  privateKey: KeyObject,
): { content: Buffer; cipher: ContentCipher; keyTransport: KeyTransport } {
  const contentInfo = pkijs.ContentInfo.fromBER(der);
  if (contentInfo.contentType !== oid.envelopedData) throw new Error("the CertRep content is not an EnvelopedData");
  const envelopedData = new pkijs.EnvelopedData({ schema: contentInfo.content });
  const recipient = envelopedData.recipientInfos[0]?.value;
  if (!(recipient instanceof pkijs.KeyTransRecipientInfo)) throw new Error("expected a KeyTransRecipientInfo");
  const encryptedKey = recipient.encryptedKey.valueBlock.valueHexView;
  let key: Buffer;
  let keyTransport: KeyTransport;
  if (recipient.keyEncryptionAlgorithm.algorithmId === oid.rsaEncryption) {
    key = privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_PADDING }, encryptedKey);
    keyTransport = "rsa-pkcs1";
  } else if (recipient.keyEncryptionAlgorithm.algorithmId === oid.rsaesOaep) {
    const params = new pkijs.RSAESOAEPParams({ schema: recipient.keyEncryptionAlgorithm.algorithmParams });
    const hash = params.hashAlgorithm.algorithmId === digestOids.sha256 ? "sha256" : "sha1";
    key = privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, encryptedKey);
    keyTransport = hash === "sha1" ? "rsa-oaep-sha1" : "rsa-oaep-sha256";
  } else {
    throw new Error(`unknown key transport ${recipient.keyEncryptionAlgorithm.algorithmId}`);
  }
  const info = envelopedData.encryptedContentInfo;
  const cipher = (Object.keys(ciphers) as ContentCipher[]).find(
    (name) => ciphers[name].oid === info.contentEncryptionAlgorithm.algorithmId,
  );
  if (!cipher) throw new Error(`unknown content cipher ${info.contentEncryptionAlgorithm.algorithmId}`);
  if (key.length !== ciphers[cipher].keyLength) throw new Error("the content key has the wrong length");
  const iv = (info.contentEncryptionAlgorithm.algorithmParams as asn1js.OctetString).valueBlock.valueHexView;
  const decipher =
    cipher === "des-cbc"
      ? createDecipheriv("des-ede3-cbc", Buffer.concat([key, key, key]), iv)
      : createDecipheriv(cipher, key, iv);
  if (!info.encryptedContent) throw new Error("the envelope has no encryptedContent");
  const content = Buffer.concat([decipher.update(octetStringValue(info.encryptedContent)), decipher.final()]);
  return { content, cipher, keyTransport };
}

/** The value of an OCTET STRING, joining the segments of a constructed one. */
function octetStringValue(value: asn1js.OctetString): Buffer {
  if (!value.idBlock.isConstructed) return Buffer.from(value.valueBlock.valueHexView);
  return Buffer.concat(value.valueBlock.value.map((segment) => octetStringValue(segment as asn1js.OctetString)));
}

/** A constructed, indefinite-length OCTET STRING in 512-octet segments (X.690 §8.7.3), as BER encoders write. */
function segmented(bytes: Uint8Array): asn1js.OctetString {
  const string = new asn1js.OctetString({ idBlock: { isConstructed: true }, isConstructed: true });
  for (let offset = 0; offset < bytes.length; offset += 512)
    string.valueBlock.value.push(new asn1js.OctetString({ valueHex: bytes.subarray(offset, offset + 512) }));
  string.lenBlock.isIndefiniteForm = true;
  return string;
}

function signatureAlgorithm(
  privateKey: KeyObject,
  digest: MessageDigest,
  style: "with-digest" | "rsa-encryption" | "pss",
): { identifier: pkijs.AlgorithmIdentifier; sign(data: Uint8Array): Buffer } {
  if (privateKey.asymmetricKeyType === "ec")
    return {
      identifier: new pkijs.AlgorithmIdentifier({ algorithmId: ecdsaSignatureOids[digest] }),
      sign: (data) => sign(digest, data, privateKey),
    };
  if (privateKey.asymmetricKeyType !== "rsa") throw new Error("the test client signs with RSA or EC keys");
  if (style === "pss") {
    const saltLength = createHash(digest).digest().length;
    const hashAlgorithm = new pkijs.AlgorithmIdentifier({
      algorithmId: digestOids[digest],
      algorithmParams: new asn1js.Null(),
    });
    const params = new pkijs.RSASSAPSSParams({
      hashAlgorithm,
      maskGenAlgorithm: new pkijs.AlgorithmIdentifier({
        algorithmId: oid.mgf1,
        algorithmParams: hashAlgorithm.toSchema(),
      }),
      saltLength,
    });
    return {
      identifier: new pkijs.AlgorithmIdentifier({ algorithmId: oid.rsassaPss, algorithmParams: params.toSchema() }),
      sign: (data) => sign(digest, data, { key: privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength }),
    };
  }
  return {
    identifier: new pkijs.AlgorithmIdentifier({
      algorithmId: style === "rsa-encryption" ? oid.rsaEncryption : rsaSignatureOids[digest],
      algorithmParams: new asn1js.Null(),
    }),
    sign: (data) => sign(digest, data, { key: privateKey, padding: constants.RSA_PKCS1_PADDING }),
  };
}

function publicKeyInfo(privateKey: KeyObject): pkijs.PublicKeyInfo {
  return pkijs.PublicKeyInfo.fromBER(createPublicKey(privateKey).export({ type: "spki", format: "der" }));
}

/** One attribute per RDN, in order (pkijs would put them all in one multi-valued RDN). */
function encodeSubject(attributes: readonly (readonly [string, string])[]): pkijs.RelativeDistinguishedNames {
  const name = new asn1js.Sequence({
    value: attributes.map(([type, value]) => {
      const typeOid = nameTypes[type.toUpperCase()] ?? type;
      const encoded =
        typeOid === nameTypes["C"] || typeOid === nameTypes["SERIALNUMBER"]
          ? new asn1js.PrintableString({ value })
          : new asn1js.Utf8String({ value });
      return new asn1js.Set({
        value: [new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: typeOid }), encoded] })],
      });
    }),
  });
  return pkijs.RelativeDistinguishedNames.fromBER(name.toBER());
}

function directoryString(value: string): asn1js.PrintableString | asn1js.Utf8String {
  return /^[A-Za-z0-9 '()+,\-./:=?]*$/.test(value)
    ? new asn1js.PrintableString({ value })
    : new asn1js.Utf8String({ value });
}

function generalName(san: string): pkijs.GeneralName {
  const colon = san.indexOf(":");
  const type = san.slice(0, colon);
  const value = san.slice(colon + 1);
  switch (type) {
    case "dns":
      return new pkijs.GeneralName({ type: 2, value });
    case "email":
      return new pkijs.GeneralName({ type: 1, value });
    case "uri":
      return new pkijs.GeneralName({ type: 6, value });
    case "ip": {
      const bytes = parseIpAddress(value);
      if (!bytes) throw new Error(`not an IP address: ${value}`);
      return new pkijs.GeneralName({ type: 7, value: new asn1js.OctetString({ valueHex: bytes }) });
    }
    default:
      throw new Error(`unknown SAN type in "${san}" (dns:, ip:, email:, uri:)`);
  }
}

function issuerAndSerial(content: { issuerDer: Uint8Array; serialHex: string }): Uint8Array {
  const hex = content.serialHex.length % 2 ? `0${content.serialHex}` : content.serialHex;
  return new Uint8Array(
    new asn1js.Sequence({
      value: [fromDer(content.issuerDer), new asn1js.Integer({ valueHex: positive(Buffer.from(hex, "hex")) })],
    }).toBER(),
  );
}

function subjectKeyIdentifier(certificate: pkijs.Certificate): Uint8Array {
  const extension = certificate.extensions?.find((candidate) => candidate.extnID === "2.5.29.14");
  if (!extension) throw new Error("the RA certificate has no subjectKeyIdentifier");
  return (asn1js.fromBER(extension.extnValue.valueBlock.valueHexView).result as asn1js.OctetString).valueBlock
    .valueHexView;
}

/** INTEGER content for a positive value: a 0x00 sign octet when the top bit is set. */
function positive(magnitude: Uint8Array): Uint8Array {
  return magnitude[0]! & 0x80 ? Buffer.concat([Buffer.of(0), magnitude]) : magnitude;
}

function fromDer(der: Uint8Array): asn1js.AsnType {
  const parsed = asn1js.fromBER(der);
  if (parsed.offset === -1) throw new Error("not BER");
  return parsed.result;
}
