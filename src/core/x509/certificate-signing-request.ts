import type { Signer } from "../ca/signer.ts";
import { contextConstructed, derInteger, derOid, sequence, setOf, tlvOf } from "./der-writer.ts";
import { type Extension, encodeExtension } from "./extensions.ts";
import { encodeName, type NameAttribute } from "./name.ts";
import { oids } from "./oids.ts";
import { encodeSigned } from "./sign-certificate.ts";

export interface CertificateSigningRequestOptions {
  readonly signer: Signer;
  readonly subject: readonly NameAttribute[];
  /**
   * Extensions to ask the parent CA for (PKCS#9 extensionRequest), e.g.
   * basicConstraints cA TRUE and keyUsage for a subordinate CA. The parent
   * decides; this is a request only.
   */
  readonly extensions?: readonly Extension[] | undefined;
}

/**
 * A PKCS#10 CertificationRequest (RFC 2986 §4) for the Signer's key, e.g. to
 * have an external parent CA certify one of our CAs. The signature is the
 * proof of possession, made by the Signer like any certificate signature.
 */
export async function createCertificateSigningRequest(options: CertificateSigningRequestOptions): Promise<Uint8Array> {
  const attributes: Uint8Array[] = [];
  if (options.extensions && options.extensions.length > 0)
    attributes.push(
      sequence([derOid(oids.extensionRequest), setOf([sequence(options.extensions.map(encodeExtension))])]),
    );
  const info = sequence([
    derInteger(0), // RFC 2986 §4.1: version 0
    encodeName(options.subject),
    options.signer.publicKeySpki,
    // attributes [0] IMPLICIT SET OF Attribute: present even when empty (RFC 2986 §4.1).
    tlvOf(contextConstructed(0), attributes),
  ]);
  const signature = await options.signer.sign(info);
  return encodeSigned(info, options.signer.signatureAlgorithmDer, signature);
}
