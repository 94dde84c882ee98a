import { randomUUID } from "node:crypto";
import type { IntuneSettings } from "../scep-types.ts";
import type { FetchFunction } from "./bounded-fetch.ts";
import { exchangeFailure, isRecord, parseJson, remoteText, statusFailure } from "./http-failure.ts";
import type { IntuneServiceDiscovery } from "./intune-service-discovery.ts";
import { graphError } from "./intune-service-discovery.ts";
import { type IntuneTokenClient, intuneScope } from "./intune-token-client.ts";
import { fetchWithin, type Operation, type Step, stepFailure } from "./retrying-operation.ts";
import type { ValidatorTuning } from "./validator-tuning.ts";

/** The ScepRequestValidationFEService API version Microsoft's library sends (IntuneScepValidator.DEFAULT_SERVICE_VERSION). */
export const scepActionsApiVersion = "2018-02-20";

export type ScepAction = "validateRequest" | "successNotification" | "failureNotification";

export interface ScepActionResult {
  /** "Success" or one of intune-result-codes.ts. */
  readonly code: string;
  readonly errorDescription: string;
  /** Our client-request-id: Microsoft support correlates a call by it. */
  readonly activityId: string;
}

export interface IntuneScepActions {
  /** One POST to {serviceUrl}/ScepActions/{action}: Intune's answer, or why there was none. */
  post(action: ScepAction, payload: unknown, op: Operation): Promise<Step<ScepActionResult>>;
}

/**
 * The ScepActions calls of Microsoft's Intune-Resource-Access library
 * (IntuneClient.PostAsync): POST JSON to the discovered
 * ScepRequestValidationFEService URL + "/ScepActions/<action>" with a
 * bearer token for the Intune resource and the headers `client-request-id`
 * (a fresh activity id), `api-version: 2018-02-20` and the caller's name as
 * User-Agent (the Java library also sends it as "UserAgent"). Intune
 * answers 200 with {"code", "errorDescription"}.
 *
 * Recoveries tried once per operation: a 401 drops the cached token, a
 * 404/410 or a failed connection drops the discovered URL (the service
 * moved), each followed by an immediate retry.
 */
export function createIntuneScepActions(options: {
  readonly settings: IntuneSettings;
  readonly tokens: IntuneTokenClient;
  readonly discovery: IntuneServiceDiscovery;
  readonly fetch: FetchFunction;
  readonly tuning: ValidatorTuning;
}): IntuneScepActions {
  const { settings, tokens, discovery, tuning } = options;
  const scope = intuneScope(settings);
  const what = "Intune ScepActions";

  return {
    async post(action, payload, op) {
      const base = await discovery.scepServiceUrl(op);
      if (!base.ok) return base;
      const token = await tokens.accessToken(scope, op);
      if (!token.ok) return token;
      const activityId = randomUUID();
      const outcome = await fetchWithin(op, options.fetch, tuning, {
        url: `${base.value}/ScepActions/${action}`,
        method: "POST",
        headers: {
          Authorization: `Bearer ${token.value}`,
          "Content-Type": "application/json",
          Accept: "application/json",
          "client-request-id": activityId,
          "api-version": scepActionsApiVersion,
          "User-Agent": settings.providerNameAndVersion,
          UserAgent: settings.providerNameAndVersion,
        },
        body: JSON.stringify(payload),
      });
      if (outcome.kind === "failed") {
        // Microsoft's library clears its service map when it cannot reach the service: it may have moved.
        if (outcome.cause === "network") discovery.forget();
        return stepFailure(exchangeFailure(what, outcome));
      }
      const json = parseJson(outcome.text);
      if (outcome.status === 401 && op.firstTime("intune-token")) {
        tokens.forget(scope);
        return stepFailure({ transient: true, retryNow: true, reason: `${what} refused the access token (401)` });
      }
      if (outcome.status === 401 || outcome.status === 403) {
        return stepFailure({
          transient: false,
          reason: `${what} refused access (HTTP ${outcome.status}); grant the app the Intune application permission scep_challenge_provider (SCEP challenge validation) with admin consent`,
        });
      }
      if ((outcome.status === 404 || outcome.status === 410) && op.firstTime("rediscover")) {
        discovery.forget();
        return stepFailure({
          transient: true,
          retryNow: true,
          reason: `${what} not found at the discovered URL (HTTP ${outcome.status})`,
        });
      }
      if (outcome.status < 200 || outcome.status > 299) {
        return stepFailure(statusFailure(what, outcome.status, outcome.retryAfter, graphError(json)));
      }
      if (!isRecord(json) || typeof json["code"] !== "string" || json["code"] === "") {
        return stepFailure({ transient: false, reason: `${what} ${action} answered without a result code` });
      }
      return {
        ok: true,
        value: { code: json["code"], errorDescription: remoteText(json["errorDescription"]), activityId },
      };
    },
  };
}
