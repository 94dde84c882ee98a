import { parseIpAddress } from "../../x509/ip-address.ts";

/**
 * RFC 8738 §6: the tls-alpn-01 SNI for an IP identifier is its reverse
 * mapping name: the octets of an IPv4 address in reverse under in-addr.arpa
 * (RFC 1035 §3.5), the nibbles of an IPv6 address in reverse under ip6.arpa
 * (RFC 3596 §2.5). Undefined when `ip` is not an address.
 */
export function reverseDnsName(ip: string): string | undefined {
  const bytes = parseIpAddress(ip);
  if (!bytes) return undefined;
  if (bytes.length === 4) return `${[...bytes].reverse().join(".")}.in-addr.arpa`;
  const nibbles: string[] = [];
  for (const byte of bytes) nibbles.push((byte >> 4).toString(16), (byte & 0x0f).toString(16));
  return `${nibbles.reverse().join(".")}.ip6.arpa`;
}
