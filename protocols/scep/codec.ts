import type { IncomingMessage } from "node:http";
import { type ScepOperation, scepOperations } from "./types.ts";

/**
 * The largest PKIOperation accepted, in either form. A PKCSReq with a 4096-bit
 * key and a chain is under 10 KiB; 256 KiB leaves room for odd clients and
 * bounds the work hostile input can cause.
 */
export const maxScepMessageBytes = 256 * 1024;

/** A refusal before any SCEP message exists to answer with a CertRep: HTTP status and a plain-text reason. */
export class ScepHttpError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = "ScepHttpError";
    this.status = status;
  }
}

/**
 * Reads the query string by hand. URLSearchParams would turn a raw "+" into a
 * space, and the base64 message of a GET PKIOperation often carries raw "+"
 * and "/" (macOS, Cisco IOS do not escape them, RFC 8894 §4.3).
 */
export function readQuery(rawQuery: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const pair of rawQuery.split("&")) {
    if (!pair) continue;
    const eq = pair.indexOf("=");
    const key = eq < 0 ? pair : pair.slice(0, eq);
    const value = eq < 0 ? "" : pair.slice(eq + 1);
    let name: string;
    let decoded: string;
    try {
      name = decodeURIComponent(key);
      decoded = decodeURIComponent(value);
    } catch {
      throw new ScepHttpError(400, "the query string is not valid percent-encoding");
    }
    if (!out.has(name)) out.set(name, decoded);
  }
  return out;
}

export function operationOf(query: Map<string, string>): ScepOperation {
  const operation = query.get("operation");
  if (operation === undefined) throw new ScepHttpError(400, "missing the operation parameter (RFC 8894 §4.1)");
  const known = scepOperations.find((o) => o.toLowerCase() === operation.toLowerCase());
  if (!known) throw new ScepHttpError(400, `unsupported operation ${JSON.stringify(operation.slice(0, 40))}`);
  return known;
}

const base64Chars = /^[A-Za-z0-9+/_-]*={0,2}$/;

/**
 * A GET PKIOperation's message (RFC 8894 §4.3): base64, standard or
 * URL-safe, with or without padding. A "+" that a proxy turned into a space
 * is turned back; line breaks some clients leave in are dropped.
 */
export function decodeMessageParameter(text: string | undefined): Buffer {
  if (!text) throw new ScepHttpError(400, "PKIOperation over GET needs a message parameter (RFC 8894 §4.3)");
  const compact = text.replace(/[\r\n\t]/g, "").replace(/ /g, "+");
  if (compact.length > Math.ceil((maxScepMessageBytes * 4) / 3) + 4)
    throw new ScepHttpError(413, "the message is too large");
  if (!base64Chars.test(compact)) throw new ScepHttpError(400, "the message parameter is not base64");
  const standard = compact.replace(/-/g, "+").replace(/_/g, "/").replace(/=+$/, "");
  if (standard.length % 4 === 1) throw new ScepHttpError(400, "the message parameter is not base64");
  return Buffer.from(standard, "base64");
}

/**
 * A POST PKIOperation body (RFC 8894 §4.3): the binary pkiMessage. A few old
 * clients post it base64-encoded; a body that does not start like DER/BER
 * (a SEQUENCE, 0x30) is read as base64.
 */
export async function readPkiMessageBody(req: IncomingMessage): Promise<Buffer> {
  const declared = Number(req.headers["content-length"] ?? Number.NaN);
  if (declared > maxScepMessageBytes * 2) throw new ScepHttpError(413, "the request body is too large");
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxScepMessageBytes * 2) {
      req.resume();
      throw new ScepHttpError(413, "the request body is too large");
    }
    chunks.push(chunk);
  }
  const body = Buffer.concat(chunks);
  if (body.length === 0) throw new ScepHttpError(400, "empty PKIOperation body");
  if (body[0] === 0x30) {
    if (body.length > maxScepMessageBytes) throw new ScepHttpError(413, "the request body is too large");
    return body;
  }
  return decodeMessageParameter(body.toString("latin1"));
}
