import { ChanceryError } from "../errors.ts";

/** RFC 7468 §2 PEM with 64-character lines. */
export function pemEncode(label: string, der: Uint8Array): string {
  const base64 = Buffer.from(der.buffer, der.byteOffset, der.length).toString("base64");
  const lines: string[] = [];
  for (let i = 0; i < base64.length; i += 64) lines.push(base64.slice(i, i + 64));
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

const pemPattern = /-----BEGIN ([A-Z0-9 ]+)-----([A-Za-z0-9+/=\s]*?)-----END \1-----/g;

/** The DER of the first PEM block whose label is one of `labels` (RFC 7468 §3, lax whitespace). */
export function pemDecode(text: string, labels: readonly string[]): Uint8Array {
  for (const match of text.matchAll(pemPattern)) {
    if (!labels.includes(match[1]!)) continue;
    const der = decodeBase64Strict(match[2]!);
    if (der) return der;
    throw new ChanceryError("invalid_argument", `the ${match[1]} PEM block is not valid base64`);
  }
  throw new ChanceryError("invalid_argument", `no PEM block labelled ${labels.join(" or ")}`);
}

/** Base64 with optional whitespace, or undefined when it is not strictly base64. */
export function decodeBase64Strict(text: string): Uint8Array | undefined {
  const compact = text.replace(/\s+/g, "");
  if (compact.length === 0 || compact.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(compact)) return undefined;
  return new Uint8Array(Buffer.from(compact, "base64"));
}
