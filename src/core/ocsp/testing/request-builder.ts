import {
  contextConstructed,
  derBoolean,
  derInteger,
  derNull,
  integerFromContent,
  octetString,
  sequence,
  tlv,
} from "../../x509/der-writer.ts";
import { encodeOid, oids } from "../../x509/oids.ts";

/**
 * Test-only: OCSP requests built by hand, for the shapes openssl never
 * sends (explicit version, oversized nonces, critical extensions, ...).
 */

export function certIdDer(options: {
  hashOid?: string;
  /** "null" (default), "absent", or raw DER to put there. */
  params?: "null" | "absent" | Uint8Array;
  nameHash?: Uint8Array;
  keyHash?: Uint8Array;
  serial?: Uint8Array;
}): Uint8Array {
  const hashOid = options.hashOid ?? oids.sha1;
  const length = hashOid === oids.sha256 ? 32 : 20;
  const params = options.params ?? "null";
  const algorithm = sequence(
    params === "absent" ? [encodeOid(hashOid)] : [encodeOid(hashOid), params === "null" ? derNull : params],
  );
  return sequence([
    algorithm,
    octetString(options.nameHash ?? new Uint8Array(length).fill(0x11)),
    octetString(options.keyHash ?? new Uint8Array(length).fill(0x22)),
    integerFromContent(options.serial ?? Uint8Array.of(0x01, 0x02, 0x03)),
  ]);
}

export function extensionDer(oid: string, value: Uint8Array, critical = false): Uint8Array {
  return sequence(
    critical ? [encodeOid(oid), derBoolean(true), octetString(value)] : [encodeOid(oid), octetString(value)],
  );
}

/** The Nonce extension in the RFC 9654 form: extnValue = DER OCTET STRING of the nonce. */
export function nonceExtensionDer(nonce: Uint8Array, critical = false): Uint8Array {
  return extensionDer(oids.ocspNonce, octetString(nonce), critical);
}

export function requestDer(options: {
  certIds: readonly Uint8Array[];
  version?: number;
  requestorName?: boolean;
  extensions?: readonly Uint8Array[];
  /** singleRequestExtensions for every Request. */
  singleExtensions?: readonly Uint8Array[];
  signed?: boolean;
}): Uint8Array {
  const tbs: Uint8Array[] = [];
  if (options.version !== undefined) tbs.push(tlv(contextConstructed(0), derInteger(options.version)));
  // [1] EXPLICIT GeneralName: a directoryName [4] holding an empty Name.
  if (options.requestorName) tbs.push(tlv(contextConstructed(1), tlv(contextConstructed(4), sequence([]))));
  tbs.push(
    sequence(
      options.certIds.map((id) =>
        sequence(
          options.singleExtensions ? [id, tlv(contextConstructed(0), sequence(options.singleExtensions))] : [id],
        ),
      ),
    ),
  );
  if (options.extensions) tbs.push(tlv(contextConstructed(2), sequence(options.extensions)));
  const top = [sequence(tbs)];
  if (options.signed) {
    // [0] EXPLICIT Signature { signatureAlgorithm, signature BIT STRING }: not verified by the parser.
    top.push(
      tlv(
        contextConstructed(0),
        sequence([sequence([encodeOid(oids.ecdsaWithSha256)]), Uint8Array.of(0x03, 0x03, 0x00, 0xab, 0xcd)]),
      ),
    );
  }
  return new Uint8Array(sequence(top));
}
