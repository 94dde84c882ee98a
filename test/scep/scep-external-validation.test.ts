import { createHash, X509Certificate } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { failInfos, pkiStatuses } from "../../src/core/scep/scep-types.ts";
import { type IntuneMockServer, startIntuneMockServer } from "../../src/core/scep/testing/intune-mock-server.ts";
import type { CertRepResult } from "../../src/core/scep/testing/scep-test-client.ts";
import { startWebhookTestServer, type WebhookTestServer } from "../../src/core/scep/testing/webhook-test-server.ts";
import { rsaKeys, type ScepTestEnv, startScepTestEnv } from "./scep-test-env.ts";

/**
 * Challenges decided outside the gateway, end to end over HTTP: Microsoft
 * Intune (against a local mock of Entra ID, Graph discovery and ScepActions,
 * every base URL pointed at it) and a generic HMAC-signed webhook.
 */
const webhookSecret = "webhook-hmac-secret-for-tests";
let t: ScepTestEnv;
let intune: IntuneMockServer;
let hook: WebhookTestServer;
let keys: ReturnType<typeof rsaKeys>;

beforeAll(async () => {
  [t, intune, hook] = await Promise.all([
    startScepTestEnv(),
    startIntuneMockServer(),
    startWebhookTestServer({ secret: webhookSecret }),
  ]);
  keys = rsaKeys(2);
  await Promise.all([
    t.endpoint("intune", {
      challengeMode: "intune",
      intune: intune.settings(),
      intuneClientSecret: intune.clientSecret,
    }),
    t.endpoint("hook", { challengeMode: "webhook", webhook: { url: hook.url }, webhookSecret }),
  ]);
});
afterAll(async () => {
  await Promise.all([t?.stop(), intune?.close(), hook?.close()]);
});

const expectIssued = (reply: CertRepResult) => {
  expect(reply.pkiStatus, `failInfo ${reply.failInfo}`).toBe(pkiStatuses.success);
  return reply.certificatesDer[0]!;
};
const expectRefused = (reply: CertRepResult) =>
  expect([reply.pkiStatus, reply.failInfo]).toEqual([pkiStatuses.failure, failInfos.badRequest]);

type Notification = { notification: Record<string, unknown> };
type Validation = { request: Record<string, unknown> };
const intuneCalls = <T>(kind: Parameters<IntuneMockServer["callsOf"]>[0], transactionId: string) =>
  intune
    .callsOf(kind)
    .map((call) => call.json as Record<string, Record<string, unknown>>)
    .filter((json) => (json["request"] ?? json["notification"])?.["transactionId"] === transactionId) as T[];

describe("Intune", () => {
  it("a challenge Intune accepts: the certificate is issued and successNotification reports its thumbprint and serial", async () => {
    intune.acceptChallenge("intune-challenge-accepted");
    const { request, reply } = await t.enrol("intune", {
      key: keys[0]!,
      cn: "intune-device",
      challenge: "intune-challenge-accepted",
    });
    const der = expectIssued(reply);
    const validations = intuneCalls<Validation>("validateRequest", request.transactionId);
    expect(validations).toHaveLength(1);
    expect(validations[0]!.request["certificateRequest"]).toBe(Buffer.from(request.messageData).toString("base64"));
    const [success] = intuneCalls<Notification>("successNotification", request.transactionId);
    expect(success, "successNotification was sent").toBeDefined();
    const certificate = new X509Certificate(der);
    expect(success!.notification).toMatchObject({
      certificateThumbprint: createHash("sha1").update(der).digest("hex").toUpperCase(),
      certificateExpirationDateUtc: new Date(certificate.validTo).toISOString(),
    });
    expect(String(success!.notification["certificateSerialNumber"]).toLowerCase().replace(/^0+/, "")).toBe(
      certificate.serialNumber.toLowerCase().replace(/^0+/, ""),
    );
    expect(intuneCalls("failureNotification", request.transactionId)).toHaveLength(0);
    const [audit] = await t.auditOf("scep.enrolment.issue", request.transactionId);
    expect(audit?.details["challengeMode"]).toBe("intune");
  });

  it("ChallengeExpired: FAILURE badRequest; Intune refused it itself, so no notification follows", async () => {
    intune.answerChallenge("intune-challenge-expired", "ChallengeExpired", "the challenge has expired");
    const { request, reply } = await t.enrol("intune", {
      key: keys[1]!,
      cn: "expired-intune-device",
      challenge: "intune-challenge-expired",
    });
    expectRefused(reply);
    const [audit] = await t.auditOf("scep.enrolment.fail", request.transactionId);
    expect(String(audit?.details["reason"])).toMatch(/expired/i);
    expect(intuneCalls("successNotification", request.transactionId)).toHaveLength(0);
    expect(intuneCalls("failureNotification", request.transactionId)).toHaveLength(0);
  });

  it("validated by Intune but refused by the profile: failureNotification tells Intune why", async () => {
    intune.acceptChallenge("intune-challenge-policy");
    // The device profile allows at most 10 SANs.
    const sans = Array.from({ length: 11 }, (_, i) => `dns:host-${i}.example.test`);
    const { request, reply } = await t.enrol("intune", {
      key: keys[1]!,
      cn: "too-many-names",
      challenge: "intune-challenge-policy",
      sans,
    });
    expectRefused(reply);
    expect(intuneCalls("successNotification", request.transactionId)).toHaveLength(0);
    const failures = intuneCalls<Notification>("failureNotification", request.transactionId);
    expect(failures).toHaveLength(1);
    expect(String(failures[0]!.notification["errorDescription"])).toMatch(/san/i);
  });

  it("two transient 503s from ScepActions, then Success: retried, and the device gets its certificate", async () => {
    intune.acceptChallenge("intune-challenge-retried");
    intune.failNext(2, { target: "scepActions", status: 503 });
    const { request, reply } = await t.enrol("intune", {
      key: keys[0]!,
      cn: "retried-intune-device",
      challenge: "intune-challenge-retried",
    });
    expectIssued(reply);
    const attempts = intune
      .callsOf("validateRequest")
      .filter((call) => (call.json as Validation | undefined)?.request?.["transactionId"] === request.transactionId);
    expect(attempts.map((call) => call.status)).toEqual([503, 503, 200]);
    expect(intuneCalls("successNotification", request.transactionId)).toHaveLength(1);
  });
});

describe("webhook", () => {
  const eventsOf = (transactionId: string) =>
    hook.requests
      .map((r) => ({ verified: r.verified, json: r.json as Record<string, unknown> }))
      .filter((r) => r.json?.["transactionId"] === transactionId);

  it("allow: the certificate is issued; the receiver saw a signed validate event, then an issued one", async () => {
    hook.answer(() => ({ json: { allow: true } }));
    const { request, reply } = await t.enrol("hook", {
      key: keys[0]!,
      cn: "hooked-device",
      sans: ["dns:hooked.devices.test"],
      challenge: "webhook-device-token",
    });
    const der = expectIssued(reply);
    const events = eventsOf(request.transactionId);
    expect(events.map((e) => [e.json["event"], e.verified])).toEqual([
      ["validate", true],
      ["issued", true],
    ]);
    expect(events[0]!.json).toMatchObject({
      endpoint: "hook",
      messageType: 19,
      subject: "CN=hooked-device",
      sans: ["dns:hooked.devices.test"],
      challenge: "webhook-device-token",
    });
    expect(events[1]!.json["certificate"]).toMatchObject({ der: der.toString("base64") });
    expect(JSON.stringify(events[1]!.json)).not.toContain("webhook-device-token");
  });

  it("deny: FAILURE badRequest, the receiver's reason in the audit", async () => {
    hook.answer(() => ({ json: { allow: false, reason: "device not in inventory" } }));
    const { request, reply } = await t.enrol("hook", {
      key: keys[1]!,
      cn: "unknown-device",
      challenge: "webhook-device-token",
    });
    expectRefused(reply);
    const [audit] = await t.auditOf("scep.enrolment.fail", request.transactionId);
    expect(audit?.details).toMatchObject({ challengeMode: "webhook", failInfo: failInfos.badRequest });
    expect(String(audit?.details["reason"])).toMatch(/device not in inventory/);
    expect(eventsOf(request.transactionId).map((e) => e.json["event"])).not.toContain("issued");
  });
});
