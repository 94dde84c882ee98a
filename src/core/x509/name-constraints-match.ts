import { isIPv4 } from "node:net";
import { ChanceryError } from "../errors.ts";
import { readRoot } from "./der-reader.ts";
import type { SubjectAltName } from "./general-name.ts";
import { parseIpAddress } from "./ip-address.ts";
import { type CanonicalRdn, canonicalRdns, parseName } from "./parse-name.ts";
import type { ConstrainedNameForm, GeneralSubtree, NameConstraintsView } from "./parse-name-constraints.ts";

/**
 * RFC 5280 §4.2.1.10 name constraints, evaluated the way OpenSSL's
 * NAME_CONSTRAINTS_check does (crypto/x509/v3_ncons.c), so that what we
 * refuse is what a relying party would reject. Where a reading is open, the
 * stricter one is taken: refusing a certificate costs a retry, issuing one
 * the CA is not allowed to issue costs trust.
 */

/** One name of a certificate as name constraints see it; `label` says where it came from, for messages. */
export type ConstrainedName =
  | { readonly form: "dns" | "email" | "uri"; readonly value: string; readonly label: string }
  | { readonly form: "ip"; readonly bytes: Uint8Array; readonly label: string }
  | { readonly form: "directoryName"; readonly rdns: readonly CanonicalRdn[]; readonly label: string };

export interface NameConstraintViolation {
  readonly name: ConstrainedName;
  readonly kind: "excluded" | "permitted" | "unsupported";
  /** E.g. `dns:evil.test is outside the issuing CA's permitted subtrees (dns: example.com)`. */
  readonly message: string;
}

/** True or false, or why the name cannot be compared with this form of constraint at all. */
type Match = boolean | { readonly cannotCheck: string };

const formLabels: Record<ConstrainedNameForm, string> = {
  dns: "dns",
  ip: "ip",
  email: "email",
  uri: "uri",
  directoryName: "dirName",
};

/**
 * The first constraint `name` breaks, or undefined. Only subtrees of the
 * name's own form apply (§4.2.1.10); an excluded match wins over any
 * permitted one; when permitted subtrees of the form exist, the name must
 * fall in at least one. A subtree of the form that we cannot evaluate
 * refuses the name (§4.2.1.10: "process the constraint or reject").
 * `owner` names the CA in messages ("the issuing CA").
 */
export function findNameConstraintViolation(
  constraints: NameConstraintsView,
  name: ConstrainedName,
  owner = "the issuing CA",
): NameConstraintViolation | undefined {
  const applies = (s: GeneralSubtree) =>
    s.form === name.form || (s.form === "unsupported" && s.appliesTo === name.form);
  const permitted = constraints.permitted.filter(applies);
  const excluded = constraints.excluded.filter(applies);
  if (permitted.length === 0 && excluded.length === 0) return undefined;
  const form = formLabels[name.form];
  const cannotCheck = (reason: string): NameConstraintViolation => ({
    name,
    kind: "unsupported",
    message: `${name.label} cannot be checked against ${owner}'s ${form} name constraints: ${reason}`,
  });
  for (const subtree of [...excluded, ...permitted])
    if (subtree.form === "unsupported") return cannotCheck(`${subtree.reason} (${form}: ${subtree.text})`);
  for (const subtree of excluded) {
    const match = subtreeMatches(name, subtree, "excluded");
    if (typeof match === "object") return cannotCheck(match.cannotCheck);
    if (match)
      return {
        name,
        kind: "excluded",
        message: `${name.label} is inside ${owner}'s excluded subtree (${form}: ${subtree.text})`,
      };
  }
  if (permitted.length === 0) return undefined;
  let inside = false;
  for (const subtree of permitted) {
    const match = subtreeMatches(name, subtree, "permitted");
    if (typeof match === "object") return cannotCheck(match.cannotCheck);
    inside ||= match;
  }
  if (inside) return undefined;
  return {
    name,
    kind: "permitted",
    message: `${name.label} is outside ${owner}'s permitted subtrees (${form}: ${permitted.map((s) => s.text).join(", ")})`,
  };
}

/**
 * Whether `name` lies in `subtree` (of the same form). `mode` matters only
 * where verifiers differ and the stricter reading depends on the side:
 * wildcard dNSNames and the case of an rfc822Name local part.
 */
export function subtreeMatches(name: ConstrainedName, subtree: GeneralSubtree, mode: "permitted" | "excluded"): Match {
  switch (subtree.form) {
    case "dns":
      return name.form === "dns" && dnsMatches(name.value, subtree.value, mode);
    case "email":
      return name.form === "email" ? emailMatches(name.value, subtree.value, mode) : false;
    case "uri":
      return name.form === "uri" ? uriMatches(name.value, subtree.value) : false;
    case "ip":
      return name.form === "ip" && ipMatches(name.bytes, subtree.address, subtree.mask);
    case "directoryName":
      return name.form === "directoryName" && rdnPrefix(subtree.rdns, name.rdns);
    case "unsupported":
      return subtree.appliesTo === name.form ? { cannotCheck: subtree.reason } : false;
    case "other":
      return false;
  }
}

/**
 * dNSName (§4.2.1.10): "example.com" is the domain and every name below
 * it ("www.example.com", not "badexample.com"); ".example.com", which RFC
 * 5280 defines only for URIs and mailboxes but OpenSSL and Go accept here
 * too, is the names below it only. Case-insensitive (RFC 4343); an empty
 * constraint matches every name.
 */
export function dnsMatches(name: string, constraint: string, mode: "permitted" | "excluded" = "permitted"): boolean {
  const n = name.toLowerCase();
  const c = constraint.toLowerCase();
  if (c === "") return true;
  if (c.startsWith(".")) return n.length > c.length && n.endsWith(c);
  if (n === c || n.endsWith(`.${c}`)) return true;
  // A wildcard stands for every name one label below its base. OpenSSL compares "*" as a literal
  // label, so "*.example.com" passes an exclusion of "secret.example.com" there, yet it would
  // serve secret.example.com: on the excluded side, a wildcard covering the excluded name is a match.
  if (mode === "excluded" && n.startsWith("*.")) {
    const base = n.slice(1);
    return c.endsWith(base) && c.length > base.length && !c.slice(0, -base.length).includes(".");
  }
  return false;
}

/**
 * rfc822Name (§4.2.1.10): "root@example.com" is that mailbox,
 * "example.com" every mailbox at that host, ".example.com" every mailbox
 * at a host below it. Hosts compare case-insensitively; local parts
 * case-sensitively (RFC 5280 §7.5, OpenSSL) when permitting, and
 * case-insensitively when excluding, since many mail systems ignore case.
 */
export function emailMatches(mailbox: string, constraint: string, mode: "permitted" | "excluded" = "permitted"): Match {
  const at = mailbox.lastIndexOf("@");
  if (at < 0) return { cannotCheck: "the mailbox has no @" };
  const local = mailbox.slice(0, at);
  const host = mailbox.slice(at + 1).toLowerCase();
  const constraintAt = constraint.lastIndexOf("@");
  if (constraintAt >= 0) {
    const constraintLocal = constraint.slice(0, constraintAt);
    const sameLocal =
      constraintLocal === "" ||
      (mode === "excluded" ? constraintLocal.toLowerCase() === local.toLowerCase() : constraintLocal === local);
    return sameLocal && host === constraint.slice(constraintAt + 1).toLowerCase();
  }
  const c = constraint.toLowerCase();
  if (c.startsWith(".")) return host.length > c.length && host.endsWith(c);
  return host === c;
}

/**
 * uniformResourceIdentifier (§4.2.1.10): the constraint applies to the host
 * of the URI; "host.example.com" is that host, ".example.com" any host
 * below it. A URI without an authority whose host is a domain name (e.g.
 * "urn:...", or an IP literal) "MUST" be rejected. We also refuse a URI with
 * user information or an escaped host, where parsers disagree on the host
 * (OpenSSL takes everything up to ":" or "/").
 */
export function uriMatches(uri: string, constraint: string): Match {
  const host = uriHost(uri);
  if (typeof host === "object") return host;
  const c = constraint.toLowerCase();
  if (c.startsWith(".")) return host.length > c.length && host.endsWith(c);
  return host === c;
}

function uriHost(uri: string): string | { cannotCheck: string } {
  const authority = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?#]*)/.exec(uri)?.[1];
  if (authority === undefined) return { cannotCheck: "the URI has no authority (host) part" };
  if (authority.includes("@")) return { cannotCheck: "the URI carries user information before its host" };
  if (authority.startsWith("[")) return { cannotCheck: "the URI's host is an IP address" };
  const host = authority.replace(/:[0-9]*$/, "").toLowerCase();
  if (host === "") return { cannotCheck: "the URI has an empty host" };
  if (!/^[a-z0-9_.-]+$/.test(host)) return { cannotCheck: "the URI's host is not a plain domain name" };
  if (isIPv4(host)) return { cannotCheck: "the URI's host is an IP address" };
  return host;
}

/** iPAddress (§4.2.1.10): inside address/mask; an IPv4 constraint never matches an IPv6 address, nor the reverse. */
export function ipMatches(address: Uint8Array, base: Uint8Array, mask: Uint8Array): boolean {
  if (address.length !== base.length || mask.length !== base.length) return false;
  for (let i = 0; i < address.length; i++) if ((address[i]! & mask[i]!) !== (base[i]! & mask[i]!)) return false;
  return true;
}

/** directoryName (§4.2.1.10, §7.1): the constraint's RDNs are the first RDNs of the name. */
export function rdnPrefix(constraint: readonly CanonicalRdn[], name: readonly CanonicalRdn[]): boolean {
  if (constraint.length > name.length) return false;
  return constraint.every(
    (rdn, i) => rdn.length === name[i]!.length && rdn.every((member, j) => member === name[i]![j]),
  );
}

/**
 * A commonName that a host-name check would take for one: OpenSSL's rule
 * (cn2dnsid: letters, digits, "_", inner "-", two or more labels), which
 * also takes a dotted-quad IPv4 address; plus a leading "*." wildcard label.
 */
function commonNameAsHostname(value: string): string | undefined {
  const label = "[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?";
  const hostname = new RegExp(`^(?:\\*\\.)?${label}(?:\\.${label})+$`);
  return hostname.test(value) ? value.toLowerCase() : undefined;
}

/**
 * Every name of a certificate that name constraints apply to: the subject
 * DN when not empty (directoryName), its emailAddress attributes
 * (rfc822Name: §4.2.1.10 legacy rule, which OpenSSL applies always), each
 * SAN, and each commonName that looks like a host name (dNSName).
 *
 * RFC 5280 says nothing about the CN, but browsers and OpenSSL check a
 * host-name CN against dNSName constraints (OpenSSL's
 * NAME_CONSTRAINTS_check_CN, when the certificate has no dNSName SAN),
 * since a legacy client may still match the host against it. We check a
 * host-name CN always, which is stricter; a dotted-quad CN only when there
 * is no dNSName SAN, exactly when OpenSSL takes it for a host name.
 */
export function constrainedNames(subjectDer: Uint8Array, sans: readonly SubjectAltName[]): ConstrainedName[] {
  const names: ConstrainedName[] = [];
  const root = readRoot(subjectDer);
  const subject = parseName(subjectDer, root);
  const hasDnsSan = sans.some((san) => san.type === "dns");
  if (subject.attributes.length > 0) {
    names.push({
      form: "directoryName",
      rdns: canonicalRdns(subjectDer, root),
      label: `subject "${subject.text}"`,
    });
    for (const attribute of subject.attributes) {
      if (attribute.type === "emailAddress")
        names.push({ form: "email", value: attribute.value, label: `subject emailAddress ${attribute.value}` });
      if (attribute.type !== "CN") continue;
      const host = commonNameAsHostname(attribute.value);
      if (host === undefined || (isIPv4(host) && hasDnsSan)) continue;
      names.push({ form: "dns", value: host, label: `subject CN ${attribute.value} (as a host name)` });
    }
  }
  for (const san of sans) {
    // RFC 5280 §4.2.1.10: an otherName is constrained only by otherName subtrees, which we never write.
    if (san.type === "otherName") continue;
    const label = `${san.type}:${san.value}`;
    if (san.type === "ip") {
      const bytes = parseIpAddress(san.value);
      if (!bytes) throw new ChanceryError("invalid_argument", `"${san.value}" is not an IP address`);
      names.push({ form: "ip", bytes, label });
    } else {
      names.push({ form: san.type, value: san.value, label });
    }
  }
  return names;
}

/** The first violation among all of a certificate's names, or undefined. */
export function checkCertificateNames(
  constraints: NameConstraintsView,
  names: readonly ConstrainedName[],
  owner?: string,
): NameConstraintViolation | undefined {
  for (const name of names) {
    const violation = findNameConstraintViolation(constraints, name, owner);
    if (violation) return violation;
  }
  return undefined;
}
