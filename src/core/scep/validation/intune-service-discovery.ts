import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { Clock } from "../../clock.ts";
import type { IntuneSettings } from "../scep-types.ts";
import type { FetchFunction } from "./bounded-fetch.ts";
import { exchangeFailure, isRecord, parseJson, remoteText, statusFailure } from "./http-failure.ts";
import { graphScope, type IntuneTokenClient } from "./intune-token-client.ts";
import { fetchWithin, type Operation, type Step, stepFailure } from "./retrying-operation.ts";
import type { ValidatorTuning } from "./validator-tuning.ts";

/** Microsoft Intune's first-party application id, the same in every tenant. */
export const intuneAppId = "0000000a-0000-0000-c000-000000000000";

/** The Intune service that validates SCEP challenges (Intune-Resource-Access: VALIDATION_SERVICE_NAME). */
export const scepValidationServiceName = "ScepRequestValidationFEService";

/**
 * Microsoft Graph v1.0 `GET /servicePrincipals/appId={intuneAppId}/endpoints`:
 * the tenant's Intune service endpoints, as the current Intune-Resource-Access
 * library (IntuneServiceLocationProvider.cs) reads them. The app needs the
 * Graph application permission Application.Read.All for it (Microsoft's
 * "Intune service discovery API endpoint will require specific permissions"
 * support tip).
 */
export function discoveryUrl(settings: IntuneSettings): string {
  return `${settings.graphUrl.replace(/\/+$/, "")}/v1.0/servicePrincipals/appId=${intuneAppId}/endpoints`;
}

export interface IntuneServiceDiscovery {
  /** The base URL of ScepRequestValidationFEService (ScepActions/... hang below it). */
  scepServiceUrl(op: Operation): Promise<Step<string>>;
  /** Forgets the discovered URL: the next call asks Graph again (after a 404/410 or a connection failure). */
  forget(): void;
}

/**
 * Discovers the tenant's ScepRequestValidationFEService URL and caches it.
 * Like Microsoft's library it rediscovers when a request to the cached URL
 * fails to connect or finds nothing there (the service moved); it also
 * rediscovers after discoveryTtlMs.
 */
export function createIntuneServiceDiscovery(options: {
  readonly settings: IntuneSettings;
  readonly tokens: IntuneTokenClient;
  readonly clock: Clock;
  readonly fetch: FetchFunction;
  readonly tuning: ValidatorTuning;
  readonly logger: Logger;
}): IntuneServiceDiscovery {
  const { settings, tokens, clock, tuning, logger } = options;
  const scope = graphScope(settings);
  let cached: { url: string; until: number } | null = null;

  async function discover(op: Operation): Promise<Step<string>> {
    const token = await tokens.accessToken(scope, op);
    if (!token.ok) return token;
    const outcome = await fetchWithin(op, options.fetch, tuning, {
      url: discoveryUrl(settings),
      method: "GET",
      headers: {
        Authorization: `Bearer ${token.value}`,
        Accept: "application/json",
        "client-request-id": randomUUID(),
      },
    });
    if (outcome.kind === "failed") return stepFailure(exchangeFailure("Microsoft Graph service discovery", outcome));
    const json = parseJson(outcome.text);
    if (outcome.status === 401 && op.firstTime("graph-token")) {
      // Graph refused a token we still thought valid (revoked, or roles changed): get a new one, once.
      tokens.forget(scope);
      return stepFailure({ transient: true, retryNow: true, reason: "Microsoft Graph refused the access token (401)" });
    }
    if (outcome.status === 401 || outcome.status === 403) {
      return stepFailure({
        transient: false,
        reason: `Microsoft Graph refused Intune service discovery (HTTP ${outcome.status}${detail(graphError(json))}); grant the app the Graph application permission Application.Read.All with admin consent`,
      });
    }
    if (outcome.status < 200 || outcome.status > 299) {
      return stepFailure(
        statusFailure("Microsoft Graph service discovery", outcome.status, outcome.retryAfter, graphError(json)),
      );
    }
    const entries = isRecord(json) && Array.isArray(json["value"]) ? json["value"] : null;
    if (entries === null) {
      return stepFailure({
        transient: false,
        reason: "Microsoft Graph service discovery answered without a value list",
      });
    }
    for (const entry of entries) {
      if (!isRecord(entry)) continue;
      // Graph v1.0 names the service in providerName; Azure AD Graph used serviceName (Microsoft's library takes either).
      const name = typeof entry["providerName"] === "string" ? entry["providerName"] : entry["serviceName"];
      if (typeof name !== "string" || name.toLowerCase() !== scepValidationServiceName.toLowerCase()) continue;
      const url = typeof entry["uri"] === "string" ? entry["uri"] : "";
      if (!/^https?:\/\//i.test(url)) {
        return stepFailure({
          transient: false,
          reason: `Intune published an unusable ${scepValidationServiceName} URL`,
        });
      }
      const trimmed = url.replace(/\/+$/, "");
      cached = { url: trimmed, until: clock.now().getTime() + tuning.discoveryTtlMs };
      logger.info({ serviceUrl: trimmed }, "intune: discovered ScepRequestValidationFEService");
      return { ok: true, value: trimmed };
    }
    return stepFailure({
      transient: false,
      reason: `Intune publishes no ${scepValidationServiceName} endpoint for this tenant; grant the app the Intune application permission scep_challenge_provider (SCEP challenge validation) with admin consent`,
    });
  }

  return {
    async scepServiceUrl(op) {
      if (cached && clock.now().getTime() < cached.until) return { ok: true, value: cached.url };
      return discover(op);
    },
    forget() {
      cached = null;
    },
  };
}

/** Graph's error body {"error": {"code", "message"}} as "code: message", or "". */
export function graphError(json: unknown): string {
  if (!isRecord(json) || !isRecord(json["error"])) return "";
  const code = remoteText(json["error"]["code"], 60);
  const message = remoteText(json["error"]["message"]);
  return [code, message].filter(Boolean).join(": ");
}

function detail(text: string): string {
  return text ? `: ${text}` : "";
}
