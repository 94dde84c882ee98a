import type { OtherNameNamer } from "../registry/other-name-ids.ts";
import type { SubjectAltName, SubjectAltNameType } from "../x509/general-name.ts";
import type { ParsedCsr } from "../x509/parse-csr.ts";

/**
 * A SAN as enrolment secrets, validators and the audit name it (SCEP, EST):
 * "dns:x", "ip:x", "email:x", "uri:x", and "otherName:<registry id>:<value>"
 * for an otherName, e.g. "otherName:upn:alice@example.com" (the form of
 * subjectAltNameKey, which the issuance audit uses); DNS names lower-case.
 */
export function sanText(san: SubjectAltName): string {
  if (san.type === "otherName") return `otherName:${san.name}:${san.value}`;
  return `${san.type}:${san.type === "dns" ? san.value.toLowerCase() : san.value}`;
}

/**
 * The SANs a CSR asks for, in the forms the gateway issues. An otherName is
 * named by the OID registry entry `otherNameId` gives for its OID; one it
 * gives none for, and the forms the gateway does not issue (directoryName,
 * otherNames of other value types), are left out: the certificate will not
 * carry them.
 */
export function csrSans(csr: ParsedCsr, otherNameId: OtherNameNamer): string[] {
  const out = new Set<string>();
  for (const san of csr.requestedSans) {
    if (san.type !== "other") {
      out.add(sanText({ type: san.type, value: san.value }));
      continue;
    }
    const id = san.otherName && otherNameId(san.otherName.oid);
    if (san.otherName && id) out.add(sanText({ type: "otherName", name: id, value: san.otherName.value }));
  }
  return [...out];
}

/** The issuance core's form of a SAN text (as sanText writes it). */
export function sanOf(text: string): SubjectAltName {
  const colon = text.indexOf(":");
  const type = text.slice(0, colon);
  const rest = text.slice(colon + 1);
  if (type === "otherName") {
    // Registry ids have no ":" (registryIdPattern), so the first one ends the id; the value may hold more.
    const end = rest.indexOf(":");
    if (end < 0) return { type: "otherName", name: rest, value: "" };
    return { type: "otherName", name: rest.slice(0, end), value: rest.slice(end + 1) };
  }
  return { type: type as SubjectAltNameType, value: rest };
}

/** Whether a certificate's SANs and a CSR's (as csrSans gives them) are the same set, otherNames included. */
export function sameSans(certificateSans: readonly SubjectAltName[], requested: readonly string[]): boolean {
  const have = new Set(certificateSans.map(sanText));
  const want = new Set(requested);
  return have.size === want.size && [...want].every((s) => have.has(s));
}
