/** The global fetch (Node 24, undici), injectable so tests can wrap or replace it. */
export type FetchFunction = typeof fetch;

export interface BoundedRequest {
  readonly url: string;
  readonly method: "GET" | "POST";
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string | undefined;
  readonly timeoutMs: number;
  readonly maxBodyBytes: number;
}

export type BoundedOutcome =
  | {
      readonly kind: "response";
      readonly status: number;
      /** The Retry-After header as sent, or null. */
      readonly retryAfter: string | null;
      readonly text: string;
    }
  | {
      readonly kind: "failed";
      /** timeout: no complete answer in time; network: no connection or it broke; oversized: body over the cap. */
      readonly cause: "timeout" | "network" | "oversized";
      /** For logs and refusal reasons; never carries a request header. */
      readonly message: string;
    };

/**
 * One HTTP exchange with a hard timeout (connect, headers and body alike,
 * through one AbortSignal) and a capped body: a validator that streams
 * forever or sends megabytes cannot hold a SCEP request or the heap.
 * Redirects are not followed: the validators' URLs are configured exactly,
 * and a redirect must not carry a bearer token or a signed body elsewhere.
 * Never throws.
 */
export async function boundedFetch(fetchFn: FetchFunction, request: BoundedRequest): Promise<BoundedOutcome> {
  const timeoutMs = Math.max(1, Math.floor(request.timeoutMs));
  const signal = AbortSignal.timeout(timeoutMs);
  let response: Response;
  try {
    response = await fetchFn(request.url, {
      method: request.method,
      headers: request.headers,
      ...(request.body === undefined ? {} : { body: request.body }),
      signal,
      redirect: "manual",
    });
  } catch (err) {
    return failure(err, signal, timeoutMs);
  }
  try {
    const text = await readCapped(response, request.maxBodyBytes);
    if (text === null) {
      return { kind: "failed", cause: "oversized", message: `response body larger than ${request.maxBodyBytes} bytes` };
    }
    return { kind: "response", status: response.status, retryAfter: response.headers.get("retry-after"), text };
  } catch (err) {
    return failure(err, signal, timeoutMs);
  }
}

/** The body as UTF-8, or null once it passes `max` bytes (the rest is not read). */
async function readCapped(response: Response, max: number): Promise<string | null> {
  const declared = Number(response.headers.get("content-length") ?? "0");
  if (declared > max) {
    await response.body?.cancel().catch(() => {});
    return null;
  }
  if (response.body === null) return "";
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => {});
      return null;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function failure(err: unknown, signal: AbortSignal, timeoutMs: number): BoundedOutcome {
  if (signal.aborted) return { kind: "failed", cause: "timeout", message: `no complete answer within ${timeoutMs} ms` };
  // undici reports "fetch failed" with the socket error (ECONNREFUSED, ENOTFOUND, ...) as its cause.
  const e = err as { message?: unknown; cause?: { code?: unknown; message?: unknown } };
  const code = typeof e.cause?.code === "string" ? e.cause.code : undefined;
  const detail = code ?? (typeof e.cause?.message === "string" ? e.cause.message : String(e.message ?? err));
  return { kind: "failed", cause: "network", message: `connection failed (${detail})` };
}
