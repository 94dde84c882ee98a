import type {
  EnrolmentFacts,
  ExternalChallengeValidator,
  IntuneSettings,
  IssuedForValidator,
  ValidationVerdict,
} from "../scep-types.ts";
import type { ExternalValidatorDeps } from "./external-validator-deps.ts";
import { intuneRefusalReason } from "./intune-result-codes.ts";
import { createIntuneScepActions, type ScepAction } from "./intune-scep-actions.ts";
import { createIntuneServiceDiscovery } from "./intune-service-discovery.ts";
import { createIntuneTokenClient } from "./intune-token-client.ts";
import { runWithRetries } from "./retrying-operation.ts";
import { realSleep, resolveTuning } from "./validator-tuning.ts";

/**
 * failureNotification's hResult: a 32-bit HRESULT (MS-ERREF §2.1), shown to
 * the Intune administrator. We send E_FAIL (0x80004005) as the signed
 * 32-bit value, as Microsoft's Java example sends its int literal; the
 * errorDescription says what actually went wrong.
 */
export const failureHResult = 0x80004005 | 0;

/** Microsoft's library: "Description of what error occurred. Max length = 255 chars". */
const maxErrorDescription = 255;

/**
 * Microsoft Intune SCEP challenge validation for one endpoint, following
 * Microsoft's "Use APIs to add third-party CAs for SCEP to Intune" and its
 * Intune-Resource-Access ScepValidation library:
 *
 * 1. a client-credentials token from Entra ID (intune-token-client.ts);
 * 2. the tenant's ScepRequestValidationFEService URL from Microsoft Graph
 *    (intune-service-discovery.ts);
 * 3. POST ScepActions/validateRequest {"request": {transactionId,
 *    certificateRequest (base64 DER PKCS#10), callerInfo}} — Intune checks
 *    the challenge's signature, expiry and targeting and the CSR against
 *    the profile, and answers {"code", "errorDescription"};
 * 4. after issuance ScepActions/successNotification, or on failure
 *    ScepActions/failureNotification, so the Intune console shows the
 *    device's certificate state.
 *
 * Tokens and the discovered URL are cached in this instance: build one
 * validator per endpoint and keep it (build a new one when the endpoint's
 * settings or secret change). Every Microsoft base URL comes from
 * IntuneSettings, so tests point them at a local mock.
 */
export function createIntuneValidator(options: {
  readonly endpointName: string;
  readonly settings: IntuneSettings;
  readonly clientSecret: string;
  readonly deps: ExternalValidatorDeps;
}): ExternalChallengeValidator {
  const { settings, deps } = options;
  const tuning = resolveTuning(deps.tuning);
  const fetchFn = deps.fetch ?? fetch;
  const logger = deps.logger.child({ scepEndpoint: options.endpointName, validator: "intune" });
  const tokens = createIntuneTokenClient({
    settings,
    clientSecret: options.clientSecret,
    clock: deps.clock,
    fetch: fetchFn,
    tuning,
    logger,
  });
  const discovery = createIntuneServiceDiscovery({
    settings,
    tokens,
    clock: deps.clock,
    fetch: fetchFn,
    tuning,
    logger,
  });
  const actions = createIntuneScepActions({ settings, tokens, discovery, fetch: fetchFn, tuning });
  const retryDeps = { tuning, sleep: deps.sleep ?? realSleep, clock: deps.clock };

  const call = (action: ScepAction, payload: unknown) =>
    runWithRetries((op) => actions.post(action, payload, op), retryDeps);

  /** Sends a notification; logs whatever goes wrong and never throws (the certificate's fate is already sealed). */
  async function notify(
    action: "successNotification" | "failureNotification",
    facts: EnrolmentFacts,
    notification: Record<string, unknown>,
  ): Promise<void> {
    const log = logger.child({ transactionId: facts.transactionId, action });
    try {
      const result = await call(action, {
        notification: {
          transactionId: facts.transactionId,
          certificateRequest: base64(facts.csrDer),
          ...notification,
          callerInfo: settings.providerNameAndVersion,
        },
      });
      if (!result.ok) {
        log.warn({ reason: result.failure.reason }, "intune: notification not delivered");
      } else if (result.value.code !== "Success") {
        log.warn(
          {
            code: result.value.code,
            errorDescription: result.value.errorDescription,
            activityId: result.value.activityId,
          },
          "intune: notification refused",
        );
      } else {
        log.debug({ activityId: result.value.activityId }, "intune: notification delivered");
      }
    } catch (err) {
      log.error({ err }, "intune: notification failed internally");
    }
  }

  return {
    async validate(facts): Promise<ValidationVerdict> {
      const log = logger.child({ transactionId: facts.transactionId });
      try {
        const result = await call("validateRequest", {
          request: {
            transactionId: facts.transactionId,
            certificateRequest: base64(facts.csrDer),
            callerInfo: settings.providerNameAndVersion,
          },
        });
        if (!result.ok) {
          log.warn({ reason: result.failure.reason, retryable: result.failure.transient }, "intune: validation failed");
          return { allowed: false, reason: result.failure.reason, retryable: result.failure.transient };
        }
        const { code, errorDescription, activityId } = result.value;
        if (code === "Success") {
          log.info({ activityId }, "intune: challenge accepted");
          return { allowed: true };
        }
        log.info({ code, errorDescription, activityId }, "intune: challenge refused");
        return { allowed: false, reason: intuneRefusalReason(code, errorDescription), retryable: false };
      } catch (err) {
        // A bug of ours: refuse (never issue on doubt) but let the device try again.
        log.error({ err }, "intune: validation failed internally");
        return { allowed: false, reason: "internal error while asking Intune", retryable: true };
      }
    },

    notifyIssued(facts, certificate: IssuedForValidator) {
      return notify("successNotification", facts, {
        certificateThumbprint: certificate.thumbprintSha1.replace(/:/g, "").toUpperCase(),
        certificateSerialNumber: certificate.serialHex.replace(/:/g, ""),
        // Microsoft's library: "web UTC time (YYYY-MM-DDThh:mm:ss.sssTZD) ISO 8601".
        certificateExpirationDateUtc: certificate.notAfter.toISOString(),
        issuingCertificateAuthority: certificate.issuer,
      });
    },

    notifyFailed(facts, failure) {
      return notify("failureNotification", facts, {
        hResult: failureHResult,
        errorDescription: truncate(failure.reason || "certificate enrolment failed", maxErrorDescription),
      });
    },
  };
}

function base64(der: Uint8Array): string {
  return Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString("base64");
}

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
