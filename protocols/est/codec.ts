import { randomBytes } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { maxCsrBytes } from "../../src/core/x509/parse-csr.ts";

/** A refusal the front end makes itself (before or around the core): HTTP status and a plain-text reason. */
export class EstHttpError extends Error {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  constructor(status: number, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.name = "EstHttpError";
    this.status = status;
    this.headers = headers;
  }
}

/** The largest request body read: a base64 CSR at the core's CSR limit, with line breaks, plus slack. */
export const maxEstBodyBytes = Math.ceil((maxCsrBytes * 4) / 3) * 2;

/**
 * A POST body (RFC 7030 §4.2.1: a base64 PKCS#10). RFC 8951 makes base64 the
 * encoding whatever Content-Transfer-Encoding says, with or without line
 * breaks; clients that send DER anyway (bytes that cannot be base64 text)
 * get it read as DER. Returns the text or bytes parseCsr takes.
 */
export async function readCsrBody(req: IncomingMessage): Promise<string | Uint8Array> {
  const declared = Number(req.headers["content-length"] ?? Number.NaN);
  if (declared > maxEstBodyBytes) throw new EstHttpError(413, "the request body is too large");
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxEstBodyBytes) {
      req.resume();
      throw new EstHttpError(413, "the request body is too large");
    }
    chunks.push(chunk);
  }
  const body = Buffer.concat(chunks);
  if (body.length === 0)
    throw new EstHttpError(400, "the request body is empty: send the CSR, base64 (RFC 7030 §4.2.1)");
  const transferEncoding = String(req.headers["content-transfer-encoding"] ?? "")
    .trim()
    .toLowerCase();
  if (transferEncoding === "binary" || body.some((byte) => byte >= 0x80)) return new Uint8Array(body);
  return body.toString("latin1");
}

/** Media type of a Content-Type header, lower-case, without parameters. */
export function mediaType(header: string | undefined): string {
  return (header ?? "").split(";")[0]!.trim().toLowerCase();
}

/**
 * Base64 in 64-character lines, as RFC 7030's examples and OpenSSL write it.
 * Lines end in LF alone: `curl ... | base64 -d`, the usual way to read an
 * answer (RFC 8951 §3: base64 whatever the transfer encoding), refuses a CR.
 */
export function base64Lines(der: Uint8Array, eol = "\n"): string {
  const text = Buffer.from(der.buffer, der.byteOffset, der.length).toString("base64");
  const lines: string[] = [];
  for (let i = 0; i < text.length; i += 64) lines.push(text.slice(i, i + 64));
  return `${lines.join(eol)}${eol}`;
}

/**
 * RFC 7617 Basic credentials from an Authorization header; null when there is
 * none or it is another scheme. Malformed Basic credentials are a 401 like wrong ones.
 */
export function basicCredentials(header: string | undefined): { username: string; password: string } | null {
  if (!header) return null;
  const match = /^basic\s+([A-Za-z0-9+/=._~-]+)\s*$/i.exec(header.trim());
  if (!match) return null;
  const decoded = Buffer.from(match[1]!, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) throw new EstHttpError(401, 'malformed HTTP Basic credentials (RFC 7617: user-id ":" password)');
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** One part of a multipart/mixed body (RFC 2046 §5.1) with base64 content. */
export interface MultipartPart {
  readonly contentType: string;
  readonly der: Uint8Array;
}

/**
 * RFC 7030 §4.4.2: the serverkeygen answer, multipart/mixed with the key part
 * and the certificate part, each base64 with a Content-Transfer-Encoding
 * header for clients from before RFC 8951. Returns the Content-Type header
 * (with its random boundary) and the body.
 */
export function buildMultipart(parts: readonly MultipartPart[]): { contentType: string; body: string } {
  // Base64 never contains "-", so a boundary of dashes and hex cannot occur in a part.
  const boundary = `est-${randomBytes(12).toString("hex")}`;
  let body = "";
  // RFC 2046 §5.1.1: lines end in CRLF, and a delimiter follows one.
  for (const part of parts)
    body += `--${boundary}\r\nContent-Type: ${part.contentType}\r\nContent-Transfer-Encoding: base64\r\n\r\n${base64Lines(part.der, "\r\n")}`;
  body += `--${boundary}--\r\n`;
  return { contentType: `multipart/mixed; boundary=${boundary}`, body };
}
