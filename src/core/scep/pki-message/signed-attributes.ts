import { readOid } from "../../x509/der-reader.ts";
import { sequence, setOf, tags, tlvOf } from "../../x509/der-writer.ts";
import { BerError, type BerNode, type BerReader, berRaw, expectBer } from "./ber-reader.ts";
import { encodeCmsOid } from "./cms-oids.ts";

/**
 * Signed attributes (RFC 5652 §5.3 signedAttrs, §11; RFC 8894 §3.2.1):
 * reading them from a request's SignerInfo and encoding them for a CertRep.
 */
export interface SignedAttributes {
  /** Attribute type OID → the values of its SET. */
  readonly values: ReadonlyMap<string, readonly BerNode[]>;
  /**
   * The DER SET OF Attribute the signature covers. RFC 5652 §5.4: the
   * [0] IMPLICIT tag is replaced by the SET OF tag before digesting.
   */
  readonly signedDer: Uint8Array;
}

/** Reads signedAttrs [0] IMPLICIT SET OF Attribute. An attribute type given twice is an error. */
export function readSignedAttributes(reader: BerReader, node: BerNode): SignedAttributes {
  const attributes = expectBer(reader, node, 0xa0, "signedAttrs", 1);
  const values = new Map<string, BerNode[]>();
  for (const attribute of attributes) {
    const [typeNode, valueSet] = expectBer(reader, attribute, tags.sequence, "Attribute", 2, 2);
    const oid = readOid(reader.buf, typeNode!);
    if (values.has(oid)) throw new BerError(`signed attribute ${oid} appears twice`);
    values.set(oid, expectBer(reader, valueSet, tags.set, `attribute ${oid} values`));
  }
  // The signer digested DER (RFC 5652 §5.4 requires signedAttrs in DER). Rebuilding the
  // SET from the attributes as encoded gives those bytes even when the [0] header
  // itself was written in BER (indefinite or non-minimal length).
  const signedDer = tlvOf(
    tags.set,
    attributes.map((attribute) => berRaw(reader.buf, attribute)),
  );
  return { values, signedDer };
}

/** The single value of an attribute, undefined when absent; several values are an error. */
export function singleValue(attributes: SignedAttributes, oid: string): BerNode | undefined {
  const list = attributes.values.get(oid);
  if (list === undefined) return undefined;
  if (list.length !== 1) throw new BerError(`signed attribute ${oid} must have exactly one value`);
  return list[0];
}

/** Attribute ::= SEQUENCE { attrType OBJECT IDENTIFIER, attrValues SET OF AttributeValue } with one value. */
export function encodeAttribute(oid: string, valueDer: Uint8Array): Uint8Array {
  return sequence([encodeCmsOid(oid), setOf([valueDer])]);
}

/**
 * Signed attributes for a SignerInfo, sorted as a DER SET OF (X.690 §11.6):
 * `signedDer` is the SET OF the signature covers, `implicitDer` the same
 * content under the [0] IMPLICIT tag the SignerInfo carries (RFC 5652 §5.4).
 */
export function encodeSignedAttributes(attributes: readonly Uint8Array[]): {
  signedDer: Uint8Array;
  implicitDer: Uint8Array;
} {
  const sorted = [...attributes].sort(Buffer.compare);
  return { signedDer: tlvOf(tags.set, sorted), implicitDer: tlvOf(0xa0, sorted) };
}
