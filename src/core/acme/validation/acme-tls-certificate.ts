import { timingSafeEqual } from "node:crypto";
import { children, content, expectTag, readRoot } from "../../x509/der-reader.ts";
import { tags } from "../../x509/der-writer.ts";
import { parseGeneralName } from "../../x509/general-name.ts";
import { formatIpAddress, parseIpAddress } from "../../x509/ip-address.ts";
import { oids } from "../../x509/oids.ts";
import { readCertificate } from "../../x509/parse-certificate.ts";
import type { AcmeIdentifier } from "../acme-types.ts";

/** RFC 8737 §6.1: id-pe-acmeIdentifier (id-pe 31). */
export const acmeIdentifierOid = "1.3.6.1.5.5.7.1.31";

export interface AcmeTlsCertificateSummary {
  readonly subjectAltNames: readonly string[];
  readonly acmeIdentifier: { readonly critical: boolean; readonly valueHex: string } | undefined;
}

/**
 * RFC 8737 §3: the self-signed validation certificate must carry exactly one
 * subjectAltName, the identifier being validated (a dNSName, or for RFC 8738
 * §6 an iPAddress), and a critical acmeIdentifier extension whose value is
 * the DER OCTET STRING of SHA-256(keyAuthorization) (Authorization ::=
 * OCTET STRING (SIZE (32)), §6.1). The chain is deliberately not verified.
 *
 * Parsed with the core's own strict DER reader (the one the issuance path
 * trusts), not a second parser.
 */
export function checkAcmeTlsCertificate(
  der: Uint8Array,
  identifier: AcmeIdentifier,
  host: string,
  expectedDigest: Uint8Array,
): { ok: boolean; detail: string; summary: AcmeTlsCertificateSummary | undefined } {
  let extensions: ReturnType<typeof readCertificate>["extensions"];
  try {
    extensions = readCertificate(der).extensions;
  } catch {
    return { ok: false, detail: "the validation certificate is not a valid X.509 certificate", summary: undefined };
  }

  const subjectAltNames: string[] = [];
  const sanExtensions = extensions.filter((e) => e.oid === oids.subjectAltName);
  const acmeExtensions = extensions.filter((e) => e.oid === acmeIdentifierOid);
  const acme = acmeExtensions[0];
  const summary: AcmeTlsCertificateSummary = {
    subjectAltNames,
    acmeIdentifier: acme ? { critical: acme.critical, valueHex: Buffer.from(acme.value).toString("hex") } : undefined,
  };
  const fail = (detail: string) => ({ ok: false, detail, summary });

  if (sanExtensions.length !== 1) return fail("the validation certificate must have one subjectAltName extension");
  try {
    const value = sanExtensions[0]!.value;
    for (const node of children(value, expectTag(readRoot(value), tags.sequence, "GeneralNames"))) {
      const name = parseGeneralName(value, node);
      subjectAltNames.push(`${name.type}:${name.value}`);
    }
  } catch {
    return fail("the validation certificate's subjectAltName is malformed");
  }
  const expectedName = identifier.type === "ip" ? `ip:${canonicalIp(host)}` : `dns:${host}`;
  if (subjectAltNames.length !== 1 || normalizeSan(subjectAltNames[0]!) !== expectedName)
    return fail(
      `the validation certificate must name only ${expectedName.replace(/^[a-z]+:/, "")}, it names ${subjectAltNames.join(", ") || "nothing"}`,
    );

  if (acmeExtensions.length !== 1 || !acme)
    return fail("the validation certificate must have one acmeIdentifier extension (RFC 8737 §3)");
  // RFC 8737 §3: "The acmeIdentifier extension MUST be critical".
  if (!acme.critical) return fail("the validation certificate's acmeIdentifier extension is not critical");
  let digest: Uint8Array;
  try {
    digest = content(acme.value, expectTag(readRoot(acme.value), tags.octetString, "Authorization"));
  } catch {
    return fail("the validation certificate's acmeIdentifier extension is not an OCTET STRING");
  }
  if (digest.length !== expectedDigest.length || !timingSafeEqual(digest, expectedDigest))
    return fail("the validation certificate's acmeIdentifier does not match the key authorization");
  return { ok: true, detail: "", summary };
}

function canonicalIp(text: string): string {
  const bytes = parseIpAddress(text);
  return bytes ? formatIpAddress(bytes) : text;
}

/** DNS names compare case-insensitively (RFC 4343); addresses are already canonical from formatIpAddress. */
function normalizeSan(san: string): string {
  return san.startsWith("dns:") ? san.toLowerCase().replace(/\.$/, "") : san;
}
