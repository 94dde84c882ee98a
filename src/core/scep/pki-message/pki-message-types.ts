import type { KeyObject } from "node:crypto";
import type { CertificateView } from "../../x509/parse-certificate.ts";
import type { FailInfo, PkiStatus, ScepMessageType } from "../scep-types.ts";

/** Content-encryption algorithms of an envelope (RFC 8894 §3.5.2 AES mandatory; the rest legacy). */
export type ContentCipher = "aes-128-cbc" | "aes-192-cbc" | "aes-256-cbc" | "des-ede3-cbc" | "des-cbc";
/** Key transport of a KeyTransRecipientInfo. */
export type KeyTransport = "rsa-pkcs1" | "rsa-oaep-sha1" | "rsa-oaep-sha256";
export type MessageDigest = "sha1" | "sha256" | "sha512";

/**
 * A refusal while reading a pkiMessage. `failInfo` is set when the message
 * could be identified (transactionID, senderNonce, signer certificate read)
 * and a FAILURE CertRep can answer it; otherwise the front end answers HTTP
 * 400 with `message`.
 */
export class ScepMessageError extends Error {
  readonly failInfo: FailInfo | null;
  /** What identifies the message, when it was read far enough: a FAILURE CertRep needs it to answer. */
  readonly identified: IdentifiedMessage | null;
  constructor(failInfo: FailInfo | null, message: string, identified?: IdentifiedMessage) {
    super(message);
    this.name = "ScepMessageError";
    this.failInfo = failInfo;
    this.identified = identified ?? null;
  }
}

/** The signed attributes a reply echoes (RFC 8894 §3.3.2: transactionID, senderNonce as recipientNonce). */
export interface IdentifiedMessage {
  readonly messageType: ScepMessageType;
  readonly transactionId: string;
  readonly senderNonce: Buffer;
  readonly digest: MessageDigest;
}

/** The outer SignedData of a request, read but not yet decrypted (RFC 8894 §3.2). */
export interface ParsedPkiMessage {
  readonly messageType: ScepMessageType;
  /** PrintableString transactionID (§3.2.1.1). */
  readonly transactionId: string;
  /** senderNonce, 16 octets from conforming clients (§3.2.1.5). */
  readonly senderNonce: Buffer;
  /** The signer's certificate (self-signed for a first PKCSReq, our certificate for RenewalReq). */
  readonly signerCertificateDer: Buffer;
  /** The same certificate, read (its serial, subject and public key), so callers need not parse it again. */
  readonly signerCertificate: CertificateView;
  readonly digest: MessageDigest;
  /** signingTime signed attribute when present. */
  readonly signingTime: Date | null;
  /** The encapsulated pkcsPKIEnvelope: DER (or BER) EnvelopedData ContentInfo. */
  readonly envelope: Buffer;
}

/** An RA credential able to open envelopes addressed to it. */
export interface EnvelopeRecipient {
  readonly certificateDer: Uint8Array;
  readonly privateKey: KeyObject;
}

export interface OpenedEnvelope {
  readonly content: Buffer;
  readonly cipher: ContentCipher;
  readonly keyTransport: KeyTransport;
}

/** RFC 8894 §3.3.2-3.3.4: what the decrypted pkcsPKIEnvelope carries per message type. */
export type MessageContent =
  | { readonly kind: "csr"; readonly csrDer: Buffer }
  /** CertPoll (GetCertInitial): IssuerAndSubject. */
  | { readonly kind: "issuer-and-subject"; readonly issuerDer: Buffer; readonly subjectDer: Buffer }
  /** GetCert, GetCRL: IssuerAndSerialNumber. */
  | { readonly kind: "issuer-and-serial"; readonly issuerDer: Buffer; readonly serialHex: string };

/** A CertRep to build (RFC 8894 §3.3.2). */
export interface CertRepInput {
  readonly transactionId: string;
  /** The request's senderNonce, echoed as recipientNonce. */
  readonly recipientNonce: Buffer;
  readonly pkiStatus: PkiStatus;
  /** Required when pkiStatus is FAILURE. */
  readonly failInfo?: FailInfo | undefined;
  /** SUCCESS: certificates (issued certificate first) and/or CRLs for the degenerate certs-only PKCS#7. */
  readonly certificatesDer?: readonly Uint8Array[] | undefined;
  readonly crlsDer?: readonly Uint8Array[] | undefined;
  /** SUCCESS: the requester's signer certificate, whose public key the reply is encrypted to. */
  readonly recipientCertificateDer?: Uint8Array | undefined;
  readonly cipher: ContentCipher;
  readonly digest: MessageDigest;
  /** The RA signs the reply. */
  readonly signer: EnvelopeRecipient;
}
