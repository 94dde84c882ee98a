import { randomBytes } from "node:crypto";
import { ChanceryError } from "../../errors.ts";
import { buildCertsOnlyPkcs7 } from "../../x509/certs-only-pkcs7.ts";
import { octetString, printableString } from "../../x509/der-writer.ts";
import { pkiStatuses, scepMessageTypes } from "../scep-types.ts";
import { cmsOids } from "./cms-oids.ts";
import type { CertRepInput } from "./pki-message-types.ts";
import { buildRaSignedData } from "./ra-signed-data.ts";
import { sealEnvelope } from "./seal-envelope.ts";
import { encodeAttribute } from "./signed-attributes.ts";

const certRepType = encodeAttribute(cmsOids.messageType, printableString(String(scepMessageTypes.certRep)));
/** RFC 8894 §3.2.1.5: senderNonce is 16 random octets. */
const nonceLength = 16;

/**
 * A CertRep (RFC 8894 §3.3.2) signed by the RA, DER:
 *
 * - the encapsulated id-data content is, for SUCCESS, the pkcsPKIEnvelope:
 *   an EnvelopedData to the requester's certificate (RSA PKCS#1 v1.5 key
 *   transport, `cipher`) holding a degenerate certs-only SignedData of the
 *   certificates and CRLs. PENDING and FAILURE carry no envelope (RFC 8894
 *   §3.3.2); the content is then an empty OCTET STRING, as micromdm/scep
 *   sends: clients read it, and OpenSSL verifies it without the detached
 *   content argument an absent eContent would need;
 * - the signed attributes are contentType, signingTime, messageDigest,
 *   messageType "3", transactionID, pkiStatus, failInfo (FAILURE only),
 *   senderNonce (16 fresh octets) and recipientNonce (the request's
 *   senderNonce, §3.2.1.5), signed with RSA PKCS#1 v1.5 and `digest`;
 * - the RA certificate is in `certificates`.
 *
 * Throws ChanceryError invalid_argument for inconsistent input (FAILURE
 * without failInfo, SUCCESS without the requester's certificate) and
 * ScepMessageError badAlg when the requester's key is not RSA.
 */
export function buildCertRep(input: CertRepInput, now: Date = new Date()): Buffer {
  let content: Uint8Array = new Uint8Array(0);
  const attributes: Uint8Array[] = [
    certRepType,
    encodeAttribute(cmsOids.transactionId, printableString(input.transactionId)),
    encodeAttribute(cmsOids.pkiStatus, printableString(String(input.pkiStatus))),
    encodeAttribute(cmsOids.senderNonce, octetString(randomBytes(nonceLength))),
    encodeAttribute(cmsOids.recipientNonce, octetString(input.recipientNonce)),
  ];
  if (input.pkiStatus === pkiStatuses.success) {
    if (input.recipientCertificateDer === undefined)
      throw new ChanceryError("invalid_argument", "a SUCCESS CertRep needs the requester's certificate");
    const certsOnly = buildCertsOnlyPkcs7(input.certificatesDer ?? [], input.crlsDer ?? []);
    content = sealEnvelope(certsOnly, input.recipientCertificateDer, input.cipher);
  } else if (input.pkiStatus === pkiStatuses.failure) {
    if (input.failInfo === undefined) throw new ChanceryError("invalid_argument", "a FAILURE CertRep needs a failInfo");
    attributes.push(encodeAttribute(cmsOids.failInfo, printableString(String(input.failInfo))));
  }
  return buildRaSignedData(content, attributes, input.signer, input.digest, now);
}
