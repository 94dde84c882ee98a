import { createHmac, timingSafeEqual } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";

/**
 * Test-only: a webhook receiver as an integrator would write one, on
 * 127.0.0.1 port 0. It checks X-Chancery-Signature itself (HMAC-SHA256 over
 * timestamp + "." + raw body, recomputed here independently of the
 * gateway's code) and the timestamp's freshness, answering 401 when either
 * is wrong; otherwise it answers what the test's function says.
 */
export interface WebhookTestRequest {
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
  readonly json: unknown;
  /** Signature and timestamp both good (the answer function only sees such requests). */
  readonly verified: boolean;
}

export interface WebhookAnswer {
  /** Default 200. */
  readonly status?: number;
  /** Sent as JSON; `text` wins when both are given. */
  readonly json?: unknown;
  readonly text?: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** Wait this long before answering (timeouts). */
  readonly delayMs?: number;
}

export type WebhookAnswerFunction = (request: WebhookTestRequest) => WebhookAnswer | Promise<WebhookAnswer>;

export interface WebhookTestServer {
  /** http://127.0.0.1:<port>/hook */
  readonly url: string;
  /** Every request received, oldest first, verified or not. */
  readonly requests: readonly WebhookTestRequest[];
  /** Replaces the answer function. */
  answer(fn: WebhookAnswerFunction): void;
  close(): Promise<void>;
}

export async function startWebhookTestServer(options: {
  /** The key the receiver holds (give a different one than the gateway's to test a refusal). */
  readonly secret: string;
  /** Default: 200 {"allow": true}. */
  readonly answer?: WebhookAnswerFunction;
  /** Accepted distance between X-Chancery-Timestamp and now; default 300 s. */
  readonly maxSkewSeconds?: number;
}): Promise<WebhookTestServer> {
  const requests: WebhookTestRequest[] = [];
  let answerFn: WebhookAnswerFunction = options.answer ?? (() => ({ json: { allow: true } }));
  const maxSkew = options.maxSkewSeconds ?? 300;

  function verified(headers: http.IncomingHttpHeaders, body: string): boolean {
    const timestamp = headers["x-chancery-timestamp"];
    const signature = headers["x-chancery-signature"];
    if (typeof timestamp !== "string" || typeof signature !== "string" || !/^\d+$/.test(timestamp)) return false;
    if (Math.abs(Date.now() / 1000 - Number(timestamp)) > maxSkew) return false;
    const expected = Buffer.from(
      `sha256=${createHmac("sha256", options.secret).update(`${timestamp}.${body}`).digest("hex")}`,
    );
    const given = Buffer.from(signature);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", async () => {
      const body = Buffer.concat(chunks).toString("utf8");
      let json: unknown;
      try {
        json = JSON.parse(body);
      } catch {
        json = undefined;
      }
      const request: WebhookTestRequest = { headers: req.headers, body, json, verified: verified(req.headers, body) };
      requests.push(request);
      if (!request.verified) {
        res.writeHead(401, { "Content-Type": "application/json" }).end(JSON.stringify({ error: "bad signature" }));
        return;
      }
      const answer = await answerFn(request);
      if (answer.delayMs) await new Promise((resolve) => setTimeout(resolve, answer.delayMs));
      if (res.destroyed || req.socket.destroyed) return;
      const text = answer.text ?? (answer.json === undefined ? "" : JSON.stringify(answer.json));
      res.writeHead(answer.status ?? 200, { "Content-Type": "application/json", ...answer.headers }).end(text);
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    requests,
    answer(fn) {
      answerFn = fn;
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
