import { ChanceryError } from "../errors.ts";
import { formatCidr, parseCidr, parseIpAddress } from "../x509/ip-address.ts";

/**
 * Allowed-subnet checks for users' calls. Addresses and CIDR blocks are
 * compared in one 128-bit space where an IPv4 address a.b.c.d is the same
 * as its IPv4-mapped IPv6 form ::ffff:a.b.c.d (RFC 4291 §2.5.5.2), because
 * a dual-stack listener reports IPv4 clients in that form. So 10.0.0.0/8
 * admits ::ffff:10.1.2.3, ::ffff:10.0.0.0/104 admits 10.1.2.3, and ::/0
 * admits every address, IPv4 included.
 */

/**
 * Checks one CIDR block and returns its canonical text (lower-case,
 * RFC 5952 compressed IPv6). Throws invalid_argument with a message that
 * names `field` and says what is wrong.
 */
export function normalizeSubnet(text: string, field: string): string {
  const value = text.trim();
  const slash = value.indexOf("/");
  if (slash < 0) {
    if (parseIpAddress(value))
      throw new ChanceryError(
        "invalid_argument",
        `${field}: "${value}" is an address, not a CIDR block; write ${value}/${value.includes(":") ? 128 : 32} for that one address`,
      );
    throw new ChanceryError(
      "invalid_argument",
      `${field}: "${value}" is not a CIDR block (an address and a prefix length, e.g. 10.0.0.0/8 or 2001:db8::/32)`,
    );
  }
  const addressText = value.slice(0, slash);
  const address = parseIpAddress(addressText);
  if (!address)
    throw new ChanceryError(
      "invalid_argument",
      `${field}: "${addressText}" in "${value}" is not an IPv4 or IPv6 address`,
    );
  const bits = address.length * 8;
  const prefixText = value.slice(slash + 1);
  if (!/^(0|[1-9][0-9]{0,2})$/.test(prefixText) || Number(prefixText) > bits)
    throw new ChanceryError(
      "invalid_argument",
      `${field}: prefix length "${prefixText}" in "${value}" must be a number from 0 to ${bits} for ${bits === 32 ? "IPv4" : "IPv6"}`,
    );
  const prefix = Number(prefixText);
  const cidr = parseCidr(value);
  if (!cidr) {
    // Only host bits can be left: refuse rather than widen a typo such as 10.1.2.3/8.
    const network = address.map((octet, i) => octet & maskOctet(prefix, i));
    const suggestion = formatCidr(new Uint8Array([...network, ...network.map((_, i) => maskOctet(prefix, i))]));
    throw new ChanceryError(
      "invalid_argument",
      `${field}: "${value}" has bits set after the /${prefix} prefix; did you mean ${suggestion}?`,
    );
  }
  return formatCidr(cidr);
}

/** True when `ip` lies in one of `subnets` (canonical CIDR text), or when `subnets` is empty (anywhere). */
export function ipAllowed(ip: string, subnets: readonly string[]): boolean {
  if (subnets.length === 0) return true;
  const address = parseIpAddress(ip);
  if (!address) return false;
  const mapped = toMapped(address);
  return subnets.some((subnet) => {
    const block = parseCidr(subnet);
    if (!block) return false;
    const half = block.length / 2;
    const network = toMapped(block.subarray(0, half));
    const mask =
      half === 4 ? new Uint8Array([...new Array<number>(12).fill(0xff), ...block.subarray(4)]) : block.subarray(16);
    for (let i = 0; i < 16; i++) if ((mapped[i]! & mask[i]!) !== network[i]) return false;
    return true;
  });
}

function maskOctet(prefix: number, index: number): number {
  const bits = Math.min(8, Math.max(0, prefix - index * 8));
  return (0xff00 >> bits) & 0xff;
}

/** 16 octets: an IPv6 address as is, an IPv4 address as ::ffff:a.b.c.d. */
function toMapped(address: Uint8Array): Uint8Array {
  if (address.length === 16) return address;
  const out = new Uint8Array(16);
  out[10] = 0xff;
  out[11] = 0xff;
  out.set(address, 12);
  return out;
}
