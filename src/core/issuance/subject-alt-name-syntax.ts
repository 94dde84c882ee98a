import type { GeneralSubjectAltName } from "../x509/general-name.ts";
import { formatIpAddress, parseIpAddress } from "../x509/ip-address.ts";

/** A normalised SAN, or the reason the value cannot go into a certificate. */
export type SanSyntaxResult = { ok: true; san: GeneralSubjectAltName } | { ok: false; reason: string };

const ldhLabel = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * A dNSName in "preferred name syntax" (RFC 5280 §4.2.1.6, RFC 1034 §3.5,
 * RFC 1123 §2.1): lower-cased LDH labels of at most 63 octets, at most 253
 * octets in all, no trailing dot. Internationalised names must arrive as
 * A-labels (xn--). A wildcard is only ever the whole leftmost label and
 * needs two labels after it (no "*.com").
 */
export function dnsNameProblem(name: string, allowWildcard: boolean): string | undefined {
  if (name.length === 0) return "is empty";
  if (name.length > 253) return "is longer than 253 characters";
  if (!/^[\x21-\x7e]+$/.test(name)) return "must be ASCII; use the A-label (xn--) form for internationalised names";
  const labels = name.split(".");
  if (labels[0] === "*") {
    if (!allowWildcard) return "is a wildcard, which the profile does not allow";
    labels.shift();
    if (labels.length < 2) return "wildcard must be followed by at least two labels";
  }
  for (const label of labels) {
    if (label === "") return "has an empty label (or a trailing dot)";
    if (label.includes("*")) return "has a wildcard that is not the whole leftmost label";
    if (!ldhLabel.test(label))
      return `label "${label}" is not letters, digits and inner hyphens of at most 63 characters`;
  }
  // RFC 1123 §2.1: a top-level label is never all-numeric, so "10.0.0.1" is an IP, not a name.
  if (/^[0-9]+$/.test(labels[labels.length - 1]!)) return "looks like an IP address; use an ip SAN";
  return undefined;
}

/** Validates and normalises one SAN value; DNS names and email domains are lower-cased. */
export function normalizeSubjectAltName(san: GeneralSubjectAltName, allowWildcard: boolean): SanSyntaxResult {
  switch (san.type) {
    case "dns": {
      const value = san.value.toLowerCase();
      const problem = dnsNameProblem(value, allowWildcard);
      return problem ? { ok: false, reason: problem } : { ok: true, san: { type: "dns", value } };
    }
    case "ip": {
      const bytes = parseIpAddress(san.value);
      if (!bytes) return { ok: false, reason: "is not an IPv4 or IPv6 address" };
      return { ok: true, san: { type: "ip", value: formatIpAddress(bytes) } };
    }
    case "email": {
      // RFC 5280 §4.2.1.6: rfc822Name is an RFC 5321 Mailbox in IA5String (no SmtpUTF8Mailbox here).
      const at = san.value.lastIndexOf("@");
      if (at < 1 || san.value.length > 254) return { ok: false, reason: "is not a mailbox (local@domain)" };
      const local = san.value.slice(0, at);
      const domain = san.value.slice(at + 1).toLowerCase();
      if (local.length > 64 || !/^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/.test(local))
        return { ok: false, reason: "has a local part that is not an ASCII dot-atom" };
      const problem = dnsNameProblem(domain, false);
      if (problem) return { ok: false, reason: `domain ${problem}` };
      return { ok: true, san: { type: "email", value: `${local}@${domain}` } };
    }
    case "uri": {
      // RFC 5280 §4.2.1.6: an absolute URI (RFC 3986) with a scheme; IA5String, so ASCII only.
      if (san.value.length > 2048) return { ok: false, reason: "is longer than 2048 characters" };
      if (!/^[\x21-\x7e]+$/.test(san.value)) return { ok: false, reason: "must be ASCII without spaces" };
      if (!/^[A-Za-z][A-Za-z0-9+.-]*:/.test(san.value)) return { ok: false, reason: "is not an absolute URI" };
      try {
        new URL(san.value);
      } catch {
        return { ok: false, reason: "is not a valid URI" };
      }
      return { ok: true, san: { type: "uri", value: san.value } };
    }
    default:
      return { ok: false, reason: `has unsupported SAN type ${(san as { type: string }).type}` };
  }
}
