import { ChanceryError } from "../../errors.ts";
import type { ExternalChallengeValidator, ScepEndpoint } from "../scep-types.ts";
import type { ExternalValidatorDeps } from "./external-validator-deps.ts";
import { createIntuneValidator } from "./intune-validator.ts";
import { createWebhookValidator } from "./webhook-validator.ts";

export type { ExternalValidatorDeps } from "./external-validator-deps.ts";

/**
 * The external validator of an intune or webhook endpoint. `secret` is the
 * endpoint's opened validation secret (ScepEndpointService.validationSecret):
 * the Entra ID client secret, or the webhook HMAC key. The validator caches
 * tokens and the discovered Intune URL, so the caller keeps one per
 * endpoint and builds a new one when the endpoint changes. Other challenge
 * modes have no external validator: asking for one is a bug, so it throws.
 */
export function createExternalValidator(
  endpoint: ScepEndpoint,
  secret: string,
  deps: ExternalValidatorDeps,
): ExternalChallengeValidator {
  switch (endpoint.challengeMode) {
    case "intune":
      if (!endpoint.intune) throw misconfigured(endpoint, "has no Intune settings");
      if (secret === "") throw misconfigured(endpoint, "has no Intune client secret");
      return createIntuneValidator({
        endpointName: endpoint.name,
        settings: endpoint.intune,
        clientSecret: secret,
        deps,
      });
    case "webhook":
      if (!endpoint.webhook) throw misconfigured(endpoint, "has no webhook settings");
      if (secret === "") throw misconfigured(endpoint, "has no webhook secret");
      return createWebhookValidator({ endpointName: endpoint.name, settings: endpoint.webhook, secret, deps });
    default:
      throw new ChanceryError(
        "internal",
        `SCEP endpoint ${endpoint.name}: challenge mode ${endpoint.challengeMode} has no external validator`,
      );
  }
}

function misconfigured(endpoint: ScepEndpoint, what: string): ChanceryError {
  return new ChanceryError(
    "internal",
    `SCEP endpoint ${endpoint.name} is in ${endpoint.challengeMode} mode but ${what}`,
  );
}
