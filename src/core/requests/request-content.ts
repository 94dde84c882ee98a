import { ChanceryError } from "../errors.ts";
import type { CsrSanReader } from "../issuance/csr-san-reader.ts";
import type { ApprovedContent } from "../issuance/issuance-request.ts";
import { sanOf } from "../issuance/requested-sans.ts";
import { normalizeSubjectAltName } from "../issuance/subject-alt-name-syntax.ts";
import { isKeyAlgorithm, type KeyAlgorithm } from "../keys/key-algorithm.ts";
import { type SubjectAltName, subjectAltNameKey } from "../x509/general-name.ts";
import { nameAttributeProblem } from "../x509/name.ts";
import { type ParsedCsr, parseCsr } from "../x509/parse-csr.ts";
import type { RequestContentInput } from "./request.ts";

/** Checked, normalised certificate content of a request. */
export interface RequestContent {
  readonly commonName: string | null;
  readonly sans: readonly SubjectAltName[];
  readonly keyAlgorithm: KeyAlgorithm | null;
  readonly csrDer: Buffer | null;
}

/** More SANs than any profile allows (profile-schema san.maxCount is at most 1000; the defaults 100). */
const maxSans = 1000;

export function hasContent(input: RequestContentInput | undefined): boolean {
  if (!input) return false;
  return Boolean(
    input.commonName ||
      (input.sans && input.sans.length > 0) ||
      input.keyAlgorithm ||
      (input.csr !== undefined && input.csr.length > 0),
  );
}

/**
 * Validates what a requester (or the first approver of a free-form request)
 * asks for. Syntax only: whether the profile allows it is decided when the
 * CA and profile are chosen. A CSR's signature is checked here (RFC 2986 §3
 * proof of possession), so a request never waits in the queue with a CSR
 * that could not be issued. When no SANs are given, the CSR's requested
 * SANs become the request's (csrSansOf): approvers then see, and approve,
 * exactly what will go into the certificate (DESIGN rule 10: nothing is
 * copied from the CSR at issuance).
 */
export async function checkRequestContent(
  input: RequestContentInput,
  sanReader: CsrSanReader,
): Promise<RequestContent> {
  const commonName = input.commonName ? input.commonName : null;
  if (commonName !== null) {
    const problem = nameAttributeProblem({ type: "CN", value: commonName });
    if (problem) throw new ChanceryError("invalid_argument", `common_name: ${problem}`);
  }
  const hasCsr = input.csr !== undefined && input.csr.length > 0;
  if (input.keyAlgorithm && hasCsr)
    throw new ChanceryError(
      "invalid_argument",
      "give either key_algorithm (the gateway generates the key) or csr_pem (you hold the key), not both",
    );
  if (!input.keyAlgorithm && !hasCsr)
    throw new ChanceryError(
      "invalid_argument",
      "give key_algorithm (the gateway generates the key) or csr_pem (you hold the key)",
    );
  if (input.keyAlgorithm && !isKeyAlgorithm(input.keyAlgorithm))
    throw new ChanceryError("invalid_argument", `unknown key algorithm ${String(input.keyAlgorithm)}`);
  const csr = hasCsr ? parseCsr(input.csr!) : null;

  let sans = checkSans(input.sans ?? []);
  if (sans.length === 0 && csr) sans = await csrSansOf(csr, sanReader);
  if (commonName === null && sans.length === 0 && (csr === null || csr.subject.length === 0))
    throw new ChanceryError("invalid_argument", "a request needs a common_name or at least one subject alt name");
  return {
    commonName,
    sans,
    keyAlgorithm: input.keyAlgorithm ?? null,
    csrDer: csr ? Buffer.from(csr.der) : null,
  };
}

/**
 * The SANs a CSR asks for, as SCEP and EST read them (csr-san-reader.ts):
 * an otherName (a Microsoft UPN) is named by its OID registry entry, one
 * no entry names is left out, as are values that could not go into a
 * certificate. No profile is chosen yet, so none decides between two
 * entries for one OID: the built-in one names it ("upn" over a custom
 * "upn-corp"); a requester wanting the other names it in subject_alt_names.
 * Whether the profile allows it is decided when an approver chooses one.
 */
async function csrSansOf(csr: ParsedCsr, sanReader: CsrSanReader): Promise<SubjectAltName[]> {
  const requested: SubjectAltName[] = [];
  for (const san of (await sanReader.sans(csr, [])).map(sanOf)) {
    if (san.type === "otherName") {
      requested.push(san);
      continue;
    }
    const result = normalizeSubjectAltName(san, true);
    if (result.ok) requested.push(result.san);
  }
  return dedupe(requested);
}

function checkSans(sans: readonly SubjectAltName[]): SubjectAltName[] {
  if (sans.length > maxSans) throw new ChanceryError("invalid_argument", `at most ${maxSans} subject alt names`);
  const out: SubjectAltName[] = [];
  for (const [i, san] of sans.entries()) {
    // otherName values are checked against the OID registry when the profile is chosen, at approval.
    if (san.type === "otherName") {
      if (san.value.length === 0) throw new ChanceryError("invalid_argument", `subject_alt_names[${i}] is empty`);
      out.push(san);
      continue;
    }
    // Wildcards are a profile decision (san.allowWildcard), made at approval.
    const result = normalizeSubjectAltName(san, true);
    if (!result.ok)
      throw new ChanceryError("invalid_argument", `subject_alt_names[${i}] "${san.value}" ${result.reason}`);
    out.push(result.san);
  }
  return dedupe(out);
}

function dedupe(sans: readonly SubjectAltName[]): SubjectAltName[] {
  const seen = new Set<string>();
  return sans.filter((san) => {
    const key = subjectAltNameKey(san);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

export function sameContent(a: RequestContent, b: RequestContent): boolean {
  const sanKeys = (c: RequestContent) => c.sans.map(subjectAltNameKey).sort();
  return (
    a.commonName === b.commonName &&
    a.keyAlgorithm === b.keyAlgorithm &&
    JSON.stringify(sanKeys(a)) === JSON.stringify(sanKeys(b)) &&
    (a.csrDer === null ? b.csrDer === null : b.csrDer !== null && a.csrDer.equals(b.csrDer))
  );
}

/**
 * What the issuance pipeline is told the approvers approved: the SANs, and
 * the common name as the subject when there is one (else the CSR's subject,
 * or none for a server-generated key). The profile filters either.
 */
export function approvedContentOf(content: RequestContent): ApprovedContent {
  if (content.commonName !== null) return { subject: [{ type: "CN", value: content.commonName }], sans: content.sans };
  return content.csrDer ? { sans: content.sans } : { subject: [], sans: content.sans };
}
