import type { PublicKeyInfo } from "../keys/public-key-info.ts";
import { oids } from "./oids.ts";

/** RFC 5280 §4.2.1.3 KeyUsage bits, by the names used in profiles. */
export const keyUsageBits = {
  digitalSignature: 0,
  /** Renamed contentCommitment in X.509 (2008); same bit. */
  nonRepudiation: 1,
  keyEncipherment: 2,
  dataEncipherment: 3,
  keyAgreement: 4,
  keyCertSign: 5,
  cRLSign: 6,
  encipherOnly: 7,
  decipherOnly: 8,
} as const;

export type KeyUsageName = keyof typeof keyUsageBits;
export const keyUsageNames = Object.keys(keyUsageBits) as KeyUsageName[];

/** RFC 5280 §4.2.1.12 key purposes (id-kp) by the names used in profiles. */
export const extendedKeyUsageOids = {
  serverAuth: "1.3.6.1.5.5.7.3.1",
  clientAuth: "1.3.6.1.5.5.7.3.2",
  codeSigning: "1.3.6.1.5.5.7.3.3",
  emailProtection: "1.3.6.1.5.5.7.3.4",
  timeStamping: "1.3.6.1.5.5.7.3.8",
  OCSPSigning: "1.3.6.1.5.5.7.3.9",
  anyExtendedKeyUsage: oids.anyExtendedKeyUsage,
} as const;

export type ExtendedKeyUsageName = keyof typeof extendedKeyUsageOids;

/** The OID for a key purpose name, or the input when it is already a dotted OID. */
export function extendedKeyUsageOid(nameOrOid: string): string {
  return (extendedKeyUsageOids as Record<string, string>)[nameOrOid] ?? nameOrOid;
}

/**
 * Which KeyUsage bits make sense for the subject's key type. A profile can
 * list keyEncipherment for RSA, but the bit is wrong for other keys:
 * RFC 8813 §3 (id-ecPublicKey): no keyEncipherment or dataEncipherment;
 * encipherOnly/decipherOnly only with keyAgreement.
 * RFC 8410 §5 (Ed25519/Ed448): only digitalSignature, nonRepudiation,
 * keyCertSign and cRLSign.
 * RSA (RFC 4055 §1.2 / RFC 3279 §2.3.1): no keyAgreement, encipherOnly, decipherOnly.
 */
export function keyUsagesForKey(usages: readonly KeyUsageName[], key: PublicKeyInfo): KeyUsageName[] {
  const unique = [...new Set(usages)];
  switch (key.type) {
    case "rsa":
      return unique.filter((u) => u !== "keyAgreement" && u !== "encipherOnly" && u !== "decipherOnly");
    case "ec": {
      const allowed = unique.filter((u) => u !== "keyEncipherment" && u !== "dataEncipherment");
      const agreement = allowed.includes("keyAgreement");
      return allowed.filter((u) => agreement || (u !== "encipherOnly" && u !== "decipherOnly"));
    }
    case "ed25519":
    case "ed448":
      return unique.filter(
        (u) => u === "digitalSignature" || u === "nonRepudiation" || u === "keyCertSign" || u === "cRLSign",
      );
  }
}
