import { createHash } from "node:crypto";
import { children, content, readOid, readRoot } from "../x509/der-reader.ts";
import { contextConstructed, tags } from "../x509/der-writer.ts";
import { readCertificate } from "../x509/parse-certificate.ts";
import { readSubjectPublicKeyInfo } from "../x509/subject-public-key-info.ts";
import type { KeyPackageRecipient } from "./server-key-package.ts";

/** RFC 7030 §4.4.1.1 (RFC 4108 §2.2.5) id-aa-decryptKeyID and §4.4.1.2 id-aa-asymmDecryptKeyID. */
const decryptKeyIdOid = "1.2.840.113549.1.9.16.2.37";
const asymmetricDecryptKeyIdOid = "1.2.840.113549.1.9.16.2.54";

/** How a serverkeygen client asks for its key (RFC 7030 §4.4.1): in the clear (over TLS), or encrypted to a key. */
export interface KeyDeliveryRequest {
  /** DecryptKeyIdentifier: encrypt under a symmetric key both sides hold. */
  readonly symmetricKeyId: Buffer | null;
  /** AsymmetricDecryptKeyIdentifier: encrypt to the client's public key with this identifier. */
  readonly asymmetricKeyId: Buffer | null;
}

/** The key-delivery attributes of a CSR (its attributes [0], RFC 2986 §4.1); absent or unreadable ones are null. */
export function readKeyDeliveryRequest(csrDer: Uint8Array): KeyDeliveryRequest {
  let symmetricKeyId: Buffer | null = null;
  let asymmetricKeyId: Buffer | null = null;
  try {
    const [info] = children(csrDer, readRoot(csrDer));
    for (const field of children(csrDer, info!)) {
      if (field.tag !== contextConstructed(0)) continue;
      for (const attribute of children(csrDer, field)) {
        const [type, values] = children(csrDer, attribute);
        if (!type || !values) continue;
        const oid = readOid(csrDer, type);
        const [first] = children(csrDer, values);
        if (!first || first.tag !== tags.octetString) continue;
        if (oid === decryptKeyIdOid) symmetricKeyId = Buffer.from(content(csrDer, first));
        if (oid === asymmetricDecryptKeyIdOid) asymmetricKeyId = Buffer.from(content(csrDer, first));
      }
    }
  } catch {
    // parseCsr has read this CSR already; a shape it accepted but we cannot walk asks for nothing.
  }
  return { symmetricKeyId, asymmetricKeyId };
}

/** RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING's value. */
export function keyIdentifierOf(spkiDer: Uint8Array): Buffer {
  return createHash("sha1").update(readSubjectPublicKeyInfo(spkiDer).subjectPublicKey).digest();
}

/**
 * The public key an AsymmetricDecryptKeyIdentifier names, among the keys the
 * client proved it holds on this request: the CSR's own key (its signature
 * is the proof; RFC 7030 §4.4.1 has the server ignore it for the
 * certificate, so it is free to serve as the transport key) and the TLS
 * client certificate's (the handshake is the proof), each by its
 * method-(1) key identifier or, for the certificate, its SKI extension.
 */
export function findKeyRecipient(
  keyId: Buffer,
  candidates: { csrPublicKeySpki: Uint8Array; clientCertificateDer: Uint8Array | null },
): KeyPackageRecipient | null {
  if (keyIdentifierOf(candidates.csrPublicKeySpki).equals(keyId))
    return { publicKeySpki: candidates.csrPublicKeySpki, keyIdentifier: keyId };
  if (candidates.clientCertificateDer) {
    const view = readCertificate(candidates.clientCertificateDer);
    const ski = view.subjectKeyIdentifier ? Buffer.from(view.subjectKeyIdentifier) : null;
    if (ski?.equals(keyId) || keyIdentifierOf(view.publicKey.der).equals(keyId))
      return { publicKeySpki: view.publicKey.der, keyIdentifier: keyId };
  }
  return null;
}
