import { isIP } from "node:net";
import { type DnsLookup, describeLookup, normalizeName } from "./dns-lookup.ts";

export type AddressResolution =
  | {
      readonly ok: true;
      /** Where to connect, in order: the first IPv4 address, then the first IPv6 address as a fallback. */
      readonly addresses: readonly string[];
      /** The resolver's answers, for the validation record. */
      readonly record: Record<string, unknown>;
    }
  | {
      readonly ok: false;
      readonly detail: string;
      readonly retryable: boolean;
      readonly record: Record<string, unknown>;
    };

/**
 * The addresses a validation connects to (RFC 8555 §8.3, RFC 8737 §3): a
 * host name is resolved through our own resolver, A first, then AAAA; an IP
 * literal (an RFC 8738 ip identifier) is its own address. Only the first
 * address of each family is tried, as Boulder does, so one name cannot make
 * us open an unbounded number of connections.
 */
export async function resolveAddresses(dns: DnsLookup, host: string): Promise<AddressResolution> {
  if (isIP(host) !== 0) return { ok: true, addresses: [host], record: { literal: host } };
  const name = normalizeName(host);
  const [a, aaaa] = await Promise.all([dns.a(name), dns.aaaa(name)]);
  const record = { name, A: describeLookup(a), AAAA: describeLookup(aaaa) };
  const addresses = [
    ...(a.kind === "answer" ? a.records.slice(0, 1) : []),
    ...(aaaa.kind === "answer" ? aaaa.records.slice(0, 1) : []),
  ];
  if (addresses.length > 0) return { ok: true, addresses, record };
  const failure = [a, aaaa].find((r) => r.kind === "failure");
  if (failure?.kind === "failure")
    return {
      ok: false,
      detail: `DNS problem: ${failure.detail} looking up addresses for ${name}`,
      retryable: true,
      record,
    };
  return { ok: false, detail: `DNS problem: no A or AAAA record found for ${name}`, retryable: false, record };
}

/** A host as it appears in a URL authority or Host header: IPv6 literals in brackets (RFC 3986 §3.2.2). */
export function urlHost(host: string): string {
  return isIP(host) === 6 ? `[${host}]` : host;
}
