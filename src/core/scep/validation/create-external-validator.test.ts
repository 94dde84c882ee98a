import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { ChanceryError } from "../../errors.ts";
import type { ScepEndpoint } from "../scep-types.ts";
import { startWebhookTestServer, type WebhookTestServer } from "../testing/webhook-test-server.ts";
import { createExternalValidator } from "./create-external-validator.ts";

const base: ScepEndpoint = {
  id: "00000000-0000-4000-8000-000000000001",
  name: "devices",
  caId: "00000000-0000-4000-8000-000000000002",
  profileName: "device",
  challengeMode: "static",
  intune: null,
  webhook: null,
  challengeLifetimeSeconds: 3600,
  caCertificateMode: "chain",
  nextCaId: null,
  legacyCrypto: false,
  renewalAllowed: true,
  enabled: true,
  createdAt: new Date(0),
  updatedAt: new Date(0),
};

const deps = { clock: { now: () => new Date() }, logger: pino({ level: "silent" }), tuning: { attempts: 1 } };

describe("createExternalValidator", () => {
  let server: WebhookTestServer | undefined;
  afterEach(async () => {
    await server?.close();
  });

  it("builds a webhook validator for webhook mode", async () => {
    server = await startWebhookTestServer({
      secret: "k".repeat(20),
      answer: () => ({ json: { allow: false, reason: "no" } }),
    });
    const validator = createExternalValidator(
      { ...base, challengeMode: "webhook", webhook: { url: server.url } },
      "k".repeat(20),
      deps,
    );
    const verdict = await validator.validate({
      endpointName: "devices",
      transactionId: "t",
      messageType: 19,
      csrDer: new Uint8Array([0x30, 0x00]),
      challenge: null,
      subject: "CN=x",
      sans: [],
    });
    expect(verdict).toEqual({ allowed: false, retryable: false, reason: "the webhook denied the enrolment: no" });
    expect(server.requests[0]?.verified).toBe(true);
  });

  it("builds an Intune validator for intune mode", () => {
    const validator = createExternalValidator(
      {
        ...base,
        challengeMode: "intune",
        intune: {
          tenant: "contoso.onmicrosoft.com",
          clientId: "11111111-1111-4111-8111-111111111111",
          providerNameAndVersion: "Chancery/0.1",
          authorityUrl: "https://login.microsoftonline.com",
          graphUrl: "https://graph.microsoft.com",
          intuneResourceUrl: "https://api.manage.microsoft.com/",
        },
      },
      "client-secret",
      deps,
    );
    expect(typeof validator.validate).toBe("function");
  });

  it("throws for modes without an external validator, and for missing settings", () => {
    for (const challengeMode of ["none", "static", "dynamic"] as const) {
      expect(() => createExternalValidator({ ...base, challengeMode }, "s", deps)).toThrow(ChanceryError);
    }
    expect(() => createExternalValidator({ ...base, challengeMode: "intune" }, "s", deps)).toThrow(
      /no Intune settings/,
    );
    expect(() => createExternalValidator({ ...base, challengeMode: "webhook" }, "s", deps)).toThrow(
      /no webhook settings/,
    );
    expect(() =>
      createExternalValidator({ ...base, challengeMode: "webhook", webhook: { url: "http://127.0.0.1:1/" } }, "", deps),
    ).toThrow(/no webhook secret/);
  });
});
