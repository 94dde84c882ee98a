import {
  children,
  content,
  type DerNode,
  expectChildren,
  expectTag,
  readRoot,
  readSmallInteger,
} from "../x509/der-reader.ts";
import { contextConstructed, tags } from "../x509/der-writer.ts";
import type { Extension } from "../x509/extensions.ts";
import { oids } from "../x509/oids.ts";
import { readExtension } from "../x509/parse-certificate.ts";
import { type CertId, readCertId } from "./cert-id.ts";
import { type OcspParseResult, ocspRequestProblem, parseSafely, refusal } from "./ocsp-request-problem.ts";

/**
 * Largest OCSPRequest we read, in DER octets. An RFC 9919 request (one
 * SHA-256 CertID, a 32-octet nonce) is about 130 octets; the most we accept
 * otherwise (16 CertIDs, a 128-octet nonce) stays under 3 KiB. What is left
 * is room for the rare signed request carrying its signer's certificates
 * (RFC 6960 §4.1.1 optionalSignature). The front end should stop reading a
 * body at this size plus one and refuse it.
 */
export const maxOcspRequestBytes = 16 * 1024;

/**
 * Most CertIDs in one request. RFC 9919 clients send exactly one; openssl
 * sends one per -cert. A request for several cannot be served from the
 * pre-signed cache (each answer is signed for one certificate), so each
 * costs a fresh signature: the bound keeps that work small.
 */
export const maxOcspRequestCertIds = 16;

/** RFC 9654 §2.1: Nonce ::= OCTET STRING (SIZE(1..128)); any other length is malformedRequest. */
export const minOcspNonceOctets = 1;
export const maxOcspNonceOctets = 128;

/** A parsed OCSPRequest (RFC 6960 §4.1.1): what the responder must answer. */
export interface OcspRequest {
  /** One per Request in requestList, in order: 1..maxOcspRequestCertIds. */
  readonly certIds: readonly CertId[];
  /**
   * The Nonce octets (the value inside the extension's OCTET STRING), to echo
   * in a freshly signed response; undefined when the request has none and a
   * pre-signed response will do.
   */
  readonly nonce: Uint8Array | undefined;
  /**
   * True when the request carried optionalSignature. It is not verified: we
   * answer anyone (status is public), RFC 9919 clients do not sign, and
   * RFC 6960 §4.1.2 leaves requiring signatures to the responder.
   */
  readonly signed: boolean;
}

export type OcspRequestParseResult = OcspParseResult<OcspRequest>;

/**
 * Parses a DER OCSPRequest (RFC 6960 §4.1.1, RFC 9919 profile, RFC 9654
 * nonce). Never throws: any problem is returned as `{ ok: false, problem,
 * error }` (a ChanceryError invalid_argument), which the front end answers
 * with malformedRequest. Whether the CertIDs' issuer is one of ours is for
 * the caller to decide (unauthorized otherwise, RFC 6960 §2.3).
 */
export function parseOcspRequest(der: Uint8Array): OcspRequestParseResult {
  if (der.length === 0) return refusal("empty", "the request is empty");
  if (der.length > maxOcspRequestBytes)
    return refusal("too_large", `the request is larger than ${maxOcspRequestBytes} octets`);
  return parseSafely(() => readOcspRequest(der));
}

function readOcspRequest(der: Uint8Array): OcspRequest {
  // readRoot refuses trailing bytes, so the request is exactly one DER element.
  const top = expectChildren(der, readRoot(der), tags.sequence, "OCSPRequest", 1, 2);
  const signature = top[1];
  if (signature !== undefined) expectTag(signature, contextConstructed(0), "optionalSignature");

  const fields = expectChildren(der, top[0]!, tags.sequence, "TBSRequest", 1, 4);
  let i = 0;
  // version [0] EXPLICIT Version DEFAULT v1. DER omits a DEFAULT value, but some
  // encoders write v1 anyway: accepted, since it means the same request.
  if (fields[i]?.tag === contextConstructed(0)) {
    const [version] = expectChildren(der, fields[i]!, contextConstructed(0), "version", 1);
    if (readSmallInteger(der, version!) !== 0)
      throw ocspRequestProblem("unsupported_version", "only OCSP v1 requests exist (RFC 6960 §4.1.1)");
    i++;
  }
  // requestorName [1] EXPLICIT GeneralName OPTIONAL: only meaningful for signed requests; ignored.
  if (fields[i]?.tag === contextConstructed(1)) i++;
  const requestList = expectTag(fields[i++], tags.sequence, "requestList");
  let extensionsNode: DerNode | undefined;
  if (fields[i]?.tag === contextConstructed(2)) extensionsNode = fields[i++];
  if (i !== fields.length) throw ocspRequestProblem("malformed", "unexpected field in TBSRequest");

  const requests = children(der, requestList);
  if (requests.length === 0) throw ocspRequestProblem("no_cert_ids", "requestList is empty");
  if (requests.length > maxOcspRequestCertIds)
    throw ocspRequestProblem(
      "too_many_cert_ids",
      `requestList has ${requests.length} entries, at most ${maxOcspRequestCertIds} are answered`,
    );
  const certIds = requests.map((request) => {
    const parts = expectChildren(der, request, tags.sequence, "Request", 1, 2);
    // singleRequestExtensions [0] EXPLICIT Extensions OPTIONAL (e.g. the service locator, §4.4.6):
    // none changes our answer, but a critical one we do not know must not be ignored.
    if (parts[1] !== undefined) readExtensions(der, parts[1], contextConstructed(0), new Set());
    return readCertId(der, parts[0]!);
  });

  let nonce: Uint8Array | undefined;
  if (extensionsNode !== undefined) {
    const extensions = readExtensions(der, extensionsNode, contextConstructed(2), understoodRequestExtensions);
    const nonceExtension = extensions.find((e) => e.oid === oids.ocspNonce);
    if (nonceExtension) nonce = readNonce(nonceExtension.value);
  }
  return { certIds, nonce, signed: signature !== undefined };
}

/**
 * Request extensions whose meaning we implement, so they may be critical.
 * The others RFC 6960 §4.4 defines for requests (acceptable response types,
 * preferred signature algorithms) only express preferences our single
 * answer (a basic response signed with the responder's one key) cannot
 * follow, and are ignored when non-critical.
 */
const understoodRequestExtensions: ReadonlySet<string> = new Set([oids.ocspNonce]);

/**
 * [n] EXPLICIT Extensions. RFC 6960 §4.4 follows RFC 5280 §4.2: an extension
 * appears at most once, and a critical one that is not understood means the
 * request cannot be processed as asked.
 */
function readExtensions(buf: Uint8Array, node: DerNode, tag: number, understood: ReadonlySet<string>): Extension[] {
  const [list] = expectChildren(buf, node, tag, "Extensions wrapper", 1);
  const nodes = expectChildren(buf, list!, tags.sequence, "Extensions", 1, Number.MAX_SAFE_INTEGER);
  const seen = new Set<string>();
  return nodes.map((n) => {
    const extension = readExtension(buf, n);
    if (seen.has(extension.oid))
      throw ocspRequestProblem("duplicate_extension", `extension ${extension.oid} appears twice`);
    seen.add(extension.oid);
    if (extension.critical && !understood.has(extension.oid))
      throw ocspRequestProblem(
        "unsupported_critical_extension",
        `critical extension ${extension.oid} is not supported`,
      );
    return extension;
  });
}

/**
 * RFC 9654 §2.1: extnValue holds the DER of Nonce ::= OCTET STRING
 * (SIZE(1..128)); a responder MUST refuse other lengths with
 * malformedRequest. The older form with the nonce octets directly in
 * extnValue (RFC 2560 clients) does not parse as one OCTET STRING and is
 * refused the same way rather than guessed at.
 */
function readNonce(extnValue: Uint8Array): Uint8Array {
  let nonce: Uint8Array;
  try {
    nonce = content(extnValue, expectTag(readRoot(extnValue), tags.octetString, "Nonce"));
  } catch (cause) {
    throw ocspRequestProblem("bad_nonce", "the nonce is not a DER OCTET STRING (RFC 9654 §2.1)", cause);
  }
  if (nonce.length < minOcspNonceOctets || nonce.length > maxOcspNonceOctets)
    throw ocspRequestProblem(
      "bad_nonce",
      `the nonce has ${nonce.length} octets; RFC 9654 allows ${minOcspNonceOctets} to ${maxOcspNonceOctets}`,
    );
  return nonce.slice();
}
