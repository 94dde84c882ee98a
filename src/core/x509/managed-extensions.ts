import { oids } from "./oids.ts";

/**
 * Extensions the certificate builder makes from profile fields itself; a
 * profile's custom extension or a registry extension may not duplicate them
 * (RFC 5280 §4.2: an extension appears at most once).
 */
export const managedExtensionOids: ReadonlySet<string> = new Set([
  oids.subjectKeyIdentifier,
  oids.keyUsage,
  oids.subjectAltName,
  oids.basicConstraints,
  oids.nameConstraints,
  oids.crlDistributionPoints,
  oids.certificatePolicies,
  oids.authorityKeyIdentifier,
  oids.extKeyUsage,
  oids.authorityInfoAccess,
  oids.tlsFeature,
  oids.noRevAvail,
]);
