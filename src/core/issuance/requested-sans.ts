import type { SubjectAltName, SubjectAltNameType } from "../x509/general-name.ts";
import type { ParsedCsr } from "../x509/parse-csr.ts";

/**
 * A SAN as enrolment secrets, validators and the audit name it (SCEP, EST):
 * "dns:x", "ip:x", "email:x", "uri:x"; DNS names lower-case.
 */
function sanText(type: SubjectAltNameType, value: string): string {
  return `${type}:${type === "dns" ? value.toLowerCase() : value}`;
}

/**
 * The SANs a CSR asks for, in the forms the gateway issues. Forms it does
 * not issue (otherName, directoryName) are left out: the certificate will
 * not carry them.
 */
export function csrSans(csr: ParsedCsr): string[] {
  const out = new Set<string>();
  for (const san of csr.requestedSans) if (san.type !== "other") out.add(sanText(san.type, san.value));
  return [...out];
}

/** The issuance core's form of a "type:value" SAN text. */
export function sanOf(text: string): SubjectAltName {
  const colon = text.indexOf(":");
  return { type: text.slice(0, colon) as SubjectAltNameType, value: text.slice(colon + 1) };
}

/** Whether a certificate's SANs and a CSR's (as csrSans gives them) are the same set. */
export function sameSans(certificateSans: readonly SubjectAltName[], requested: readonly string[]): boolean {
  const have = new Set(
    certificateSans.flatMap((san) => (san.type === "otherName" ? [] : [sanText(san.type, san.value)])),
  );
  const want = new Set(requested);
  return have.size === want.size && [...want].every((s) => have.has(s));
}
