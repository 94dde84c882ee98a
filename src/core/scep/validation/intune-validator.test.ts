import * as x509 from "@peculiar/x509";
import pino from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { unusedPort } from "../../acme/validation/testing/test-challenge-servers.ts";
import type { EnrolmentFacts, ExternalChallengeValidator, IntuneSettings } from "../scep-types.ts";
import { type IntuneMockServer, startIntuneMockServer } from "../testing/intune-mock-server.ts";
import { createIntuneValidator, failureHResult } from "./intune-validator.ts";
import type { ValidatorTuning } from "./validator-tuning.ts";

const tuning: Partial<ValidatorTuning> = {
  requestTimeoutMs: 300,
  attempts: 3,
  backoffMs: 5,
  maxBackoffMs: 20,
  maxRetryAfterMs: 2_000,
  deadlineMs: 5_000,
};

/** A real PKCS#10 request, with a challengePassword attribute when given one. */
async function csrWith(challenge: string | undefined): Promise<Uint8Array> {
  const keys = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"]);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: "CN=device-42",
    keys,
    signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
    attributes: challenge === undefined ? [] : [new x509.ChallengePasswordAttribute(challenge)],
  });
  return new Uint8Array(csr.rawData);
}

async function factsWith(challenge: string | undefined, transactionId = "tx-1"): Promise<EnrolmentFacts> {
  return {
    endpointName: "intune",
    transactionId,
    messageType: 19,
    csrDer: await csrWith(challenge),
    challenge: challenge ?? null,
    subject: "CN=device-42",
    sans: [],
  };
}

describe("Intune validator against the local Intune mock", () => {
  let mock: IntuneMockServer;
  let now: number;
  let sleeps: number[];
  let logLines: string[];

  beforeEach(async () => {
    mock = await startIntuneMockServer();
    now = Date.parse("2026-03-01T10:00:00Z");
    sleeps = [];
    logLines = [];
  });
  afterEach(async () => {
    await mock.close();
  });

  function validator(
    options: { settings?: IntuneSettings; secret?: string; tuning?: Partial<ValidatorTuning> } = {},
  ): ExternalChallengeValidator {
    return createIntuneValidator({
      endpointName: "intune",
      settings: options.settings ?? mock.settings(),
      clientSecret: options.secret ?? mock.clientSecret,
      deps: {
        clock: { now: () => new Date(now) },
        logger: pino({ level: "trace" }, { write: (line: string) => logLines.push(line) }),
        sleep: async (ms) => {
          sleeps.push(ms);
        },
        tuning: { ...tuning, ...options.tuning },
      },
    });
  }

  it("gets tokens, discovers the service and validates: Success allows the enrolment", async () => {
    mock.acceptChallenge("intune-challenge-1");
    const facts = await factsWith("intune-challenge-1");
    expect(await validator().validate(facts)).toEqual({ allowed: true });

    const tokenCalls = mock.callsOf("token");
    expect(tokenCalls.map((c) => c.path)).toEqual([
      `/${mock.tenant}/oauth2/v2.0/token`,
      `/${mock.tenant}/oauth2/v2.0/token`,
    ]);
    expect(tokenCalls.map((c) => c.form)).toEqual([
      {
        client_id: mock.clientId,
        client_secret: mock.clientSecret,
        scope: `${mock.url}/.default`,
        grant_type: "client_credentials",
      },
      {
        client_id: mock.clientId,
        client_secret: mock.clientSecret,
        scope: "https://api.manage.microsoft.com//.default",
        grant_type: "client_credentials",
      },
    ]);
    const [discovery] = mock.callsOf("discovery");
    expect(discovery?.path).toBe("/v1.0/servicePrincipals/appId=0000000a-0000-0000-c000-000000000000/endpoints");
    expect(discovery?.headers["client-request-id"]).toMatch(/^[0-9a-f-]{36}$/);

    const [validate] = mock.callsOf("validateRequest");
    expect(validate?.status).toBe(200);
    expect(validate?.path).toBe("/ScepRequestValidationFEService/g1/ScepActions/validateRequest");
    expect(validate?.headers["api-version"]).toBe("2018-02-20");
    expect(validate?.headers["client-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
    expect(validate?.headers["content-type"]).toBe("application/json");
    expect(validate?.headers["user-agent"]).toBe("Chancery/test");
    expect(validate?.headers.authorization).toMatch(/^Bearer \S+$/);
    expect(validate?.json).toEqual({
      request: {
        transactionId: "tx-1",
        certificateRequest: Buffer.from(facts.csrDer).toString("base64"),
        callerInfo: "Chancery/test",
      },
    });
  });

  it("refuses ChallengeExpired for good, without retrying", async () => {
    mock.answerChallenge("old-challenge", "ChallengeExpired", "Challenge has expired");
    const verdict = await validator().validate(await factsWith("old-challenge"));
    expect(verdict).toEqual({
      allowed: false,
      retryable: false,
      reason: expect.stringContaining("ChallengeExpired"),
    });
    expect(verdict.allowed === false && verdict.reason).toContain("Challenge has expired");
    expect(mock.callsOf("validateRequest")).toHaveLength(1);
    expect(sleeps).toEqual([]);
  });

  it("maps the other documented codes: no challenge, not an Intune challenge", async () => {
    const v = validator();
    const missing = await v.validate(await factsWith(undefined));
    expect(missing).toMatchObject({ allowed: false, retryable: false });
    expect(missing.allowed === false && missing.reason).toContain("ChallengePasswordMissing");
    const foreign = await v.validate(await factsWith("not-from-intune"));
    expect(foreign.allowed === false && foreign.reason).toContain("ChallengeDeserializationError");
  });

  it("retries two 503s with backoff and then succeeds", async () => {
    mock.acceptChallenge("c");
    mock.failNext(2, { status: 503 });
    expect(await validator().validate(await factsWith("c"))).toEqual({ allowed: true });
    expect(mock.callsOf("validateRequest").map((c) => c.status)).toEqual([503, 503, 200]);
    expect(sleeps).toHaveLength(2);
    for (const ms of sleeps) expect(ms).toBeLessThanOrEqual(20);
  });

  it("gives up after the attempts on persistent 5xx, as a retryable refusal", async () => {
    mock.acceptChallenge("c");
    mock.failNext(5, { status: 500 });
    const verdict = await validator().validate(await factsWith("c"));
    expect(verdict).toEqual({ allowed: false, retryable: true, reason: expect.stringContaining("HTTP 500") });
    expect(mock.callsOf("validateRequest")).toHaveLength(3);
  });

  it("honours a 429 Retry-After within the bound, and gives up on a longer one", async () => {
    mock.acceptChallenge("c");
    mock.failNext(1, { status: 429, retryAfterSeconds: 1 });
    const v = validator();
    expect(await v.validate(await factsWith("c"))).toEqual({ allowed: true });
    expect(sleeps).toEqual([1000]);

    sleeps.length = 0;
    mock.failNext(1, { status: 429, retryAfterSeconds: 120 });
    const verdict = await v.validate(await factsWith("c", "tx-2"));
    expect(verdict).toEqual({ allowed: false, retryable: true, reason: expect.stringContaining("HTTP 429") });
    expect(sleeps).toEqual([]);
  });

  it("caches the tokens across validations and renews them once they expire", async () => {
    mock.acceptChallenge("c");
    const v = validator();
    expect(await v.validate(await factsWith("c", "tx-1"))).toEqual({ allowed: true });
    expect(await v.validate(await factsWith("c", "tx-2"))).toEqual({ allowed: true });
    expect(mock.callsOf("token")).toHaveLength(2);
    expect(mock.callsOf("discovery")).toHaveLength(1);
    const firstToken = mock.callsOf("validateRequest")[0]?.headers.authorization;
    expect(mock.callsOf("validateRequest")[1]?.headers.authorization).toBe(firstToken);

    // expires_in is 3599 s; the token is renewed from 5 minutes before that.
    now += (3599 - 299) * 1000;
    expect(await v.validate(await factsWith("c", "tx-3"))).toEqual({ allowed: true });
    const tokenScopes = mock.callsOf("token").map((c) => c.form?.["scope"]);
    expect(tokenScopes).toEqual([
      `${mock.url}/.default`,
      "https://api.manage.microsoft.com//.default",
      "https://api.manage.microsoft.com//.default",
    ]);
    expect(mock.callsOf("validateRequest")[2]?.headers.authorization).not.toBe(firstToken);
    // The discovered URL outlives the token.
    expect(mock.callsOf("discovery")).toHaveLength(1);
  });

  it("rediscovers the service when the cached URL answers 404, and after the discovery TTL", async () => {
    mock.acceptChallenge("c");
    const v = validator();
    expect(await v.validate(await factsWith("c"))).toEqual({ allowed: true });
    mock.moveScepService();
    expect(await v.validate(await factsWith("c", "tx-2"))).toEqual({ allowed: true });
    expect(mock.callsOf("validateRequest").map((c) => [c.path, c.status])).toEqual([
      ["/ScepRequestValidationFEService/g1/ScepActions/validateRequest", 200],
      ["/ScepRequestValidationFEService/g1/ScepActions/validateRequest", 404],
      ["/ScepRequestValidationFEService/g2/ScepActions/validateRequest", 200],
    ]);
    expect(mock.callsOf("discovery")).toHaveLength(2);
    expect(sleeps).toEqual([]);

    now += 24 * 60 * 60 * 1000 + 1;
    expect(await v.validate(await factsWith("c", "tx-3"))).toEqual({ allowed: true });
    expect(mock.callsOf("discovery")).toHaveLength(3);
  });

  it("gets a fresh token once when ScepActions refuses the cached one (401)", async () => {
    mock.acceptChallenge("c");
    mock.failNext(1, { status: 401 });
    expect(await validator().validate(await factsWith("c"))).toEqual({ allowed: true });
    expect(mock.callsOf("token").filter((c) => c.form?.["scope"]?.startsWith("https://api.manage"))).toHaveLength(2);
    expect(sleeps).toEqual([]);
  });

  it("refuses with a clear reason when Entra ID rejects the client secret, and never leaks it", async () => {
    const wrongSecret = "wrong-secret-value-123456";
    const verdict = await validator({ secret: wrongSecret }).validate(await factsWith("c"));
    expect(verdict).toMatchObject({ allowed: false, retryable: false });
    const reason = verdict.allowed ? "" : verdict.reason;
    expect(reason).toContain("invalid_client");
    expect(reason).toContain("AADSTS7000215");
    expect(reason).toContain("check the Intune client id and client secret");
    expect(reason).not.toContain(wrongSecret);
    expect(mock.callsOf("token")).toHaveLength(1);
    expect(logLines.join("\n")).not.toContain(wrongSecret);
  });

  it("never logs the client secret or a token", async () => {
    mock.acceptChallenge("c");
    const v = validator();
    await v.validate(await factsWith("c"));
    await v.notifyIssued(await factsWith("c"), {
      der: new Uint8Array([1]),
      serialHex: "01",
      thumbprintSha1: "AB",
      notAfter: new Date(now),
      issuer: "CN=CA",
    });
    const tokens = mock.calls
      .map((c) => /^Bearer (.+)$/.exec(String(c.headers.authorization ?? ""))?.[1])
      .filter((t): t is string => t !== undefined);
    expect(tokens.length).toBeGreaterThan(0);
    const logs = logLines.join("\n");
    expect(logs.length).toBeGreaterThan(0);
    expect(logs).not.toContain(mock.clientSecret);
    for (const token of tokens) expect(logs).not.toContain(token);
  });

  it("says which permission is missing when Intune lists no SCEP validation service", async () => {
    mock.publishScepService(false);
    const verdict = await validator().validate(await factsWith("c"));
    expect(verdict).toMatchObject({ allowed: false, retryable: false });
    expect(verdict.allowed === false && verdict.reason).toContain("scep_challenge_provider");
  });

  it("sends successNotification with the documented fields", async () => {
    const facts = await factsWith("c", "tx-42");
    await validator().notifyIssued(facts, {
      der: new Uint8Array([0x30, 0x00]),
      serialHex: "7f3a01",
      thumbprintSha1: "0123456789ABCDEF0123456789ABCDEF01234567",
      notAfter: new Date("2027-03-01T10:00:00.000Z"),
      issuer: "CN=Chancery Issuing CA,O=Example",
    });
    const [call] = mock.callsOf("successNotification");
    expect(call?.status).toBe(200);
    expect(call?.path).toBe("/ScepRequestValidationFEService/g1/ScepActions/successNotification");
    expect(call?.headers["api-version"]).toBe("2018-02-20");
    expect(call?.json).toEqual({
      notification: {
        transactionId: "tx-42",
        certificateRequest: Buffer.from(facts.csrDer).toString("base64"),
        certificateThumbprint: "0123456789ABCDEF0123456789ABCDEF01234567",
        certificateSerialNumber: "7f3a01",
        certificateExpirationDateUtc: "2027-03-01T10:00:00.000Z",
        issuingCertificateAuthority: "CN=Chancery Issuing CA,O=Example",
        callerInfo: "Chancery/test",
      },
    });
  });

  it("sends failureNotification with an HRESULT and a description of at most 255 characters", async () => {
    const facts = await factsWith("c", "tx-43");
    await validator().notifyFailed(facts, { reason: `profile refused the request: ${"x".repeat(400)}` });
    const [call] = mock.callsOf("failureNotification");
    expect(call?.status).toBe(200);
    const notification = (call!.json as { notification: Record<string, unknown> }).notification;
    expect(notification).toMatchObject({
      transactionId: "tx-43",
      certificateRequest: Buffer.from(facts.csrDer).toString("base64"),
      hResult: failureHResult,
      callerInfo: "Chancery/test",
    });
    expect(failureHResult).toBe(-2147467259); // E_FAIL, 0x80004005, as a signed 32-bit value
    expect(String(notification["errorDescription"])).toMatch(/^profile refused the request: x+…$/);
    expect(String(notification["errorDescription"]).length).toBe(255);
  });

  it("notifications never throw when Intune cannot take them", async () => {
    mock.failNext(10, { status: 503 });
    await expect(validator().notifyFailed(await factsWith("c"), { reason: "boom" })).resolves.toBeUndefined();
    expect(mock.callsOf("failureNotification")).toHaveLength(3);
    expect(logLines.join("\n")).toContain("notification not delivered");
  });

  it("bounds a validator that does not answer: each request times out, retries stop, retryable", async () => {
    mock.acceptChallenge("c");
    mock.delayNext(5, 2_000);
    const started = performance.now();
    const verdict = await validator({ tuning: { requestTimeoutMs: 150 } }).validate(await factsWith("c"));
    const elapsed = performance.now() - started;
    expect(verdict).toEqual({ allowed: false, retryable: true, reason: expect.stringContaining("within 150 ms") });
    expect(mock.callsOf("validateRequest")).toHaveLength(3);
    expect(elapsed).toBeLessThan(1_500);
  });

  it("stops at the overall deadline even with attempts left", async () => {
    mock.acceptChallenge("c");
    mock.delayNext(5, 2_000);
    const started = performance.now();
    const verdict = await validator({ tuning: { requestTimeoutMs: 200, attempts: 10, deadlineMs: 500 } }).validate(
      await factsWith("c"),
    );
    expect(verdict).toMatchObject({ allowed: false, retryable: true });
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it("treats an unreachable token endpoint as retryable", async () => {
    const port = await unusedPort();
    const verdict = await validator({ settings: mock.settings({ authorityUrl: `http://127.0.0.1:${port}` }) }).validate(
      await factsWith("c"),
    );
    expect(verdict).toEqual({
      allowed: false,
      retryable: true,
      reason: expect.stringContaining("Entra ID token endpoint: connection failed (ECONNREFUSED)"),
    });
  });

  it("treats an oversized answer as a failure, not retried", async () => {
    mock.acceptChallenge("c");
    mock.failNext(1, { status: 200, body: JSON.stringify({ code: "Success", pad: "x".repeat(2048) }) });
    const verdict = await validator({ tuning: { maxResponseBytes: 1024 } }).validate(await factsWith("c"));
    expect(verdict).toEqual({ allowed: false, retryable: false, reason: expect.stringContaining("larger than 1024") });
    expect(mock.callsOf("validateRequest")).toHaveLength(1);
  });
});
