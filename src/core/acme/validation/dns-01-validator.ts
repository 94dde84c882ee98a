import type { ValidationInput, ValidationResult } from "./challenge-validator.ts";
import { type DnsLookup, describeLookup } from "./dns-lookup.ts";
import { dns01TxtValue } from "./key-authorization-digest.ts";
import { targetHost } from "./target-host.ts";
import { quoteRemote, validationFailure } from "./validation-outcome.ts";

/**
 * RFC 8555 §8.4 dns-01: a TXT record at _acme-challenge.<domain> whose value
 * is base64url(SHA-256(keyAuthorization)). The recursive resolver follows a
 * CNAME at that name (delegating the challenge to another zone is the common
 * deployment). Other TXT values may sit beside ours, e.g. for the other
 * names of a wildcard + base order; one match is enough.
 */
export async function validateDns01(input: ValidationInput, dns: DnsLookup): Promise<ValidationResult> {
  const { identifier } = input;
  // RFC 8738 §7: dns-01 cannot prove control of an IP address. The order layer refuses it first.
  if (identifier.type !== "dns")
    return validationFailure(
      "malformed",
      "dns-01 cannot be used for an ip identifier (RFC 8738 §7)",
      identifier,
      {},
      false,
    );
  const host = targetHost(identifier);
  if (!host.ok) return validationFailure("malformed", host.detail, identifier, {}, false);

  const name = `_acme-challenge.${host.host}`;
  const expected = dns01TxtValue(input.keyAuthorization);
  const answer = await dns.txt(name);
  const record = { name, expected, TXT: describeLookup(answer) };
  switch (answer.kind) {
    case "failure":
      return validationFailure(
        "dns",
        `DNS problem: ${answer.detail} looking up TXT for ${name}`,
        identifier,
        record,
        true,
      );
    case "nxdomain":
    case "nodata":
      return validationFailure("unauthorized", `no TXT record found at ${name}`, identifier, record, false);
    case "answer": {
      // Compared exactly, as Boulder and Pebble do: the value is a fixed-length base64url string.
      if (answer.records.includes(expected)) return { valid: true, record };
      const others = answer.records.length > 1 ? ` (and ${answer.records.length - 1} more)` : "";
      return validationFailure(
        "incorrectResponse",
        `incorrect TXT record ${quoteRemote(answer.records[0]!)}${others} found at ${name}`,
        identifier,
        record,
        false,
      );
    }
  }
}
