import http from "node:http";
import https from "node:https";
import { isIP } from "node:net";
import { urlHost } from "./resolve-addresses.ts";

export interface HttpGetRequest {
  readonly scheme: "http" | "https";
  /** The IP address to connect to: always one our resolver returned (or the ip identifier itself). */
  readonly address: string;
  readonly port: number;
  /** The name the request is for: the Host header and, for https, the SNI. */
  readonly host: string;
  /** Path and query. */
  readonly path: string;
  /** More than this many body octets and the response is cut off and marked `truncated`. */
  readonly maxBodyBytes: number;
  readonly timeoutMs: number;
}

export type HttpGetOutcome =
  | {
      readonly kind: "response";
      readonly status: number;
      readonly location: string | undefined;
      /** Read only for non-redirect responses, at most maxBodyBytes. */
      readonly body: Buffer;
      readonly truncated: boolean;
    }
  | { readonly kind: "error"; readonly code: string; readonly message: string; readonly timedOut: boolean };

export const redirectStatuses: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);

const userAgent = "Chancery-ACME-validator (+RFC 8555 §8.3)";

/**
 * One GET over node:http(s) to a fixed address. The Host header names the
 * identifier (RFC 9110 §7.2, with the port when it is not the scheme's
 * default), no agent is shared (no connection reuse across validations), and
 * an https redirect target's certificate is not verified: RFC 8555 §8.3
 * proves control of the name through the key authorization, not through the
 * Web PKI, and Boulder does the same.
 */
export function httpGet(request: HttpGetRequest): Promise<HttpGetOutcome> {
  const defaultPort = request.scheme === "https" ? 443 : 80;
  const hostHeader = urlHost(request.host) + (request.port === defaultPort ? "" : `:${request.port}`);
  const signal = AbortSignal.timeout(request.timeoutMs);
  const common = {
    host: request.address,
    port: request.port,
    path: request.path,
    method: "GET",
    headers: { Host: hostHeader, "User-Agent": userAgent, Accept: "*/*", Connection: "close" },
    setHost: false,
    agent: false,
    signal,
  } satisfies http.RequestOptions;

  return new Promise((resolve) => {
    let settled = false;
    const settle = (outcome: HttpGetOutcome) => {
      if (settled) return;
      settled = true;
      resolve(outcome);
      req.destroy();
    };
    const fail = (err: unknown) => {
      const e = err as { code?: unknown; name?: unknown; message?: unknown };
      const timedOut = signal.aborted;
      settle({
        kind: "error",
        code: timedOut ? "ETIMEDOUT" : typeof e.code === "string" ? e.code : String(e.name ?? "Error"),
        message: timedOut ? `no response within ${request.timeoutMs} ms` : String(e.message ?? err),
        timedOut,
      });
    };

    const req =
      request.scheme === "https"
        ? https.request({
            ...common,
            // SNI carries host names only (RFC 6066 §3).
            servername: isIP(request.host) === 0 ? request.host : "",
            rejectUnauthorized: false,
            minVersion: "TLSv1.2",
          })
        : http.request(common);

    req.on("error", fail);
    req.on("response", (res) => {
      const status = res.statusCode ?? 0;
      const location = typeof res.headers.location === "string" ? res.headers.location : undefined;
      if (redirectStatuses.has(status) && location !== undefined) {
        settle({ kind: "response", status, location, body: Buffer.alloc(0), truncated: false });
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > request.maxBodyBytes) {
          chunks.push(chunk);
          const body = Buffer.concat(chunks).subarray(0, request.maxBodyBytes);
          settle({ kind: "response", status, location, body, truncated: true });
          return;
        }
        chunks.push(chunk);
      });
      res.on("end", () =>
        settle({ kind: "response", status, location, body: Buffer.concat(chunks), truncated: false }),
      );
      res.on("error", fail);
      res.on("close", () => {
        if (!res.complete)
          fail(Object.assign(new Error("connection closed before the response ended"), { code: "ECONNRESET" }));
      });
    });
    req.end();
  });
}
