import { type Profile, type ProfileInput, parseProfile } from "./profile-schema.ts";

/** Key algorithms every default profile accepts: ECDSA P-256/P-384, RSA >= 2048, Ed25519. */
const commonKeys: ProfileInput["keyAlgorithms"] = {
  ecdsaCurves: ["P-256", "P-384"],
  rsa: { allowed: true, minBits: 2048, maxBits: 8192 },
  ed25519: true,
  ed448: false,
};

function tlsServer(): ProfileInput {
  return {
    name: "tls-server",
    description: "TLS server certificates (ACME clients, web servers, load balancers)",
    // CA/B BRs §6.3.2: at most 398 days; 397 leaves a day of margin. 90 days is the ACME norm.
    validity: { default: "90d", max: "397d" },
    keyAlgorithms: commonKeys,
    keyUsage: ["digitalSignature"],
    // RFC 5280 §4.2.1.3 and the CA/B BRs' subscriber profile: keyEncipherment only makes sense for RSA keys
    // (TLS 1.2 RSA key transport); ECDSA and Ed25519 keys get digitalSignature alone.
    rsaKeyUsage: ["keyEncipherment"],
    extendedKeyUsage: ["serverAuth"],
    basicConstraints: { ca: false },
    san: { allowedTypes: ["dns", "ip"], required: true, maxCount: 100, allowWildcard: true },
    // CA/B BRs (subscriber subject): a CN, if any, repeats one of the SANs; nothing else identifies a TLS server.
    subject: { keep: ["CN"], required: [], commonNameMustBeSan: true },
    revocationInfo: { crlDistributionPoint: true, ocsp: true, caIssuers: true },
    // CA/B BRs §1.6.1: short-lived subscriber certificates (at most 7 days) need no revocation pointers.
    shortLived: { thresholdSeconds: "7d", noRevAvail: true },
    requiresApproval: { required: false, approvers: 1 },
    backdateSeconds: 60,
  };
}

function tlsClient(): ProfileInput {
  return {
    name: "tls-client",
    description: "TLS client certificates for mutual TLS (users, services, CI jobs)",
    validity: { default: "90d", max: "397d" },
    keyAlgorithms: commonKeys,
    keyUsage: ["digitalSignature"],
    extendedKeyUsage: ["clientAuth"],
    basicConstraints: { ca: false },
    san: { allowedTypes: ["dns", "email", "uri"], required: false, maxCount: 20, allowWildcard: false },
    // The CN is the identity most mTLS servers map to a principal, so it is kept and required.
    subject: { keep: ["CN", "O", "OU"], required: ["CN"], commonNameMustBeSan: false },
    revocationInfo: { crlDistributionPoint: true, ocsp: true, caIssuers: true },
    shortLived: { thresholdSeconds: 0, noRevAvail: true },
    requiresApproval: { required: false, approvers: 1 },
    backdateSeconds: 60,
  };
}

function device(): ProfileInput {
  return {
    name: "device",
    description: "Device identity over SCEP/EST: 802.1X EAP-TLS, VPN and MDM-managed clients",
    validity: { default: "365d", max: "397d" },
    keyAlgorithms: commonKeys,
    keyUsage: ["digitalSignature"],
    // MDM SCEP payloads (Intune, Jamf) ask for keyEncipherment with RSA keys.
    rsaKeyUsage: ["keyEncipherment"],
    // Client authentication only: devices prove who they are; they are not TLS servers.
    extendedKeyUsage: ["clientAuth"],
    basicConstraints: { ca: false },
    san: { allowedTypes: ["dns", "ip", "email", "uri"], required: false, maxCount: 10, allowWildcard: false },
    // Device serial numbers and UIDs are common identifiers in SCEP subjects.
    subject: { keep: ["CN", "O", "OU", "serialNumber", "UID"], required: ["CN"], commonNameMustBeSan: false },
    revocationInfo: { crlDistributionPoint: true, ocsp: true, caIssuers: true },
    shortLived: { thresholdSeconds: 0, noRevAvail: true },
    requiresApproval: { required: false, approvers: 1 },
    backdateSeconds: 60,
  };
}

/** The profiles created on a fresh database: tls-server, tls-client and device (fresh objects on every call). */
export function createDefaultProfiles(): Profile[] {
  return [tlsServer(), tlsClient(), device()].map(parseProfile);
}
