import type { Profile } from "../profiles/profile-schema.ts";
import { derInteger, derOid, sequence, setOf } from "../x509/der-writer.ts";
import { nameAttributeOid } from "../x509/name.ts";
import { oids } from "../x509/oids.ts";

const curveOids: Record<string, string> = { "P-256": oids.secp256r1, "P-384": oids.secp384r1, "P-521": oids.secp521r1 };

/**
 * RFC 7030 §4.5.2 CsrAttrs: what a label's profile wants in a CSR, as
 * `SEQUENCE OF AttrOrOID`. Null when there is nothing to say (the front end
 * answers 204, §4.5.2). What is said:
 *
 * - challengePassword (an OID alone) when the label requires the TLS channel
 *   binding there (§3.5, and the example of §4.5.2);
 * - the key type when the profile allows one family only, as RFC 9908 puts
 *   it: an ecPublicKey attribute whose values are the allowed curves, an
 *   rsaEncryption attribute whose value is the smallest modulus in bits, or
 *   the Ed25519/Ed448 OID; several families allowed means "any of them";
 * - each subject attribute the profile requires, and subjectAltName when the
 *   profile requires one, as OIDs (§4.5.2: "OIDs ... the client should
 *   include").
 */
export function buildCsrAttributes(profile: Profile, options: { channelBindingRequired: boolean }): Buffer | null {
  const items: Uint8Array[] = [];
  if (options.channelBindingRequired) items.push(derOid(oids.challengePassword));

  const keys = profile.keyAlgorithms;
  const families = [
    keys.ecdsaCurves.length > 0 ? "ec" : null,
    keys.rsa.allowed ? "rsa" : null,
    keys.ed25519 ? "ed25519" : null,
    keys.ed448 ? "ed448" : null,
  ].filter((f) => f !== null);
  if (families.length === 1) {
    switch (families[0]) {
      case "ec":
        items.push(
          sequence([
            derOid(oids.ecPublicKey),
            setOf(keys.ecdsaCurves.flatMap((curve) => (curveOids[curve] ? [derOid(curveOids[curve])] : []))),
          ]),
        );
        break;
      case "rsa":
        items.push(sequence([derOid(oids.rsaEncryption), setOf([derInteger(keys.rsa.minBits)])]));
        break;
      case "ed25519":
        items.push(derOid(oids.ed25519));
        break;
      case "ed448":
        items.push(derOid(oids.ed448));
        break;
    }
  }

  for (const type of profile.subject.required) {
    // Attributes named by an OID registry id have no fixed OID here; the profile's policy still checks them.
    const oid = nameAttributeOid(type);
    if (oid) items.push(derOid(oid));
  }
  if (profile.san.required) items.push(derOid(oids.subjectAltName));

  if (items.length === 0) return null;
  const der = sequence(items);
  return Buffer.from(der.buffer, der.byteOffset, der.length);
}
