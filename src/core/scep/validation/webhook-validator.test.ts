import { createHmac } from "node:crypto";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import type { EnrolmentFacts, ExternalChallengeValidator } from "../scep-types.ts";
import {
  startWebhookTestServer,
  type WebhookAnswerFunction,
  type WebhookTestServer,
} from "../testing/webhook-test-server.ts";
import type { ValidatorTuning } from "./validator-tuning.ts";
import { createWebhookValidator, webhookSignature } from "./webhook-validator.ts";

const secret = "webhook-hmac-key-0123456789";
const tuning: Partial<ValidatorTuning> = {
  requestTimeoutMs: 300,
  attempts: 3,
  backoffMs: 5,
  maxBackoffMs: 20,
  deadlineMs: 5_000,
};

const facts: EnrolmentFacts = {
  endpointName: "routers",
  transactionId: "tx-webhook-1",
  messageType: 19,
  csrDer: new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00]),
  challenge: "one-time-secret",
  subject: "CN=router-7,O=Example",
  sans: ["dns:router-7.example.net", "ip:10.0.0.7"],
  sourceIp: "192.0.2.10",
};

describe("webhook validator against a local receiver", () => {
  let server: WebhookTestServer | undefined;
  const sleeps: number[] = [];
  const logLines: string[] = [];

  afterEach(async () => {
    await server?.close();
    server = undefined;
    sleeps.length = 0;
    logLines.length = 0;
  });

  async function start(options: { receiverSecret?: string; answer?: WebhookAnswerFunction } = {}) {
    server = await startWebhookTestServer({
      secret: options.receiverSecret ?? secret,
      ...(options.answer ? { answer: options.answer } : {}),
    });
    return server;
  }

  function validator(url: string, overrides: Partial<ValidatorTuning> = {}): ExternalChallengeValidator {
    return createWebhookValidator({
      endpointName: "routers",
      settings: { url },
      secret,
      deps: {
        clock: { now: () => new Date() },
        logger: pino({ level: "trace" }, { write: (line: string) => logLines.push(line) }),
        sleep: async (ms) => {
          sleeps.push(ms);
        },
        tuning: { ...tuning, ...overrides },
      },
    });
  }

  it("allows on {allow: true}, posting the signed facts", async () => {
    const s = await start();
    expect(await validator(s.url).validate(facts)).toEqual({ allowed: true });
    expect(s.requests).toHaveLength(1);
    const [request] = s.requests;
    expect(request?.verified).toBe(true);
    expect(request?.headers["content-type"]).toBe("application/json");
    expect(request?.json).toEqual({
      event: "validate",
      endpoint: "routers",
      transactionId: "tx-webhook-1",
      messageType: 19,
      subject: "CN=router-7,O=Example",
      sans: ["dns:router-7.example.net", "ip:10.0.0.7"],
      challenge: "one-time-secret",
      csr: Buffer.from(facts.csrDer).toString("base64"),
      sourceIp: "192.0.2.10",
    });
    // The documented scheme, recomputed here: sha256=hex(HMAC-SHA256(secret, timestamp + "." + body)).
    const timestamp = String(request?.headers["x-chancery-timestamp"]);
    expect(Math.abs(Number(timestamp) - Date.now() / 1000)).toBeLessThan(5);
    const expected = `sha256=${createHmac("sha256", secret).update(`${timestamp}.${request?.body}`).digest("hex")}`;
    expect(request?.headers["x-chancery-signature"]).toBe(expected);
    expect(webhookSignature(secret, timestamp, request?.body ?? "")).toBe(expected);
    // The challenge never reaches the logs.
    expect(logLines.join("\n")).not.toContain("one-time-secret");
  });

  it("denies on {allow: false} with the receiver's reason, for good", async () => {
    const s = await start({
      answer: () => ({ json: { allow: false, reason: "device not in inventory\nsecond line" } }),
    });
    expect(await validator(s.url).validate(facts)).toEqual({
      allowed: false,
      retryable: false,
      reason: "the webhook denied the enrolment: device not in inventory",
    });
    expect(s.requests).toHaveLength(1);
  });

  it("is refused when the receiver holds another key (401), without retrying", async () => {
    const s = await start({ receiverSecret: "some-other-key-0123456789" });
    expect(await validator(s.url).validate(facts)).toEqual({
      allowed: false,
      retryable: false,
      reason: "the webhook answered HTTP 401",
    });
    expect(s.requests).toHaveLength(1);
    expect(s.requests[0]?.verified).toBe(false);
  });

  it("retries a 500 and refuses as retryable when it persists", async () => {
    const s = await start({ answer: () => ({ status: 500, text: "oops" }) });
    expect(await validator(s.url).validate(facts)).toEqual({
      allowed: false,
      retryable: true,
      reason: "the webhook answered HTTP 500",
    });
    expect(s.requests).toHaveLength(3);
    expect(sleeps).toHaveLength(2);
    // Each attempt is signed afresh and verifies.
    expect(s.requests.every((r) => r.verified)).toBe(true);
  });

  it("gets through after a transient 503", async () => {
    let calls = 0;
    const s = await start({ answer: () => (++calls === 1 ? { status: 503 } : { json: { allow: true } }) });
    expect(await validator(s.url).validate(facts)).toEqual({ allowed: true });
    expect(s.requests).toHaveLength(2);
  });

  it("times out a slow receiver within the bound, as retryable", async () => {
    const s = await start({ answer: () => ({ delayMs: 2_000, json: { allow: true } }) });
    const started = performance.now();
    const verdict = await validator(s.url, { requestTimeoutMs: 150 }).validate(facts);
    expect(verdict).toEqual({ allowed: false, retryable: true, reason: expect.stringContaining("within 150 ms") });
    expect(performance.now() - started).toBeLessThan(1_500);
  });

  it("refuses a 2xx answer that is not a JSON {allow} object", async () => {
    const s = await start({ answer: () => ({ text: "OK" }) });
    expect(await validator(s.url).validate(facts)).toMatchObject({ allowed: false, retryable: false });
    s.answer(() => ({ json: { allow: "yes" } }));
    expect(await validator(s.url).validate(facts)).toMatchObject({ allowed: false, retryable: false });
    expect(s.requests).toHaveLength(2);
  });

  it("does not follow redirects with the signed body", async () => {
    const s = await start({ answer: () => ({ status: 307, headers: { Location: "http://127.0.0.1:9/elsewhere" } }) });
    expect(await validator(s.url).validate(facts)).toEqual({
      allowed: false,
      retryable: false,
      reason: "the webhook answered HTTP 307",
    });
  });

  it("notifies issued and failed enrolments, signed, without the challenge", async () => {
    const s = await start({ answer: () => ({ status: 204 }) });
    const v = validator(s.url);
    await v.notifyIssued(facts, {
      der: new Uint8Array([0x30, 0x00]),
      serialHex: "0a1b",
      thumbprintSha1: "0123456789ABCDEF0123456789ABCDEF01234567",
      notAfter: new Date("2027-01-01T00:00:00.000Z"),
      issuer: "CN=Issuing CA",
    });
    await v.notifyFailed(facts, { reason: "profile requires approval and it was rejected" });
    expect(s.requests.map((r) => r.verified)).toEqual([true, true]);
    const common = {
      endpoint: "routers",
      transactionId: "tx-webhook-1",
      messageType: 19,
      subject: "CN=router-7,O=Example",
      sans: ["dns:router-7.example.net", "ip:10.0.0.7"],
      csr: Buffer.from(facts.csrDer).toString("base64"),
      sourceIp: "192.0.2.10",
    };
    expect(s.requests[0]?.json).toEqual({
      event: "issued",
      ...common,
      certificate: {
        der: "MAA=",
        serialHex: "0a1b",
        thumbprintSha1: "0123456789ABCDEF0123456789ABCDEF01234567",
        notAfter: "2027-01-01T00:00:00.000Z",
        issuer: "CN=Issuing CA",
      },
    });
    expect(s.requests[1]?.json).toEqual({
      event: "failed",
      ...common,
      reason: "profile requires approval and it was rejected",
    });
  });

  it("notifications are best effort: an unreachable receiver is logged, never thrown", async () => {
    const s = await start({ answer: () => ({ status: 502 }) });
    await expect(validator(s.url).notifyFailed(facts, { reason: "x" })).resolves.toBeUndefined();
    expect(s.requests).toHaveLength(3);
    expect(logLines.join("\n")).toContain("notification not delivered");
  });
});
