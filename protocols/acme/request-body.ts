import type { IncomingMessage } from "node:http";
import { AcmeProblem } from "../../src/core/acme/acme-problem.ts";

/**
 * The largest request body accepted: a finalize carries a base64url CSR
 * (at most 64 KiB DER, src/core/x509/parse-csr.ts) inside a JWS, so about
 * 90 KiB; anything beyond 128 KiB is not an ACME request.
 */
export const maxAcmeBodyBytes = 128 * 1024;

/**
 * Reads a POST body as JSON (RFC 8555 §6.2: Content-Type
 * application/jose+json, else 415), stopping at maxAcmeBodyBytes (413).
 * The listener's requestTimeout bounds a client that stops sending.
 */
export async function readJoseBody(req: IncomingMessage): Promise<unknown> {
  const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
  if (type !== "application/jose+json")
    throw new AcmeProblem("malformed", 'Content-Type must be "application/jose+json" (RFC 8555 §6.2)', { status: 415 });
  const declared = Number(req.headers["content-length"] ?? Number.NaN);
  if (declared > maxAcmeBodyBytes) throw new AcmeProblem("malformed", "request body too large", { status: 413 });
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxAcmeBodyBytes) {
      req.resume();
      throw new AcmeProblem("malformed", "request body too large", { status: 413 });
    }
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    throw new AcmeProblem("malformed", "request body is not JSON (a flattened JWS, RFC 8555 §6.2)");
  }
}
