import { maxOcspRequestBytes } from "./ocsp-request.ts";
import { type OcspParseResult, refusal } from "./ocsp-request-problem.ts";

/**
 * Longest path we decode: the base64 of maxOcspRequestBytes with every
 * character percent-encoded. In practice the HTTP server's header limit
 * (16 KiB in Node) is reached first; this bounds the work regardless.
 */
const maxPathLength = 3 * 4 * Math.ceil(maxOcspRequestBytes / 3);

const percentEscape = /%([0-9A-Fa-f]{2})?/g;
const base64Body = /^[A-Za-z0-9+/]+$/;

/**
 * The DER OCSPRequest carried in a GET URL (RFC 6960 Appendix A.1:
 * {url}/{url-encoding of base-64 encoding of the DER OCSPRequest}).
 *
 * `path` is what follows the responder's base path, exactly as it arrived:
 * not yet percent-decoded, without query string. Clients disagree on the
 * encoding, so all of these are read the same way:
 * - URL-encoded base64 (`%2B`, `%2F`, `%3D`, any case), as the RFC asks;
 * - raw `+` and `/` (many clients skip the URL encoding; `/` then splits the
 *   path into segments, which is why the whole rest of the path is passed);
 * - a space for `+` (a proxy or framework that decoded `+` as in a query);
 * - base64url `-` and `_` (no standard asks for it, but it cannot be confused
 *   with anything else);
 * - missing `=` padding.
 * Leading slashes are dropped (base64 of a DER SEQUENCE starts with "M", never "/").
 *
 * Never throws; the DER itself is checked by parseOcspRequest.
 */
export function decodeOcspGetPath(path: string): OcspParseResult<Uint8Array> {
  if (path.length > maxPathLength) return refusal("too_large", "the GET request path is too long");
  let start = 0;
  while (start < path.length && path.charCodeAt(start) === 0x2f) start++;
  let text = path.slice(start);
  if (text.length === 0) return refusal("empty", "the GET request path is empty");

  if (text.includes("%")) {
    let bad = false;
    text = text.replace(percentEscape, (_, hex: string | undefined) => {
      if (hex === undefined) {
        bad = true;
        return "";
      }
      return String.fromCharCode(Number.parseInt(hex, 16));
    });
    if (bad) return refusal("bad_base64", "the GET request path has a malformed percent escape");
  }
  text = text.replace(/[ \-_]/g, (c) => (c === "_" ? "/" : "+"));

  // RFC 4648 §3.2 padding is optional here: drop it, then check the length it implies.
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === 0x3d && text.length - end < 2) end--;
  const body = text.slice(0, end);
  if (body.length === 0 || !base64Body.test(body) || body.length % 4 === 1)
    return refusal("bad_base64", "the GET request path is not base64");
  if (end !== text.length && (body.length + (text.length - end)) % 4 !== 0)
    return refusal("bad_base64", "the GET request path has wrong base64 padding");

  const der = new Uint8Array(Buffer.from(body, "base64"));
  if (der.length > maxOcspRequestBytes)
    return refusal("too_large", `the request is larger than ${maxOcspRequestBytes} octets`);
  return { ok: true, value: der };
}
