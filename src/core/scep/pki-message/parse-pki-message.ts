import { createHash, timingSafeEqual } from "node:crypto";
import { readOid, readString, readTime } from "../../x509/der-reader.ts";
import { contextPrimitive, isPrintableString, tags } from "../../x509/der-writer.ts";
import { type CertificateView, readCertificate } from "../../x509/parse-certificate.ts";
import { serialHexFromContent } from "../../x509/serial-number.ts";
import { failInfos, type ScepMessageType, scepMessageTypes } from "../scep-types.ts";
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
import { type AlgorithmIdentifierNode, digestOfOid, readAlgorithmIdentifier } from "./cms-algorithms.ts";
import { cmsOids } from "./cms-oids.ts";
import { guarded, refused, unidentified } from "./message-errors.ts";
import { type IdentifiedMessage, type ParsedPkiMessage, ScepMessageError } from "./pki-message-types.ts";
import { readSignedAttributes, type SignedAttributes, singleValue } from "./signed-attributes.ts";
import { readSignerAlgorithm, verifySignerSignature } from "./signer-signature.ts";

/** Largest pkiMessage we read: real ones are 2-10 KiB; this bounds the work hostile input can cause. */
export const maxPkiMessageBytes = 256 * 1024;
/** RFC 8894 §3.2.1.1 does not bound transactionID; real ones are hashes or GUIDs, well under this. */
const maxTransactionIdLength = 255;
/** RFC 8894 §3.2.1.5 nonces are 16 octets; we accept 1 to 64 so odd clients still work. */
const maxNonceLength = 64;

/** Request message types a server accepts (RFC 8894 §3.2.1.2); CertRep (3) is the server's own. */
const requestTypes: ReadonlySet<number> = new Set([
  scepMessageTypes.pkcsReq,
  scepMessageTypes.renewalReq,
  scepMessageTypes.certPoll,
  scepMessageTypes.getCert,
  scepMessageTypes.getCrl,
]);

/** The outer SignedData as read, before anything is checked. */
interface SignedDataFrame {
  readonly reader: BerReader;
  readonly eContentType: string;
  /** The eContent OCTET STRING, absent for a detached signature. */
  readonly eContent: BerNode | undefined;
  readonly certificates: readonly BerNode[];
  readonly sid: BerNode;
  readonly digestAlgorithm: AlgorithmIdentifierNode;
  readonly signatureAlgorithmNode: BerNode;
  readonly signatureAlgorithm: AlgorithmIdentifierNode;
  readonly signature: Uint8Array;
  readonly attributes: SignedAttributes;
}

/**
 * Reads and verifies a SCEP pkiMessage (RFC 8894 §3.2): a CMS SignedData
 * (RFC 5652 §5), DER or BER, with one SignerInfo whose signed attributes
 * carry messageType, transactionID and senderNonce, and whose encapsulated
 * content is the pkcsPKIEnvelope (left encrypted; see openEnvelope).
 *
 * Throws only ScepMessageError: failInfo null while the message cannot be
 * identified (the front end answers HTTP 400), then badAlg for a digest or
 * signature algorithm we do not implement and badMessageCheck for a
 * messageDigest or signature that does not verify. SHA-1 is verified and
 * reported as digest "sha1": refusing it is the endpoint's policy call.
 */
export function parsePkiMessage(der: Uint8Array): ParsedPkiMessage {
  if (der.length > maxPkiMessageBytes) throw unidentified(`pkiMessage larger than ${maxPkiMessageBytes} octets`);
  const frame = guarded(null, "not a CMS SignedData pkiMessage", () => readSignedDataFrame(der));
  const identity = guarded(null, "unreadable SCEP attributes", () => identify(frame));
  const { reader, attributes } = frame;
  const digest = digestOfOid(frame.digestAlgorithm.oid);
  const identified: IdentifiedMessage = {
    messageType: identity.messageType,
    transactionId: identity.transactionId,
    senderNonce: identity.senderNonce,
    digest: digest ?? "sha256",
  };
  try {
    return guarded(failInfos.badRequest, "malformed pkiMessage", (): ParsedPkiMessage => {
      if (digest === undefined)
        throw refused(failInfos.badAlg, `unsupported digest algorithm ${frame.digestAlgorithm.oid}`);
      const signerAlgorithm = readSignerAlgorithm(
        reader,
        frame.signatureAlgorithm,
        frame.signatureAlgorithmNode,
        digest,
      );
      // RFC 8894 §3.2: every request carries its pkcsPKIEnvelope as id-data content.
      if (frame.eContent === undefined)
        throw refused(failInfos.badRequest, "the pkiMessage has no encapsulated content");
      if (frame.eContentType !== cmsOids.data)
        throw refused(failInfos.badRequest, `encapsulated content type ${frame.eContentType} is not id-data`);
      const content = reader.octets(frame.eContent);

      // RFC 5652 §5.3: contentType must name the eContentType; §11.2 messageDigest its digest.
      const contentType = singleValue(attributes, cmsOids.contentType);
      if (contentType !== undefined && readOid(reader.buf, contentType) !== frame.eContentType)
        throw refused(failInfos.badMessageCheck, "the contentType attribute does not match the content");
      const messageDigest = singleValue(attributes, cmsOids.messageDigest);
      if (messageDigest === undefined || messageDigest.tag !== tags.octetString)
        throw refused(failInfos.badMessageCheck, "the messageDigest attribute is missing");
      const expected = createHash(digest).update(content).digest();
      const claimed = reader.buf.subarray(messageDigest.contentStart, messageDigest.end);
      if (claimed.length !== expected.length || !timingSafeEqual(claimed, expected))
        throw refused(failInfos.badMessageCheck, "the messageDigest does not match the content");
      if (!verifySignerSignature(signerAlgorithm, identity.signer.publicKey.der, attributes.signedDer, frame.signature))
        throw refused(failInfos.badMessageCheck, "the signature does not verify with the signer certificate");

      return {
        ...identified,
        digest,
        signerCertificateDer: Buffer.from(identity.signer.der),
        signerCertificate: identity.signer,
        signingTime: readSigningTime(reader, attributes),
        envelope: Buffer.from(content),
      };
    });
  } catch (cause) {
    // Identified: the refusal carries what a FAILURE CertRep needs to answer it.
    if (cause instanceof ScepMessageError && cause.failInfo !== null)
      throw new ScepMessageError(cause.failInfo, cause.message, identified);
    throw cause;
  }
}

function readSignedDataFrame(der: Uint8Array): SignedDataFrame {
  const reader = createBerReader(der);
  const [contentType, explicit] = expectBer(reader, reader.root(), tags.sequence, "ContentInfo", 2, 2);
  if (readOid(der, contentType!) !== cmsOids.signedData) throw new BerError("content type is not signedData");
  const [signedData] = expectBer(reader, explicit, 0xa0, "ContentInfo content", 1, 1);
  // SignedData ::= SEQUENCE { version, digestAlgorithms, encapContentInfo,
  //   certificates [0] IMPLICIT OPTIONAL, crls [1] IMPLICIT OPTIONAL, signerInfos }
  const fields = expectBer(reader, signedData, tags.sequence, "SignedData", 4, 6);
  expectBerTag(fields[0], tags.integer, "SignedData version");
  expectBerTag(fields[1], tags.set, "digestAlgorithms");
  const [eContentTypeNode, eContentExplicit] = expectBer(reader, fields[2], tags.sequence, "encapContentInfo", 1, 2);
  const eContentType = readOid(der, eContentTypeNode!);
  let eContent: BerNode | undefined;
  if (eContentExplicit !== undefined) {
    [eContent] = expectBer(reader, eContentExplicit, 0xa0, "eContent", 1, 1);
    if (!isOctetString(eContent!)) throw new BerError("eContent is not an OCTET STRING");
  }
  let certificates: BerNode[] = [];
  for (const field of fields.slice(3, -1)) {
    if (field.tag === 0xa0) certificates = reader.children(field);
    else if (field.tag !== 0xa1) throw new BerError(`unexpected SignedData field 0x${field.tag.toString(16)}`);
  }
  const signerInfos = expectBer(reader, fields[fields.length - 1], tags.set, "signerInfos");
  // RFC 8894 §3.2: the requester signs; one signer, no countersigners.
  if (signerInfos.length !== 1) throw new BerError(`expected exactly one SignerInfo, found ${signerInfos.length}`);
  // SignerInfo ::= SEQUENCE { version, sid, digestAlgorithm, signedAttrs [0] IMPLICIT OPTIONAL,
  //   signatureAlgorithm, signature, unsignedAttrs [1] IMPLICIT OPTIONAL }
  const parts = expectBer(reader, signerInfos[0], tags.sequence, "SignerInfo", 5, 7);
  expectBerTag(parts[0], tags.integer, "SignerInfo version");
  const signedAttrs = parts[3];
  // RFC 8894 §3.2.1: the SCEP attributes are signed attributes, so they must be present.
  if (signedAttrs === undefined || signedAttrs.tag !== 0xa0)
    throw new BerError("the SignerInfo has no signed attributes");
  const signatureNode = expectBerTag(parts[5], tags.octetString, "signature");
  return {
    reader,
    eContentType,
    eContent,
    certificates,
    sid: parts[1]!,
    digestAlgorithm: readAlgorithmIdentifier(reader, parts[2], "digestAlgorithm"),
    signatureAlgorithmNode: parts[4]!,
    signatureAlgorithm: readAlgorithmIdentifier(reader, parts[4], "signatureAlgorithm"),
    signature: reader.octets(signatureNode),
    attributes: readSignedAttributes(reader, signedAttrs),
  };
}

interface Identity {
  readonly messageType: ScepMessageType;
  readonly transactionId: string;
  readonly senderNonce: Buffer;
  readonly signer: CertificateView;
}

/** What makes a message answerable with a CertRep: its type, transactionID, senderNonce and signer. */
function identify(frame: SignedDataFrame): Identity {
  const { reader, attributes } = frame;
  const messageTypeNode = singleValue(attributes, cmsOids.messageType);
  if (messageTypeNode === undefined) throw unidentified("the messageType attribute is missing");
  // RFC 8894 §3.2.1.2: messageType is a PrintableString holding a decimal number.
  const messageTypeText = readText(reader.buf, messageTypeNode);
  const messageType = /^[0-9]{1,3}$/.test(messageTypeText) ? Number(messageTypeText) : Number.NaN;
  if (!requestTypes.has(messageType)) throw unidentified(`unknown message type "${messageTypeText.slice(0, 16)}"`);

  const transactionIdNode = singleValue(attributes, cmsOids.transactionId);
  if (transactionIdNode === undefined) throw unidentified("the transactionID attribute is missing");
  const transactionId = readText(reader.buf, transactionIdNode);
  // RFC 8894 §3.2.1.1: a PrintableString; we echo it as one, so other characters cannot be answered.
  if (transactionId.length === 0 || transactionId.length > maxTransactionIdLength || !isPrintableString(transactionId))
    throw unidentified("the transactionID is not a PrintableString of 1-255 characters");

  const nonceNode = singleValue(attributes, cmsOids.senderNonce);
  if (nonceNode === undefined || nonceNode.tag !== tags.octetString)
    throw unidentified("the senderNonce attribute is missing");
  const senderNonce = Buffer.from(reader.buf.subarray(nonceNode.contentStart, nonceNode.end));
  if (senderNonce.length === 0 || senderNonce.length > maxNonceLength)
    throw unidentified(`the senderNonce must be 1-${maxNonceLength} octets`);

  const signer = findSignerCertificate(reader, frame.certificates, frame.sid);
  if (signer === undefined) throw unidentified("the signer certificate is not in the message");
  return { messageType: messageType as ScepMessageType, transactionId, senderNonce, signer };
}

/** A universal, primitive string value (PrintableString per RFC 8894; IA5String and UTF8String are tolerated). */
function readText(buf: Uint8Array, node: BerNode): string {
  if ((node.tag & 0xe0) !== 0) throw new BerError("expected a primitive string");
  return readString(buf, node);
}

/** The certificate the SignerIdentifier names (RFC 5652 §5.3): issuerAndSerialNumber or [0] subjectKeyIdentifier. */
function findSignerCertificate(
  reader: BerReader,
  certificates: readonly BerNode[],
  sid: BerNode,
): CertificateView | undefined {
  const buf = reader.buf;
  let matches: (certificate: CertificateView) => boolean;
  if (sid.tag === tags.sequence) {
    const [issuer, serial] = expectBer(reader, sid, tags.sequence, "IssuerAndSerialNumber", 2, 2);
    const issuerDer = berRaw(buf, expectBerTag(issuer, tags.sequence, "issuer"));
    // Compared as values (leading zero octets dropped), like serials everywhere in the code base.
    const serialHex = serialHexFromContent(
      buf.subarray(serial!.contentStart, expectBerTag(serial, tags.integer, "serial").end),
    );
    matches = (certificate) =>
      certificate.serialHex === serialHex && Buffer.compare(certificate.issuer.der, issuerDer) === 0;
  } else if (sid.tag === contextPrimitive(0)) {
    const keyId = buf.subarray(sid.contentStart, sid.end);
    matches = (certificate) =>
      certificate.subjectKeyIdentifier !== undefined && Buffer.compare(certificate.subjectKeyIdentifier, keyId) === 0;
  } else {
    throw new BerError("unknown SignerIdentifier");
  }
  for (const node of certificates) {
    // CertificateChoices: only plain certificates (a SEQUENCE); certificates are DER, whatever wraps them.
    if (node.tag !== tags.sequence || node.indefinite) continue;
    let certificate: CertificateView;
    try {
      certificate = readCertificate(berRaw(buf, node));
    } catch {
      continue;
    }
    if (matches(certificate)) return certificate;
  }
  return undefined;
}

/**
 * The optional signingTime (RFC 5652 §11.3). It only informs (a caller may
 * answer badTime), so one outside the RFC 5280 time profile we read
 * (fractions, no seconds) is treated as absent rather than refusing the request.
 */
function readSigningTime(reader: BerReader, attributes: SignedAttributes): Date | null {
  const node = singleValue(attributes, cmsOids.signingTime);
  if (node === undefined) return null;
  try {
    return readTime(reader.buf, node);
  } catch {
    return null;
  }
}
