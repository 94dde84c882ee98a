import type { ScepEndpoint } from "./scep-types.ts";

/**
 * RFC 8894 §3.5.2 GetCACaps keywords an endpoint advertises. AES and
 * SHA-256 are what a conforming client must then use; SHA-1 and DES3 are
 * offered only to endpoints opened to legacy devices. "SCEPStandard" says
 * we implement the whole RFC (it implies AES, POSTPKIOperation, SHA-256).
 */
export function scepCapabilities(endpoint: ScepEndpoint): string[] {
  const caps = ["AES", "POSTPKIOperation", "SCEPStandard", "SHA-256", "SHA-512"];
  if (endpoint.renewalAllowed) caps.push("Renewal");
  if (endpoint.nextCaId) caps.push("GetNextCACert");
  if (endpoint.legacyCrypto) caps.push("DES3", "SHA-1");
  return caps.sort();
}
