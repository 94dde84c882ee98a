import type { Signer } from "../ca/signer.ts";
import { ChanceryError } from "../errors.ts";
import { bitString, contextConstructed, derTime, integerFromContent, sequence, tlv } from "./der-writer.ts";
import { type Extension, encodeExtension } from "./extensions.ts";
import type { SerialNumber } from "./serial-number.ts";

export interface Validity {
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export interface TbsCertificateFields {
  readonly serial: SerialNumber;
  /** DER Name of the issuer: copy the issuer certificate's subject bytes (RFC 5280 §4.1.2.4, §7.1). */
  readonly issuerDer: Uint8Array;
  readonly validity: Validity;
  /** DER Name of the subject (may be the empty SEQUENCE when a critical SAN carries the identity). */
  readonly subjectDer: Uint8Array;
  readonly subjectPublicKeySpki: Uint8Array;
  readonly extensions: readonly Extension[];
}

/** [0] EXPLICIT Version v3 (2): RFC 5280 §4.1.2.1, extensions require v3. */
export const versionV3: Uint8Array = Uint8Array.of(contextConstructed(0), 3, 0x02, 0x01, 0x02);

/** The Validity SEQUENCE (RFC 5280 §4.1.2.5). */
export function encodeValidity(validity: Validity): Uint8Array {
  if (!(validity.notBefore.getTime() <= validity.notAfter.getTime()))
    throw new ChanceryError("invalid_argument", "notBefore must not be after notAfter");
  return sequence([derTime(validity.notBefore), derTime(validity.notAfter)]);
}

/** DER TBSCertificate (RFC 5280 §4.1.2) for a v3 certificate. */
export function encodeTbsCertificate(fields: TbsCertificateFields, signatureAlgorithmDer: Uint8Array): Uint8Array {
  const oids = new Set<string>();
  for (const extension of fields.extensions) {
    // RFC 5280 §4.2: a certificate MUST NOT include more than one instance of an extension.
    if (oids.has(extension.oid)) throw new ChanceryError("invalid_argument", `extension ${extension.oid} given twice`);
    oids.add(extension.oid);
  }
  const parts = [
    versionV3,
    integerFromContent(fields.serial.der),
    signatureAlgorithmDer,
    fields.issuerDer,
    encodeValidity(fields.validity),
    fields.subjectDer,
    fields.subjectPublicKeySpki,
  ];
  // §4.1.2.9: if present, the Extensions SEQUENCE holds one or more extensions.
  if (fields.extensions.length > 0)
    parts.push(tlv(contextConstructed(3), sequence(fields.extensions.map(encodeExtension))));
  return sequence(parts);
}

/**
 * The outer SIGNED{} structure shared by Certificate (RFC 5280 §4.1),
 * CertificateList (§5.1) and CertificationRequest (RFC 2986 §4.2).
 * §4.1.1.2: signatureAlgorithm MUST equal the signature field inside.
 */
export function encodeSigned(tbs: Uint8Array, signatureAlgorithmDer: Uint8Array, signature: Uint8Array): Uint8Array {
  // A plain, standalone Uint8Array: the DER writer's pieces may share a Buffer slab, the result must not.
  return new Uint8Array(sequence([tbs, signatureAlgorithmDer, bitString(signature)]));
}

/** Builds the TBSCertificate, has the issuer's Signer sign it, and returns the certificate DER. */
export async function signCertificate(fields: TbsCertificateFields, signer: Signer): Promise<Uint8Array> {
  const tbs = encodeTbsCertificate(fields, signer.signatureAlgorithmDer);
  const signature = await signer.sign(tbs);
  return encodeSigned(tbs, signer.signatureAlgorithmDer, signature);
}
