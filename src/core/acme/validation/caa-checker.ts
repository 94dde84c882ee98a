import { isIP } from "node:net";
import { type ProblemDocument, problemDocument } from "../acme-problem.ts";
import type { AcmeIdentifier } from "../acme-types.ts";
import { parseCaaIssueValue } from "./caa-issue-value.ts";
import type { CaaChecker, CaaCheckInput } from "./challenge-validator.ts";
import { type CaaRecord, type DnsLookup, normalizeName } from "./dns-lookup.ts";

export interface CaaCheckerOptions {
  readonly dns: DnsLookup;
}

/**
 * Property tags we understand, so that their Issuer Critical flag does not
 * block issuance: RFC 8659 §4.2–4.4 (issue, issuewild, iodef), CA/B Forum
 * BR Appendix A (contactemail, contactphone), RFC 9495 (issuemail, which
 * governs S/MIME only and so never authorizes or forbids a TLS certificate).
 */
const knownTags: ReadonlySet<string> = new Set([
  "issue",
  "issuewild",
  "iodef",
  "contactemail",
  "contactphone",
  "issuemail",
]);

/** RFC 8659 §4.1: bit 0 (the high-order bit, 128) of the flags octet is Issuer Critical. */
const issuerCriticalFlag = 0x80;

/**
 * RFC 8659 CAA with the RFC 8657 account and method bindings.
 *
 * Lookup failures: RFC 8659 §3 lets a CA issue despite a failed lookup only
 * when the failure is shown to be outside any DNSSEC-signed zone (the CA/B
 * BRs §3.2.2.8 add: outside the CA's infrastructure and retried). node:dns
 * does not expose DNSSEC validation state (no AD bit), so we cannot show
 * that, and choose the strict reading: any SERVFAIL, timeout or unreadable
 * answer refuses issuance with a `dns` problem. NXDOMAIN and NODATA are
 * answers ("no CAA here"), not failures.
 */
export function createCaaChecker(options: CaaCheckerOptions): CaaChecker {
  const { dns } = options;

  return {
    async check(input: CaaCheckInput): Promise<ProblemDocument | null> {
      let domain = normalizeName(input.domain);
      let wildcard = input.wildcard;
      if (domain.startsWith("*.")) {
        domain = domain.slice(2);
        wildcard = true;
      }
      // RFC 8738 does not define CAA for IP addresses; the caller only asks for dns identifiers.
      if (isIP(domain) !== 0) return null;
      const identifier: AcmeIdentifier = { type: "dns", value: wildcard ? `*.${domain}` : domain };

      // RFC 8659 §3: the relevant RRset is the first non-empty CAA RRset found
      // climbing from the name itself towards (not including) the root. The
      // resolver follows CNAMEs at each step; after an alias, climbing goes on
      // from the parent of the original name, not of the alias target.
      const labels = domain.split(".");
      let relevant: readonly CaaRecord[] | undefined;
      let foundAt = "";
      for (let i = 0; i < labels.length; i++) {
        const name = labels.slice(i).join(".");
        const answer = await dns.caa(name);
        if (answer.kind === "failure")
          return problemDocument("dns", `DNS problem: ${answer.detail} looking up CAA for ${name}`, { identifier });
        if (answer.kind === "answer") {
          relevant = answer.records;
          foundAt = name;
          break;
        }
      }
      if (!relevant) return null;

      const refuse = (why: string) =>
        problemDocument("caa", `CAA record for ${foundAt} prevents issuance: ${why}`, { identifier });

      // RFC 8659 §4.1: an Issuer Critical property we do not understand forbids issuance.
      const unknownCritical = relevant.find(
        (r) => (r.flags & issuerCriticalFlag) !== 0 && !knownTags.has(r.tag.toLowerCase()),
      );
      if (unknownCritical) return refuse(`critical property ${JSON.stringify(unknownCritical.tag)} is not understood`);

      // RFC 8659 §4.3: for a wildcard, issuewild properties take precedence
      // over issue when there are any; for any other name they are ignored.
      const ofTag = (tag: string) => relevant.filter((r) => r.tag.toLowerCase() === tag);
      const issuewild = ofTag("issuewild");
      const properties = wildcard && issuewild.length > 0 ? issuewild : ofTag("issue");
      // RFC 8659 §4.2: an RRset without issue (or, here, issuewild) properties does not restrict issuance.
      if (properties.length === 0) return null;

      const ours = new Set(input.caaIdentities.map((id) => normalizeName(id)));
      let closest = `no ${properties[0]!.tag.toLowerCase()} property names this CA (${[...ours].join(", ") || "none configured"})`;
      for (const property of properties) {
        const value = parseCaaIssueValue(property.value);
        // A malformed value, or ";" (no issuer-domain-name), authorizes no one (§4.2).
        if (!value?.issuerDomainName || !ours.has(value.issuerDomainName)) continue;
        // RFC 8657 §3: accounturi binds issuance to one ACME account URI, compared exactly.
        const accountUris = value.parameters.get("accounturi");
        if (accountUris && (accountUris.length !== 1 || accountUris[0] !== input.accountUri)) {
          closest = "the accounturi parameter does not match the requesting account";
          continue;
        }
        // RFC 8657 §4: validationmethods lists the methods allowed, comma separated.
        const methods = value.parameters.get("validationmethods");
        if (methods && (methods.length !== 1 || !methods[0]!.split(",").includes(input.validationMethod))) {
          closest = `the validationmethods parameter does not allow ${input.validationMethod}`;
          continue;
        }
        return null;
      }
      return refuse(closest);
    },
  };
}
