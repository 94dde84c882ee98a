import { ChanceryError } from "../errors.ts";
import { registryIdPattern } from "../registry/object-identifier-entry.ts";
import { readRoot, readString } from "../x509/der-reader.ts";
import { maxOtherNameValueLength, type SubjectAltNameType, subjectAltNameTypes } from "../x509/general-name.ts";
import {
  canonicalNameAttributeType,
  formatNameAttribute,
  nameAttributeOid,
  nameAttributeProblem,
} from "../x509/name.ts";
import { normalizeSubjectAltName } from "./subject-alt-name-syntax.ts";

/**
 * The optional binding of a one-time enrolment secret (a SCEP challenge, an
 * EST enrollment secret): the subject and SANs the CSR must carry. A subject
 * is given and compared as an RFC 4514 string; SANs as "dns:x", "ip:x",
 * "email:x", "uri:x" and "otherName:<registry id>:x" (requested-sans.ts).
 */

/** One member of an RDN read from an RFC 4514 string. */
interface Rfc4514Member {
  /** Canonical short name ("CN") or the dotted OID of a type we have no name for. */
  readonly type: string;
  readonly oid: string;
  /** A string value, or the BER of a "#hex" value that is not a string. */
  readonly value: { readonly text: string } | { readonly ber: Uint8Array };
}

const maxSubjectLength = 4096;
const maxBoundSans = 100;
/** RFC 4514 §2.4 characters an escape may name directly. */
const escapable = new Set([" ", '"', "#", "+", ",", ";", "<", "=", ">", "\\"]);
const utf8 = new TextDecoder("utf-8", { fatal: true });

function bad(message: string): ChanceryError {
  return new ChanceryError("invalid_argument", `bound_subject: ${message}`);
}

/**
 * Parses an RFC 4514 distinguished name, RDNs in string order (least
 * significant first). Lenient where people type DNs by hand: spaces around
 * "," "+" and "=" are ignored; types are short names in any case
 * (name.ts's table), dotted OIDs, or "OID." + a dotted OID.
 */
export function parseRfc4514(text: string): Rfc4514Member[][] {
  if (text.length > maxSubjectLength) throw bad(`longer than ${maxSubjectLength} characters`);
  const rdns: Rfc4514Member[][] = [];
  if (text.trim() === "") return rdns;
  let rdn: Rfc4514Member[] = [];
  let i = 0;
  for (;;) {
    // attributeType "="
    const equals = text.indexOf("=", i);
    if (equals < 0) throw bad(`"${text.slice(i, i + 40)}" has no "="`);
    const rawType = text.slice(i, equals).trim();
    const typeText = /^oid\./i.test(rawType) ? rawType.slice(4) : rawType;
    const oid = nameAttributeOid(typeText);
    const type = canonicalNameAttributeType(typeText);
    if (!oid || !type) throw bad(`unknown attribute type "${rawType.slice(0, 40)}"`);
    i = equals + 1;
    while (text[i] === " ") i++;

    // attributeValue: "#" hexstring, or a string with RFC 4514 §3 escapes.
    let value: Rfc4514Member["value"];
    let end: string | undefined;
    if (text[i] === "#") {
      let j = i + 1;
      while (j < text.length && /[0-9a-fA-F]/.test(text[j]!)) j++;
      const hex = text.slice(i + 1, j);
      if (hex.length === 0 || hex.length % 2 !== 0) throw bad(`${type} has a malformed #hex value`);
      value = decodeBer(Buffer.from(hex, "hex"), type);
      while (text[j] === " ") j++;
      end = text[j];
      if (end !== undefined && end !== "," && end !== "+") throw bad(`unexpected "${end}" after ${type}'s #hex value`);
      i = j + 1;
    } else {
      const bytes: number[] = [];
      /** Length of `bytes` up to the last escaped character: trailing spaces after it are kept. */
      let keep = 0;
      let j = i;
      for (; j < text.length; j++) {
        const ch = text[j]!;
        if (ch === "," || ch === "+") break;
        if (ch === "\\") {
          const next = text[j + 1];
          if (next !== undefined && escapable.has(next)) {
            bytes.push(next.charCodeAt(0));
            j++;
          } else if (next !== undefined && /^[0-9a-fA-F]{2}$/.test(text.slice(j + 1, j + 3))) {
            bytes.push(Number.parseInt(text.slice(j + 1, j + 3), 16));
            j += 2;
          } else {
            throw bad(`${type} has a "\\" that escapes nothing`);
          }
          keep = bytes.length;
          continue;
        }
        for (const byte of Buffer.from(ch, "utf8")) bytes.push(byte);
        if (ch !== " ") keep = bytes.length;
      }
      let decoded: string;
      try {
        decoded = utf8.decode(Uint8Array.from(bytes.slice(0, keep)));
      } catch {
        throw bad(`${type} has escapes that are not UTF-8`);
      }
      value = { text: decoded };
      end = text[j];
      i = j + 1;
    }
    rdn.push({ type, oid, value });
    if (end === "+") continue;
    rdns.push(rdn);
    rdn = [];
    if (end === undefined) return rdns;
  }
}

/** A "#hex" value: the string it encodes when it is one of the string types, else its BER. */
function decodeBer(ber: Uint8Array, type: string): Rfc4514Member["value"] {
  try {
    const node = readRoot(ber);
    if ([0x0c, 0x12, 0x13, 0x14, 0x16, 0x1a, 0x1c, 0x1e].includes(node.tag)) return { text: readString(ber, node) };
  } catch {
    throw bad(`${type}'s #hex value is not one DER element`);
  }
  return { ber };
}

/**
 * Comparison key of one member, as RFC 5280 §7.1 / OpenSSL compare names:
 * strings whatever their ASN.1 string type, outer white space removed,
 * inner runs folded to one space, ASCII letters lower-cased; other values
 * as their exact BER.
 */
function memberKey(member: Rfc4514Member): string {
  if ("ber" in member.value) return `${member.oid}\u0000x${Buffer.from(member.value.ber).toString("hex")}`;
  const folded = member.value.text
    .replace(/^[ \t\n\v\f\r]+|[ \t\n\v\f\r]+$/g, "")
    .replace(/[ \t\n\v\f\r]+/g, " ")
    .replace(/[A-Z]+/g, (s) => s.toLowerCase());
  return `${member.oid}\u0000s${folded}`;
}

/** RDNs in order; the members of a multi-valued RDN (a SET) sorted, so their order does not matter. */
function subjectKey(rdns: readonly (readonly Rfc4514Member[])[]): string {
  return JSON.stringify(rdns.map((rdn) => rdn.map(memberKey).sort()));
}

/**
 * A bound subject checked and written back in one canonical RFC 4514 form
 * (short type names, minimal escapes); null for an empty one (no binding).
 */
export function normalizeBoundSubject(text: string | undefined): string | null {
  if (text === undefined) return null;
  const rdns = parseRfc4514(text);
  if (rdns.length === 0) return null;
  return rdns
    .map((rdn) =>
      rdn
        .map((member) => {
          if ("ber" in member.value)
            return `${member.type}=#${Buffer.from(member.value.ber).toString("hex").toUpperCase()}`;
          const attribute = { type: member.type, value: member.value.text };
          const problem = nameAttributeProblem(attribute);
          if (problem) throw bad(problem);
          return formatNameAttribute(attribute);
        })
        .join("+"),
    )
    .join(",");
}

/** Whether the CSR's subject (RFC 4514, as parse-name.ts writes it) is the bound one. */
export function subjectMatches(bound: string, csrSubject: string): boolean {
  let csr: Rfc4514Member[][];
  try {
    csr = parseRfc4514(csrSubject);
  } catch {
    // A subject we cannot read back cannot be shown to be the bound one.
    return false;
  }
  return subjectKey(parseRfc4514(bound)) === subjectKey(csr);
}

/** One SAN as "type:value" (or "otherName:<registry id>:<value>"), or the reason it is not one. */
function normalizeSan(text: string): { ok: true; san: string } | { ok: false; reason: string } {
  const colon = text.indexOf(":");
  const type = colon < 0 ? "" : text.slice(0, colon).trim().toLowerCase();
  if (type === "othername") return normalizeOtherNameSan(text.slice(colon + 1));
  if (!(subjectAltNameTypes as readonly string[]).includes(type))
    return {
      ok: false,
      reason: `must start with ${subjectAltNameTypes.map((t) => `"${t}:"`).join(", ")} or "otherName:<registry id>:"`,
    };
  // Wildcards are allowed here: whether the profile issues them is issuance's decision, not the binding's.
  const result = normalizeSubjectAltName({ type: type as SubjectAltNameType, value: text.slice(colon + 1) }, true);
  return result.ok ? { ok: true, san: `${result.san.type}:${result.san.value}` } : result;
}

/**
 * "<registry id>:<value>" of an otherName SAN, as requested-sans.ts writes
 * it ("otherName:upn:alice@example.com"). The value is compared exactly;
 * whether the id names an otherName entry the profile allows, and whether
 * the value fits it, is issuance's decision: a binding naming another id
 * than the profile's entry for that OID never matches.
 */
function normalizeOtherNameSan(text: string): { ok: true; san: string } | { ok: false; reason: string } {
  const colon = text.indexOf(":");
  const id = colon < 0 ? "" : text.slice(0, colon).trim().toLowerCase();
  const value = text.slice(colon + 1);
  if (!registryIdPattern.test(id)) return { ok: false, reason: 'must be "otherName:<registry id>:<value>"' };
  if (value.length === 0) return { ok: false, reason: "has an empty otherName value" };
  if (value.length > maxOtherNameValueLength)
    return { ok: false, reason: `has an otherName value longer than ${maxOtherNameValueLength} characters` };
  return { ok: true, san: `otherName:${id}:${value}` };
}

/**
 * Bound SANs checked, normalised (lower-case DNS names and email domains,
 * canonical IP addresses), de-duplicated and sorted; null for none (an empty
 * list cannot be told from an absent one over the admin API).
 */
export function normalizeBoundSans(sans: readonly string[] | undefined): string[] | null {
  if (sans === undefined || sans.length === 0) return null;
  if (sans.length > maxBoundSans) throw new ChanceryError("invalid_argument", `bound_sans: at most ${maxBoundSans}`);
  const out = new Set<string>();
  for (const text of sans) {
    const result = normalizeSan(text);
    if (!result.ok) throw new ChanceryError("invalid_argument", `bound_sans: "${text.slice(0, 100)}" ${result.reason}`);
    out.add(result.san);
  }
  return [...out].sort();
}

/**
 * Whether the CSR asks for exactly the bound SANs, compared as sets after
 * the same normalisation. A CSR SAN we cannot normalise (another GeneralName
 * form, a malformed value) stays as given, so it never matches.
 */
export function sansMatch(bound: readonly string[], csrSans: readonly string[]): boolean {
  const csr = new Set(
    csrSans.map((text) => {
      const result = normalizeSan(text);
      return result.ok ? result.san : `\u0000${text}`;
    }),
  );
  const wanted = new Set(bound);
  if (csr.size !== wanted.size) return false;
  for (const san of csr) if (!wanted.has(san)) return false;
  return true;
}
