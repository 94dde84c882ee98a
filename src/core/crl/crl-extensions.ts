import { ChanceryError } from "../errors.ts";
import { type RevocationReason, revocationReasons } from "../revocation/revocation-reason.ts";
import { contextConstructed, contextPrimitive, derInteger, ia5Tagged, sequence, tlv } from "../x509/der-writer.ts";
import { type Extension, encodeExtension } from "../x509/extensions.ts";
import { oids } from "../x509/oids.ts";

/** RFC 5280 §5.2.3: CRLNumber is at most 20 octets, i.e. below 2^159 as a positive INTEGER. */
const maxCrlNumber = (1n << 159n) - 1n;

/** RFC 5280 §5.2.3: a monotonically increasing sequence number, non-critical. */
export function crlNumberExtension(crlNumber: bigint): Extension {
  if (crlNumber < 0n || crlNumber > maxCrlNumber)
    throw new ChanceryError("invalid_argument", "a CRL number must be a non-negative integer of at most 20 octets");
  return { oid: oids.crlNumber, critical: false, value: derInteger(crlNumber) };
}

/**
 * RFC 5280 §5.2.5: issuingDistributionPoint, critical, naming the one URL
 * this CRL is published at. It carries only distributionPoint fullName: the
 * CRL covers every certificate of the CA (end-entity and CA certificates, all
 * reasons), so none of the only* fields or onlySomeReasons apply. The URL
 * must be byte-for-byte the one in the certificates' cRLDistributionPoints,
 * because relying parties (OpenSSL's crl_crldp_check, RFC 5280 §6.3.3 (b)(2))
 * refuse a CRL whose IDP does not match the certificate's CDP.
 */
export function issuingDistributionPointExtension(url: string): Extension {
  // IssuingDistributionPoint ::= SEQUENCE { distributionPoint [0] DistributionPointName, ... };
  // DistributionPointName is a CHOICE, so its [0] is explicit; fullName [0] IMPLICIT GeneralNames.
  const value = sequence([tlv(contextConstructed(0), tlv(contextConstructed(0), ia5Tagged(contextPrimitive(6), url)))]);
  return { oid: oids.issuingDistributionPoint, critical: true, value };
}

/**
 * The crlEntryExtensions field (an Extensions SEQUENCE) holding only a
 * reasonCode, per reason, encoded once: every revoked entry with a reason
 * splices the same bytes. RFC 5280 §5.3.1: reasonCode is non-critical and
 * SHOULD be absent for unspecified (CA/B BRs §7.2.2 say MUST), so
 * "unspecified" maps to no extensions at all.
 */
export const reasonCodeEntryExtensions: Readonly<Record<RevocationReason, Uint8Array | undefined>> = (() => {
  const table = {} as Record<RevocationReason, Uint8Array | undefined>;
  for (const [name, code] of Object.entries(revocationReasons) as [RevocationReason, number][]) {
    // CRLReason ::= ENUMERATED (tag 0x0a); every code fits one content octet.
    const enumerated = Uint8Array.of(0x0a, 1, code);
    table[name] =
      code === revocationReasons.unspecified
        ? undefined
        : sequence([encodeExtension({ oid: oids.crlReason, critical: false, value: enumerated })]);
  }
  return table;
})();
