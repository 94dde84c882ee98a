import { formatIpAddress, parseIpAddress } from "../../x509/ip-address.ts";
import type { AcmeIdentifier } from "../acme-types.ts";
import { normalizeName } from "./dns-lookup.ts";

/**
 * The host a challenge is checked against: a dns identifier's name (lower
 * case, no trailing dot), or an ip identifier's address in canonical form
 * (RFC 8738 §3; RFC 5952 for IPv6). A wildcard is refused: RFC 8555 §7.1.3
 * says its authorization is for the base name, which the caller passes.
 */
export function targetHost(identifier: AcmeIdentifier): { ok: true; host: string } | { ok: false; detail: string } {
  if (identifier.type === "ip") {
    const bytes = parseIpAddress(identifier.value);
    return bytes
      ? { ok: true, host: formatIpAddress(bytes) }
      : { ok: false, detail: `${JSON.stringify(identifier.value)} is not an IP address` };
  }
  const host = normalizeName(identifier.value);
  if (host.startsWith("*.")) return { ok: false, detail: "a wildcard identifier is validated for its base domain" };
  if (host === "" || !/^[a-z0-9_.-]+$/.test(host))
    return { ok: false, detail: `${JSON.stringify(identifier.value)} is not a DNS name` };
  return { ok: true, host };
}
