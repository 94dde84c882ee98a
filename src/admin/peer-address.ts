import { createContextKey } from "@connectrpc/connect";

/**
 * The client's IP address, taken from the TCP connection (not from a
 * header a client could forge), for audit and per-user subnet checks.
 */
export const peerAddressKey = createContextKey<string>("", { description: "client IP address" });

/** "::ffff:127.0.0.1" → "127.0.0.1", so IPv4 clients match IPv4 subnets. */
export function normalizePeerAddress(address: string | undefined): string {
  if (!address) return "";
  return address.startsWith("::ffff:") && address.includes(".") ? address.slice(7) : address;
}
