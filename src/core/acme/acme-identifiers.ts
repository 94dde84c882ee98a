import { createHash } from "node:crypto";
import { dnsNameProblem } from "../issuance/subject-alt-name-syntax.ts";
import type { SubjectAltName } from "../x509/general-name.ts";
import { formatIpAddress, parseIpAddress } from "../x509/ip-address.ts";
import { AcmeProblem, type ProblemDocument, problemDocument } from "./acme-problem.ts";
import type { AcmeIdentifier } from "./acme-types.ts";

/** Boulder's limit too: more names than this in one order is a mistake or an abuse. */
export const maxIdentifiersPerOrder = 100;

/**
 * The identifiers of a newOrder or newAuthz payload, validated and
 * normalised: dns names lower-cased LDH (A-labels for IDNs, RFC 8555
 * §7.1.4), a wildcard only as the whole leftmost label; ip addresses in
 * canonical text form (RFC 8738 §3). Sorted and without duplicates, so
 * equal sets compare equal. Every bad identifier is named in a
 * subproblem (RFC 8555 §6.7.1).
 */
export function parseIdentifiers(value: unknown, options: { allowWildcard: boolean }): AcmeIdentifier[] {
  if (!Array.isArray(value) || value.length === 0)
    throw new AcmeProblem("malformed", "identifiers must be a non-empty array of {type, value} objects");
  if (value.length > maxIdentifiersPerOrder)
    throw new AcmeProblem("rejectedIdentifier", `an order may name at most ${maxIdentifiersPerOrder} identifiers`);
  const problems: ProblemDocument[] = [];
  const seen = new Map<string, AcmeIdentifier>();
  for (const entry of value) {
    const parsed = parseIdentifier(entry, options);
    if ("problem" in parsed) problems.push(parsed.problem);
    else seen.set(identifierKey(parsed.identifier), parsed.identifier);
  }
  if (problems.length === 1) {
    const only = problems[0]!;
    throw new AcmeProblem(
      only.type.endsWith("unsupportedIdentifier") ? "unsupportedIdentifier" : "rejectedIdentifier",
      only.detail,
      {
        ...(only.identifier ? { identifier: only.identifier } : {}),
        subproblems: problems,
      },
    );
  }
  if (problems.length > 1)
    throw new AcmeProblem("compound", `${problems.length} identifiers were refused; see subproblems`, {
      status: 400,
      subproblems: problems,
    });
  return [...seen.values()].sort(compareIdentifiers);
}

/** One identifier object, or the subproblem that refuses it. */
export function parseIdentifier(
  entry: unknown,
  options: { allowWildcard: boolean },
): { identifier: AcmeIdentifier } | { problem: ProblemDocument } {
  if (typeof entry !== "object" || entry === null)
    return { problem: problemDocument("malformed", "an identifier must be an object {type, value}") };
  const { type, value } = entry as { type?: unknown; value?: unknown };
  if (typeof value !== "string" || value.length === 0 || typeof type !== "string")
    return { problem: problemDocument("malformed", "an identifier needs a string type and a non-empty string value") };
  const shown = { type: type as AcmeIdentifier["type"], value: value.slice(0, 300) };
  if (type === "dns") {
    const name = value.toLowerCase();
    const reason = dnsNameProblem(name, options.allowWildcard);
    if (reason)
      return {
        problem: problemDocument("rejectedIdentifier", `dns identifier "${shown.value}" ${reason}`, {
          identifier: shown,
        }),
      };
    return { identifier: { type: "dns", value: name } };
  }
  if (type === "ip") {
    const bytes = parseIpAddress(value);
    if (!bytes)
      return {
        problem: problemDocument(
          "rejectedIdentifier",
          `ip identifier "${shown.value}" is not an IPv4 or IPv6 address`,
          {
            identifier: shown,
          },
        ),
      };
    return { identifier: { type: "ip", value: formatIpAddress(bytes) } };
  }
  return {
    problem: problemDocument(
      "unsupportedIdentifier",
      `identifier type "${String(type).slice(0, 40)}" is not supported (dns and ip are)`,
      {
        identifier: shown,
      },
    ),
  };
}

export function identifierKey(identifier: AcmeIdentifier): string {
  return `${identifier.type}:${identifier.value}`;
}

export function compareIdentifiers(a: AcmeIdentifier, b: AcmeIdentifier): number {
  const ka = identifierKey(a);
  const kb = identifierKey(b);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/** The per-identifier-set rate limit key: SHA-256 over the sorted set. */
export function identifierSetHash(identifiers: readonly AcmeIdentifier[]): string {
  const hash = createHash("sha256");
  for (const id of [...identifiers].sort(compareIdentifiers)) hash.update(`${identifierKey(id)}\n`);
  return hash.digest("base64url");
}

/** "*.example.com" → the authorization's identifier example.com, wildcard (RFC 8555 §7.1.4). */
export function authorizationIdentifier(identifier: AcmeIdentifier): { identifier: AcmeIdentifier; wildcard: boolean } {
  if (identifier.type === "dns" && identifier.value.startsWith("*."))
    return { identifier: { type: "dns", value: identifier.value.slice(2) }, wildcard: true };
  return { identifier, wildcard: false };
}

/** The SANs a certificate for these identifiers carries. */
export function subjectAltNamesOf(identifiers: readonly AcmeIdentifier[]): SubjectAltName[] {
  return identifiers.map((id) => ({ type: id.type, value: id.value }));
}

/**
 * Internal-PKI mode: does one of the directory's trusted patterns cover the
 * identifier? "host.corp" exact, "*.corp" any name below corp (any depth),
 * "10.0.0.0/8" or "10.1.2.3" for ip. A wildcard identifier "*.x.corp" is
 * covered by "*.corp" or "*.x.corp".
 */
export function trustedPatternCovers(pattern: string, identifier: AcmeIdentifier): boolean {
  if (identifier.type === "dns") {
    const name = identifier.value;
    if (pattern.startsWith("*.")) {
      const suffix = pattern.slice(1);
      return name.endsWith(suffix) && name.length > suffix.length;
    }
    return pattern.toLowerCase() === name;
  }
  const address = parseIpAddress(identifier.value);
  if (!address) return false;
  const slash = pattern.indexOf("/");
  const base = parseIpAddress(slash < 0 ? pattern : pattern.slice(0, slash));
  if (!base || base.length !== address.length) return false;
  const bits = slash < 0 ? base.length * 8 : Number(pattern.slice(slash + 1));
  if (!Number.isInteger(bits) || bits < 0 || bits > base.length * 8) return false;
  for (let i = 0; i < bits; i++) {
    const mask = 0x80 >> (i % 8);
    if ((address[i >> 3]! & mask) !== (base[i >> 3]! & mask)) return false;
  }
  return true;
}
