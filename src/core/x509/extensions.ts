import { ChanceryError } from "../errors.ts";
import {
  contextConstructed,
  contextPrimitive,
  derInteger,
  derNull,
  derOid,
  derTrue,
  ia5String,
  ia5Tagged,
  namedBitString,
  octetString,
  sequence,
  tlv,
  utf8String,
} from "./der-writer.ts";
import { encodeGeneralName, type SubjectAltName } from "./general-name.ts";
import { parseCidr } from "./ip-address.ts";
import { extendedKeyUsageOid, type KeyUsageName, keyUsageBits } from "./key-usage.ts";
import { encodeOid, oids } from "./oids.ts";

/** One certificate (or CSR-requested) extension; `value` is the DER inside extnValue's OCTET STRING. */
export interface Extension {
  readonly oid: string;
  readonly critical: boolean;
  readonly value: Uint8Array;
}

/** DER Extension (RFC 5280 §4.1): critical is DEFAULT FALSE, so it is only encoded when true (X.690 §11.5). */
export function encodeExtension(extension: Extension): Uint8Array {
  const parts = [encodeOid(extension.oid)];
  if (extension.critical) parts.push(derTrue);
  parts.push(octetString(extension.value));
  return sequence(parts);
}

/**
 * RFC 5280 §4.2.1.9: MUST be critical in CA certificates; we also mark it
 * critical in end-entity certificates (allowed, and what the CA/B BRs
 * expect when it is present). cA FALSE is the DEFAULT and so is omitted.
 */
export function basicConstraintsExtension(options: { ca: boolean; pathLen?: number | undefined }): Extension {
  const parts: Uint8Array[] = [];
  if (options.ca) {
    parts.push(derTrue);
    if (options.pathLen !== undefined) parts.push(derInteger(options.pathLen));
  } else if (options.pathLen !== undefined) {
    // §4.2.1.9: pathLenConstraint only makes sense when cA is TRUE.
    throw new ChanceryError("invalid_argument", "pathLen requires ca: true");
  }
  return { oid: oids.basicConstraints, critical: true, value: sequence(parts) };
}

/** RFC 5280 §4.2.1.3: conforming CAs SHOULD mark keyUsage critical. */
export function keyUsageExtension(usages: readonly KeyUsageName[]): Extension {
  if (usages.length === 0) throw new ChanceryError("invalid_argument", "keyUsage needs at least one bit");
  return { oid: oids.keyUsage, critical: true, value: namedBitString(usages.map((u) => keyUsageBits[u])) };
}

/** RFC 5280 §4.2.1.12; non-critical, as the CA/B BRs require for subscriber certificates. */
export function extendedKeyUsageExtension(purposes: readonly string[]): Extension {
  if (purposes.length === 0) throw new ChanceryError("invalid_argument", "extendedKeyUsage needs a purpose");
  return {
    oid: oids.extKeyUsage,
    critical: false,
    value: sequence(purposes.map((p) => derOid(extendedKeyUsageOid(p)))),
  };
}

/**
 * RFC 5280 §4.2.1.6: if the subject field is empty, the SAN extension MUST
 * be critical; otherwise it SHOULD NOT be.
 */
export function subjectAltNameExtension(names: readonly SubjectAltName[], subjectIsEmpty: boolean): Extension {
  if (names.length === 0) throw new ChanceryError("invalid_argument", "subjectAltName needs at least one name");
  return { oid: oids.subjectAltName, critical: subjectIsEmpty, value: sequence(names.map(encodeGeneralName)) };
}

/** RFC 5280 §4.2.1.2: MUST NOT be critical. */
export function subjectKeyIdentifierExtension(keyIdentifier: Uint8Array): Extension {
  return { oid: oids.subjectKeyIdentifier, critical: false, value: octetString(keyIdentifier) };
}

/** RFC 5280 §4.2.1.1: keyIdentifier form only, MUST NOT be critical. */
export function authorityKeyIdentifierExtension(keyIdentifier: Uint8Array): Extension {
  return {
    oid: oids.authorityKeyIdentifier,
    critical: false,
    value: sequence([tlv(contextPrimitive(0), keyIdentifier)]),
  };
}

export interface CertificatePolicy {
  readonly oid: string;
  /** id-qt-cps qualifier (RFC 5280 §4.2.1.4). */
  readonly cpsUri?: string | undefined;
  /** UserNotice explicitText; RFC 5280 §4.2.1.4: UTF8String, at most 200 characters. */
  readonly userNotice?: string | undefined;
}

/** RFC 5280 §4.2.1.4; non-critical so relying parties without policy processing still accept it. */
export function certificatePoliciesExtension(policies: readonly CertificatePolicy[]): Extension {
  if (policies.length === 0) throw new ChanceryError("invalid_argument", "certificatePolicies needs a policy");
  const seen = new Set<string>();
  const infos = policies.map((policy) => {
    // §4.2.1.4: a policy OID MUST NOT appear more than once.
    if (seen.has(policy.oid)) throw new ChanceryError("invalid_argument", `policy ${policy.oid} listed twice`);
    seen.add(policy.oid);
    const qualifiers: Uint8Array[] = [];
    if (policy.cpsUri !== undefined)
      qualifiers.push(sequence([encodeOid(oids.cpsQualifier), ia5String(policy.cpsUri)]));
    if (policy.userNotice !== undefined) {
      if ([...policy.userNotice].length > 200)
        throw new ChanceryError("invalid_argument", "user notice text is limited to 200 characters");
      qualifiers.push(sequence([encodeOid(oids.userNoticeQualifier), sequence([utf8String(policy.userNotice)])]));
    }
    const parts = [derOid(policy.oid)];
    if (qualifiers.length > 0) parts.push(sequence(qualifiers));
    return sequence(parts);
  });
  return { oid: oids.certificatePolicies, critical: false, value: sequence(infos) };
}

/**
 * RFC 5280 §4.2.1.13: one DistributionPoint per URL, each with only a
 * fullName; the DistributionPointName CHOICE makes its [0] tag explicit.
 */
export function crlDistributionPointsExtension(urls: readonly string[]): Extension {
  if (urls.length === 0) throw new ChanceryError("invalid_argument", "CRL distribution points need a URL");
  const points = urls.map((url) =>
    sequence([tlv(contextConstructed(0), tlv(contextConstructed(0), ia5Tagged(contextPrimitive(6), url)))]),
  );
  return { oid: oids.crlDistributionPoints, critical: false, value: sequence(points) };
}

/** RFC 5280 §4.2.2.1: MUST be non-critical. */
export function authorityInfoAccessExtension(options: {
  ocsp?: readonly string[] | undefined;
  caIssuers?: readonly string[] | undefined;
}): Extension {
  const descriptions = [
    ...(options.ocsp ?? []).map((url) => sequence([encodeOid(oids.ocsp), ia5Tagged(contextPrimitive(6), url)])),
    ...(options.caIssuers ?? []).map((url) =>
      sequence([encodeOid(oids.caIssuers), ia5Tagged(contextPrimitive(6), url)]),
    ),
  ];
  if (descriptions.length === 0) throw new ChanceryError("invalid_argument", "authorityInfoAccess needs a URL");
  return { oid: oids.authorityInfoAccess, critical: false, value: sequence(descriptions) };
}

/** Subtrees of one name-constraints branch. IPs are CIDR blocks ("10.0.0.0/8", "2001:db8::/32"). */
export interface GeneralSubtrees {
  /** "example.com" covers the domain and its subdomains (RFC 5280 §4.2.1.10). */
  readonly dns?: readonly string[] | undefined;
  readonly ip?: readonly string[] | undefined;
  /** A mailbox, a host ("example.com") or a domain (".example.com"). */
  readonly email?: readonly string[] | undefined;
  /** A host ("host.example.com") or a domain (".example.com"). */
  readonly uri?: readonly string[] | undefined;
}

export interface NameConstraints {
  readonly permitted?: GeneralSubtrees | undefined;
  readonly excluded?: GeneralSubtrees | undefined;
}

function encodeSubtrees(subtrees: GeneralSubtrees): Uint8Array[] {
  // GeneralSubtree: minimum DEFAULT 0 and maximum absent (§4.2.1.10), so only `base` is encoded.
  const out: Uint8Array[] = [];
  for (const dns of subtrees.dns ?? []) out.push(sequence([ia5Tagged(contextPrimitive(2), dns)]));
  for (const cidr of subtrees.ip ?? []) {
    const bytes = parseCidr(cidr);
    if (!bytes)
      throw new ChanceryError("invalid_argument", `name constraint "${cidr}" is not a CIDR block with zero host bits`);
    out.push(sequence([tlv(contextPrimitive(7), bytes)]));
  }
  for (const email of subtrees.email ?? []) out.push(sequence([ia5Tagged(contextPrimitive(1), email)]));
  for (const uri of subtrees.uri ?? []) out.push(sequence([ia5Tagged(contextPrimitive(6), uri)]));
  return out;
}

/** RFC 5280 §4.2.1.10: conforming CAs MUST mark name constraints critical; used in CA certificates only. */
export function nameConstraintsExtension(constraints: NameConstraints): Extension {
  const parts: Uint8Array[] = [];
  const permitted = encodeSubtrees(constraints.permitted ?? {});
  const excluded = encodeSubtrees(constraints.excluded ?? {});
  // §4.2.1.10: at least one of the two MUST be present; an empty GeneralSubtrees is not allowed (SIZE 1..MAX).
  if (permitted.length > 0) parts.push(sequenceTagged(0, permitted));
  if (excluded.length > 0) parts.push(sequenceTagged(1, excluded));
  if (parts.length === 0) throw new ChanceryError("invalid_argument", "name constraints need at least one subtree");
  return { oid: oids.nameConstraints, critical: true, value: sequence(parts) };
}

function sequenceTagged(n: number, parts: Uint8Array[]): Uint8Array {
  // [n] IMPLICIT GeneralSubtrees: the SEQUENCE tag is replaced by the context tag.
  const inner = sequence(parts);
  inner[0] = contextConstructed(n);
  return inner;
}

/** RFC 7633 §4 TLS feature status_request (5), i.e. OCSP must-staple. */
export const tlsFeatureStatusRequest = 5;

/** RFC 7633: a SEQUENCE OF INTEGER of TLS extension numbers; non-critical, as deployed by public CAs. */
export function tlsFeatureExtension(features: readonly number[] = [tlsFeatureStatusRequest]): Extension {
  return { oid: oids.tlsFeature, critical: false, value: sequence(features.map((f) => derInteger(f))) };
}

/** RFC 9608 §4: NULL, MUST be non-critical, and MUST NOT appear in CA certificates. */
export function noRevocationAvailableExtension(): Extension {
  return { oid: oids.noRevAvail, critical: false, value: derNull };
}

/**
 * RFC 6960 §4.2.2.2.1 id-pkix-ocsp-nocheck: NULL, in a delegated OCSP
 * responder certificate, tells relying parties not to check the responder
 * certificate's own revocation status (which would loop). Non-critical, so
 * relying parties that do not know it still accept the certificate.
 */
export function ocspNoCheckExtension(): Extension {
  return { oid: oids.ocspNoCheck, critical: false, value: derNull };
}

/** An extension given as an OID and DER value, e.g. from a profile's custom extensions. */
export function customExtension(oid: string, critical: boolean, value: Uint8Array): Extension {
  derOid(oid); // validates the OID, throwing invalid_argument
  return { oid, critical, value };
}
