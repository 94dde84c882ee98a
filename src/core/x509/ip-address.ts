import { isIPv4, isIPv6 } from "node:net";

/**
 * IP addresses as they go into an iPAddress GeneralName (RFC 5280 §4.2.1.6:
 * 4 octets for IPv4, 16 for IPv6, network byte order) and back.
 */

/** 4 or 16 octets, or undefined when `text` is not a plain IPv4/IPv6 address (zone ids are refused). */
export function parseIpAddress(text: string): Uint8Array | undefined {
  if (isIPv4(text)) return parseIpv4(text);
  if (isIPv6(text) && !text.includes("%")) return parseIpv6(text);
  return undefined;
}

function parseIpv4(text: string): Uint8Array | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const part = parts[i]!;
    // node:net accepts only canonical dotted quads; re-check to be independent of it.
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part) || Number(part) > 255) return undefined;
    out[i] = Number(part);
  }
  return out;
}

function parseIpv6(text: string): Uint8Array | undefined {
  let head = text;
  let v4: Uint8Array | undefined;
  const lastColon = text.lastIndexOf(":");
  if (text.slice(lastColon + 1).includes(".")) {
    v4 = parseIpv4(text.slice(lastColon + 1));
    if (!v4) return undefined;
    // Keep the trailing ":" when it belongs to a "::" so the split below sees it.
    head = text.slice(0, lastColon + 1);
    if (head.endsWith(":") && !head.endsWith("::")) head = head.slice(0, -1);
  }
  const groupsWanted = v4 ? 6 : 8;
  const halves = head.split("::");
  if (halves.length > 2) return undefined;
  const toGroups = (s: string): number[] | undefined => {
    if (s === "") return [];
    const out: number[] = [];
    for (const g of s.split(":")) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(Number.parseInt(g, 16));
    }
    return out;
  };
  const left = toGroups(halves[0]!);
  const right = halves.length === 2 ? toGroups(halves[1]!) : [];
  if (!left || !right) return undefined;
  let groups: number[];
  if (halves.length === 2) {
    const missing = groupsWanted - left.length - right.length;
    if (missing < 1) return undefined;
    groups = [...left, ...new Array<number>(missing).fill(0), ...right];
  } else {
    groups = left;
  }
  if (groups.length !== groupsWanted) return undefined;
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  if (v4) out.set(v4, 12);
  return out;
}

/**
 * Text form of 4 or 16 octets; IPv6 in the RFC 5952 §4 canonical form
 * (lower case, no leading zeros, the longest run of two or more zero groups
 * shortened to "::", the first one on a tie) and §5 mixed notation for
 * IPv4-mapped addresses.
 */
export function formatIpAddress(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join(".");
  if (bytes.length !== 16) return `#${Buffer.from(bytes).toString("hex")}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff)
    return `::ffff:${Array.from(bytes.subarray(12)).join(".")}`;
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLength).join(":")}`;
}

/**
 * A CIDR block as the address-then-mask octets of a name constraint
 * (RFC 5280 §4.2.1.10: 8 octets for IPv4, 32 for IPv6). Host bits must be
 * zero so that a typo such as 10.1.2.3/8 is refused rather than widened.
 */
export function parseCidr(text: string): Uint8Array | undefined {
  const slash = text.indexOf("/");
  if (slash < 0) return undefined;
  const address = parseIpAddress(text.slice(0, slash));
  const prefixText = text.slice(slash + 1);
  if (!address || !/^(0|[1-9][0-9]{0,2})$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  if (prefix > address.length * 8) return undefined;
  const mask = new Uint8Array(address.length);
  for (let bit = 0; bit < prefix; bit++) mask[bit >> 3] = (mask[bit >> 3] ?? 0) | (0x80 >> (bit & 7));
  for (let i = 0; i < address.length; i++) if ((address[i]! & ~mask[i]!) !== 0) return undefined;
  const out = new Uint8Array(address.length * 2);
  out.set(address, 0);
  out.set(mask, address.length);
  return out;
}

/** Text form of a name-constraint address+mask ("10.0.0.0/8"), or hex when the mask is not a prefix. */
export function formatCidr(bytes: Uint8Array): string {
  const half = bytes.length / 2;
  const mask = bytes.subarray(half);
  let prefix = 0;
  while (prefix < half * 8 && mask[prefix >> 3]! & (0x80 >> (prefix & 7))) prefix++;
  for (let bit = prefix; bit < half * 8; bit++)
    if (mask[bit >> 3]! & (0x80 >> (bit & 7))) return `#${Buffer.from(bytes).toString("hex")}`;
  return `${formatIpAddress(bytes.subarray(0, half))}/${prefix}`;
}
