import { hash } from "node:crypto";
import type { Signer } from "../ca/signer.ts";
import { ChanceryError } from "../errors.ts";
import { type RevocationReason, revocationReasons } from "../revocation/revocation-reason.ts";
import { children, expectTag, readOid, readRoot } from "../x509/der-reader.ts";
import {
  bitString,
  contextConstructed,
  contextPrimitive,
  octetString,
  sequence,
  tags,
  tlv,
  tlvOf,
} from "../x509/der-writer.ts";
import { encodeExtension } from "../x509/extensions.ts";
import { extendedKeyUsageOids } from "../x509/key-usage.ts";
import { encodeOid, oids } from "../x509/oids.ts";
import { type CertificateView, readCertificate } from "../x509/parse-certificate.ts";
import type { CertId } from "./cert-id.ts";
import { generalizedTime } from "./generalized-time.ts";
import { maxOcspNonceOctets, minOcspNonceOctets } from "./ocsp-request.ts";

/** RFC 6960 §4.2.1 CertStatus. */
export type OcspCertStatus =
  | { readonly type: "good" }
  | {
      readonly type: "revoked";
      readonly revocationTime: Date;
      /**
       * CRLReason. "unspecified" (or none) leaves revocationReason out, as
       * RFC 5280 §5.3.1 asks of the CRL entry, so OCSP and the CRL say the
       * same thing (the CA/B BRs require them to agree).
       */
      readonly reason?: RevocationReason | undefined;
    }
  /** Not a certificate of this CA that we know of (RFC 6960 §2.2). */
  | { readonly type: "unknown" };

/** One SingleResponse: the status of one certificate and the window it is valid for. */
export interface OcspSingleResponse {
  /** Echoed as is: the request's CertID (exact client bytes) or one from encodeCertId/certIdFor. */
  readonly certId: Pick<CertId, "der">;
  readonly status: OcspCertStatus;
  /** When the status was known to be correct (RFC 6960 §2.4); the HTTP Last-Modified. */
  readonly thisUpdate: Date;
  /**
   * When newer information will be available; the HTTP Expires and max-age.
   * Optional in RFC 6960, always set here: relying parties and HTTP caches
   * (RFC 9919) need it to know how long a response may be used.
   */
  readonly nextUpdate: Date;
}

export interface OcspResponseInput {
  /** ResponseData.producedAt: when this response was signed. */
  readonly producedAt: Date;
  /** At least one; for a request, one per CertID in the request's order. */
  readonly responses: readonly OcspSingleResponse[];
  /** Echoed in a Nonce response extension (RFC 9654 §2.1), from OcspRequest.nonce. */
  readonly nonce?: Uint8Array | undefined;
}

export interface OcspResponder {
  /** Signs responses: a delegated responder key (RFC 6960 §4.2.2.2), or the CA's own. */
  readonly signer: Signer;
  /**
   * The signer's certificate, sent in BasicOCSPResponse.certs so relying
   * parties can check the delegation (EKU id-kp-OCSPSigning, issued by the CA).
   */
  readonly certificateDer: Uint8Array;
}

/** Signs responses for one responder; everything that does not vary per response is encoded once. */
export interface OcspResponseBuilder {
  /** SHA-1 of the responder's subjectPublicKey: ResponderID byKey (RFC 6960 §4.2.1). */
  readonly responderKeyHash: Uint8Array;
  /** A DER OCSPResponse (successful, id-pkix-ocsp-basic), signed now. */
  build(input: OcspResponseInput): Promise<Uint8Array>;
}

/** DER of `OCSPResponse.responseStatus = successful` (ENUMERATED 0). */
const successful = Uint8Array.of(0x0a, 0x01, 0x00);
/** DER CertStatus good: [0] IMPLICIT NULL. */
const statusGood = Uint8Array.of(contextPrimitive(0), 0x00);
/** DER CertStatus unknown: [2] IMPLICIT UnknownInfo (NULL). */
const statusUnknown = Uint8Array.of(contextPrimitive(2), 0x00);

function invalid(message: string): ChanceryError {
  return new ChanceryError("invalid_argument", message);
}

function checkDate(date: Date, what: string): void {
  if (!(date instanceof Date) || !Number.isFinite(date.getTime())) throw invalid(`${what} is not a valid date`);
}

function encodeCertStatus(status: OcspCertStatus): Uint8Array {
  switch (status.type) {
    case "good":
      return statusGood;
    case "unknown":
      return statusUnknown;
    case "revoked": {
      checkDate(status.revocationTime, "revocationTime");
      const parts = [generalizedTime(status.revocationTime)];
      if (status.reason !== undefined && status.reason !== "unspecified") {
        const code = revocationReasons[status.reason];
        if (code === undefined) throw invalid(`unknown revocation reason ${String(status.reason)}`);
        // revocationReason [0] EXPLICIT CRLReason (ENUMERATED).
        parts.push(tlv(contextConstructed(0), Uint8Array.of(0x0a, 0x01, code)));
      }
      // revoked [1] IMPLICIT RevokedInfo: the SEQUENCE tag becomes [1] constructed.
      return tlvOf(contextConstructed(1), parts);
    }
    default:
      throw invalid(`unknown certificate status ${String((status as { type: unknown }).type)}`);
  }
}

/** RFC 6960 §4.2.1 SingleResponse. */
function encodeSingleResponse(single: OcspSingleResponse): Uint8Array {
  checkDate(single.thisUpdate, "thisUpdate");
  checkDate(single.nextUpdate, "nextUpdate");
  // A window that ends before it starts is a caller bug; relying parties would discard the response.
  if (single.nextUpdate.getTime() < single.thisUpdate.getTime())
    throw invalid("nextUpdate must not be before thisUpdate");
  return sequence([
    single.certId.der,
    encodeCertStatus(single.status),
    generalizedTime(single.thisUpdate),
    tlv(contextConstructed(0), generalizedTime(single.nextUpdate)),
  ]);
}

/** The Nonce response extension: extnValue is the DER OCTET STRING of the nonce (RFC 9654 §2.1). */
function nonceExtension(nonce: Uint8Array): Uint8Array {
  if (nonce.length < minOcspNonceOctets || nonce.length > maxOcspNonceOctets)
    throw invalid(`a nonce has ${minOcspNonceOctets} to ${maxOcspNonceOctets} octets`);
  return encodeExtension({ oid: oids.ocspNonce, critical: false, value: octetString(nonce) });
}

function hasOcspSigning(certificate: CertificateView): boolean {
  const eku = certificate.extensions.find((e) => e.oid === oids.extKeyUsage);
  if (!eku) return false;
  const list = readRoot(eku.value);
  return children(eku.value, expectTag(list, tags.sequence, "ExtKeyUsageSyntax")).some(
    (node) => readOid(eku.value, node) === extendedKeyUsageOids.OCSPSigning,
  );
}

/**
 * Prepares a responder: checks that the signer holds the certificate's key
 * and that relying parties will accept this certificate as a responder
 * (a CA answering for itself, or a certificate with id-kp-OCSPSigning,
 * RFC 6960 §4.2.2.2), then pre-encodes the ResponderID, the signature
 * AlgorithmIdentifier and the certs field. Each build() then encodes only
 * the ResponseData and signs it: one signature and a few hundred octets of
 * DER, so responses are cheap to re-sign on a schedule.
 */
export function createOcspResponseBuilder(responder: OcspResponder): OcspResponseBuilder {
  const { signer } = responder;
  const certificate = readCertificate(responder.certificateDer);
  if (!Buffer.from(certificate.publicKey.der).equals(Buffer.from(signer.publicKeySpki)))
    throw invalid("the OCSP responder signer does not hold the responder certificate's key");
  if (!certificate.basicConstraints?.ca && !hasOcspSigning(certificate))
    throw new ChanceryError(
      "failed_precondition",
      "the OCSP responder certificate is neither a CA nor has extendedKeyUsage id-kp-OCSPSigning (RFC 6960 §4.2.2.2)",
    );
  // RFC 6960 §4.2.1 KeyHash: SHA-1 of the subjectPublicKey BIT STRING value; SHA-1 by definition here.
  const responderKeyHash = new Uint8Array(hash("sha1", certificate.publicKey.subjectPublicKey, "buffer"));
  // ResponderID ::= CHOICE { byName [1] Name, byKey [2] KeyHash }, EXPLICIT tags (Appendix B.1).
  // byKey: 22 octets instead of a whole Name, on every response.
  const responderId = tlv(contextConstructed(2), octetString(responderKeyHash));
  const signatureAlgorithm = new Uint8Array(signer.signatureAlgorithmDer);
  // certs [0] EXPLICIT SEQUENCE OF Certificate.
  const certs = tlv(contextConstructed(0), sequence([new Uint8Array(responder.certificateDer)]));
  const basicOid = encodeOid(oids.ocspBasic);

  return {
    responderKeyHash: new Uint8Array(responderKeyHash),
    async build(input: OcspResponseInput): Promise<Uint8Array> {
      checkDate(input.producedAt, "producedAt");
      if (input.responses.length === 0) throw invalid("an OCSP response needs at least one SingleResponse");
      // version [0] EXPLICIT DEFAULT v1 is omitted (X.690 §11.5: DER leaves out DEFAULT values).
      const parts = [
        responderId,
        generalizedTime(input.producedAt),
        sequence(input.responses.map(encodeSingleResponse)),
      ];
      // responseExtensions [1] EXPLICIT Extensions.
      if (input.nonce !== undefined) parts.push(tlv(contextConstructed(1), sequence([nonceExtension(input.nonce)])));
      const tbsResponseData = sequence(parts);
      const signature = await signer.sign(tbsResponseData);
      const basic = sequence([tbsResponseData, signatureAlgorithm, bitString(signature), certs]);
      // OCSPResponse { successful, responseBytes [0] EXPLICIT { id-pkix-ocsp-basic, OCTET STRING } }.
      const responseBytes = tlv(contextConstructed(0), sequence([basicOid, octetString(basic)]));
      // A plain, standalone Uint8Array: the writer's pieces may share a Buffer slab, a cached response must not.
      return new Uint8Array(sequence([successful, responseBytes]));
    },
  };
}

/** One-shot form of createOcspResponseBuilder(...).build(...), for callers signing a single response. */
export function buildOcspResponse(
  options: { readonly responderSigner: Signer; readonly responderCertDer: Uint8Array } & OcspResponseInput,
): Promise<Uint8Array> {
  return createOcspResponseBuilder({ signer: options.responderSigner, certificateDer: options.responderCertDer }).build(
    options,
  );
}
