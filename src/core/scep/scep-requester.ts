/** requests.protocol_requester allows "<scheme>:<printable ASCII>" up to 512 characters (migrations/0017). */
const maxRequesterLength = 512;

/**
 * Who asked, as the issuance and the audit record it:
 * "scep:<endpoint>/<transactionID>". A transactionID is a PrintableString
 * (RFC 8894 §3.2.1.1) and may hold spaces: those, and anything outside
 * printable ASCII, are percent-encoded so the requester stays one token.
 */
export function scepRequester(endpointName: string, transactionId: string): string {
  const escaped = transactionId.replace(/[^\x21-\x7e]|%/g, (c) =>
    Array.from(Buffer.from(c, "utf8"), (b) => `%${b.toString(16).toUpperCase().padStart(2, "0")}`).join(""),
  );
  return `scep:${endpointName}/${escaped}`.slice(0, maxRequesterLength);
}
