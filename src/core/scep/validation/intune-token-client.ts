import type { Logger } from "pino";
import type { Clock } from "../../clock.ts";
import type { IntuneSettings } from "../scep-types.ts";
import type { FetchFunction } from "./bounded-fetch.ts";
import { exchangeFailure, isRecord, parseJson, remoteText, statusFailure } from "./http-failure.ts";
import { fetchWithin, type Operation, type Step, stepFailure } from "./retrying-operation.ts";
import type { ValidatorTuning } from "./validator-tuning.ts";

/**
 * OAuth 2.0 client-credentials tokens from Microsoft Entra ID (RFC 6749
 * §4.4; Microsoft identity platform v2.0 endpoint
 * `{authority}/{tenant}/oauth2/v2.0/token`), the way Microsoft's
 * Intune-Resource-Access ScepValidation library gets them through MSAL:
 * one token for Microsoft Graph (service discovery), one for the Intune
 * resource (ScepActions). Each is cached until shortly before it expires;
 * concurrent callers share one request. The secret and the tokens are
 * never logged and never part of a failure reason.
 */
export interface IntuneTokenClient {
  accessToken(scope: string, op: Operation): Promise<Step<string>>;
  /** Drops a cached token, e.g. after the API refused it with 401. */
  forget(scope: string): void;
}

/**
 * The v2.0 endpoint takes a resource's application-level permissions as
 * scope "{resource}/.default", and Entra ID reads the audience as
 * everything before the last slash. Microsoft Graph's resource id has no
 * trailing slash ("https://graph.microsoft.com/.default"); Intune's is
 * "https://api.manage.microsoft.com/" with one, so its scope is
 * "https://api.manage.microsoft.com//.default", exactly as Microsoft's
 * library builds it (IntuneClient.cs: intuneResourceUrl + "/.default").
 */
export function graphScope(settings: IntuneSettings): string {
  return `${settings.graphUrl.replace(/\/+$/, "")}/.default`;
}

export function intuneScope(settings: IntuneSettings): string {
  return `${settings.intuneResourceUrl}/.default`;
}

export function tokenEndpoint(settings: IntuneSettings): string {
  return `${settings.authorityUrl.replace(/\/+$/, "")}/${encodeURIComponent(settings.tenant)}/oauth2/v2.0/token`;
}

interface CachedToken {
  readonly token: string;
  /** Epoch ms (injected clock) from which the token is renewed instead of used. */
  readonly renewAt: number;
}

/** When Entra ID omits expires_in (it does not, but a proxy might strip it): assume a short life. */
const fallbackLifetimeSeconds = 300;

export function createIntuneTokenClient(options: {
  readonly settings: IntuneSettings;
  readonly clientSecret: string;
  readonly clock: Clock;
  readonly fetch: FetchFunction;
  readonly tuning: ValidatorTuning;
  readonly logger: Logger;
}): IntuneTokenClient {
  const { settings, clock, tuning, logger } = options;
  const cache = new Map<string, CachedToken>();
  const inFlight = new Map<string, Promise<Step<string>>>();

  async function request(scope: string, op: Operation): Promise<Step<string>> {
    const body = new URLSearchParams({
      client_id: settings.clientId,
      client_secret: options.clientSecret,
      scope,
      grant_type: "client_credentials",
    }).toString();
    const outcome = await fetchWithin(op, options.fetch, tuning, {
      url: tokenEndpoint(settings),
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
      body,
    });
    if (outcome.kind === "failed") return stepFailure(exchangeFailure("Entra ID token endpoint", outcome));
    const json = parseJson(outcome.text);
    if (outcome.status < 200 || outcome.status > 299) {
      // RFC 6749 §5.2 error response; error_description carries the AADSTS code that names the misconfiguration.
      const error = isRecord(json) ? remoteText(json["error"], 60) : "";
      const description = isRecord(json) ? remoteText(json["error_description"]) : "";
      if ((outcome.status === 400 || outcome.status === 401) && error !== "") {
        const hint =
          error === "invalid_client"
            ? "check the Intune client id and client secret"
            : error === "unauthorized_client"
              ? "the client id is not an application of this tenant"
              : "check the Intune tenant and client settings";
        return stepFailure({
          transient: false,
          reason: `Entra ID refused the client credentials (${error}${description ? `: ${description}` : ""}); ${hint}`,
        });
      }
      return stepFailure(statusFailure("Entra ID token endpoint", outcome.status, outcome.retryAfter, error));
    }
    if (!isRecord(json) || typeof json["access_token"] !== "string" || json["access_token"] === "") {
      return stepFailure({ transient: false, reason: "Entra ID token endpoint answered without an access_token" });
    }
    const tokenType = json["token_type"];
    if (typeof tokenType === "string" && tokenType.toLowerCase() !== "bearer") {
      return stepFailure({
        transient: false,
        reason: `Entra ID issued a ${remoteText(tokenType, 30)} token, not Bearer`,
      });
    }
    // v2.0 sends a number, v1.0 a numeric string: take either.
    const lifetime = Number(json["expires_in"]);
    const lifetimeSeconds = Number.isFinite(lifetime) && lifetime > 0 ? lifetime : fallbackLifetimeSeconds;
    const margin = Math.min(tuning.tokenRefreshMarginMs, (lifetimeSeconds * 1000) / 2);
    cache.set(scope, { token: json["access_token"], renewAt: clock.now().getTime() + lifetimeSeconds * 1000 - margin });
    logger.debug({ scope, expiresInSeconds: lifetimeSeconds }, "intune: access token obtained");
    return { ok: true, value: json["access_token"] };
  }

  return {
    async accessToken(scope, op) {
      const cached = cache.get(scope);
      if (cached && clock.now().getTime() < cached.renewAt) return { ok: true, value: cached.token };
      const pending = inFlight.get(scope);
      if (pending) return pending;
      const started = request(scope, op).finally(() => inFlight.delete(scope));
      inFlight.set(scope, started);
      return started;
    },
    forget(scope) {
      cache.delete(scope);
    },
  };
}
