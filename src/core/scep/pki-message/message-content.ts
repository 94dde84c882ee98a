import { expectChildren, expectTag, raw, readIntegerContent, readRoot } from "../../x509/der-reader.ts";
import { tags } from "../../x509/der-writer.ts";
import { serialHexFromContent } from "../../x509/serial-number.ts";
import { failInfos, type ScepMessageType, scepMessageTypes } from "../scep-types.ts";
import { guarded, refused } from "./message-errors.ts";
import type { MessageContent } from "./pki-message-types.ts";

/**
 * What a decrypted pkcsPKIEnvelope carries (RFC 8894 §3.3):
 * - PKCSReq, RenewalReq: a PKCS#10 request (§3.3.1), only checked to be a
 *   DER SEQUENCE here; the caller parses and verifies it with parseCsr;
 * - CertPoll: IssuerAndSubject (§3.3.3);
 * - GetCert, GetCRL: IssuerAndSerialNumber (§3.3.4, §3.3.5), the serial in
 *   lower-case hex as serials are everywhere in the code base.
 *
 * The content is DER, read strictly: names are compared byte for byte.
 * Malformed content is ScepMessageError badRequest.
 */
export function readMessageContent(messageType: ScepMessageType, content: Buffer): MessageContent {
  return guarded(failInfos.badRequest, "malformed message content", (): MessageContent => {
    switch (messageType) {
      case scepMessageTypes.pkcsReq:
      case scepMessageTypes.renewalReq: {
        expectTag(readRoot(content), tags.sequence, "CertificationRequest");
        return { kind: "csr", csrDer: content };
      }
      case scepMessageTypes.certPoll: {
        // IssuerAndSubject ::= SEQUENCE { issuer Name, subject Name }
        const [issuer, subject] = expectChildren(content, readRoot(content), tags.sequence, "IssuerAndSubject", 2);
        return {
          kind: "issuer-and-subject",
          issuerDer: Buffer.from(raw(content, expectTag(issuer, tags.sequence, "issuer"))),
          subjectDer: Buffer.from(raw(content, expectTag(subject, tags.sequence, "subject"))),
        };
      }
      case scepMessageTypes.getCert:
      case scepMessageTypes.getCrl: {
        // IssuerAndSerialNumber ::= SEQUENCE { issuer Name, serialNumber CertificateSerialNumber }
        const [issuer, serial] = expectChildren(content, readRoot(content), tags.sequence, "IssuerAndSerialNumber", 2);
        return {
          kind: "issuer-and-serial",
          issuerDer: Buffer.from(raw(content, expectTag(issuer, tags.sequence, "issuer"))),
          serialHex: serialHexFromContent(readIntegerContent(content, serial!)),
        };
      }
      default:
        throw refused(failInfos.badRequest, `message type ${messageType} carries no request content`);
    }
  });
}
