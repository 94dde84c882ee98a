import { createHmac } from "node:crypto";
import type {
  EnrolmentFacts,
  ExternalChallengeValidator,
  IssuedForValidator,
  ValidationVerdict,
  WebhookSettings,
} from "../scep-types.ts";
import type { ExternalValidatorDeps } from "./external-validator-deps.ts";
import { exchangeFailure, isRecord, parseJson, remoteText, statusFailure } from "./http-failure.ts";
import { fetchWithin, runWithRetries, type Step, stepFailure } from "./retrying-operation.ts";
import { realSleep, resolveTuning } from "./validator-tuning.ts";

export const webhookTimestampHeader = "X-Chancery-Timestamp";
export const webhookSignatureHeader = "X-Chancery-Signature";

/**
 * `sha256=` + lower-case hex HMAC-SHA256, keyed with the endpoint's webhook
 * secret (its UTF-8 bytes), over the timestamp header's value, a ".", and
 * the request body exactly as sent.
 */
export function webhookSignature(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex")}`;
}

/**
 * SCEP challenge validation by a webhook (challenge mode "webhook").
 *
 * For each enrolment (PKCSReq or RenewalReq) the gateway POSTs to the
 * endpoint's webhook URL, with `Content-Type: application/json`:
 *
 *     {"event": "validate", "endpoint": "<endpoint name>", "transactionId": "<SCEP transactionID>",
 *      "messageType": 19 | 17, "subject": "<RFC 4514 subject>",
 *      "sans": ["dns:x", "ip:x", "email:x", "uri:x", "otherName:<registry id>:x"],
 *      "challenge": "<challengePassword>" | null, "csr": "<base64 DER PKCS#10>", "sourceIp": "<ip>" | null}
 *
 * and two headers that let the receiver check it came from us, unchanged:
 *
 *     X-Chancery-Timestamp: <unix time in seconds>
 *     X-Chancery-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>
 *
 * `sans` are the CSR's SANs in the forms the gateway issues: an otherName is
 * named by the OID registry entry the endpoint's profile allows for its OID,
 * e.g. "otherName:upn:alice@example.com" for a Microsoft UPN (the profile
 * still decides whether it is issued); one no entry describes is left out.
 *
 * A receiver recomputes the HMAC over the raw body bytes, compares it in
 * constant time, and rejects timestamps far from its clock (a few minutes)
 * so a captured request cannot be replayed later. Each retry is signed
 * afresh with a new timestamp.
 *
 * The receiver answers 200 with `{"allow": true}` to issue, or
 * `{"allow": false, "reason": "..."}` to refuse (the reason is logged and
 * audited with the enrolment, not shown to the device). Anything else
 * refuses the enrolment: a non-2xx status, a body that is not such an
 * object, or no answer within the timeout. Timeouts, failed connections,
 * 408, 429 (Retry-After honoured within a bound) and 5xx are retried a few
 * times and then refused as retryable (the device may try again later);
 * other answers are refused for good.
 *
 * After the enrolment the gateway reports the outcome to the same URL, the
 * same way signed, best effort (failures are logged, never retried beyond
 * the same bound; any 2xx acknowledges):
 *
 *     {"event": "issued", "endpoint", "transactionId", "messageType", "subject", "sans", "csr", "sourceIp",
 *      "certificate": {"der": "<base64 DER>", "serialHex", "thumbprintSha1", "notAfter": "<ISO 8601>",
 *                      "issuer": "<RFC 4514>"}}
 *     {"event": "failed", "endpoint", "transactionId", "messageType", "subject", "sans", "csr", "sourceIp",
 *      "reason": "<why>"}
 *
 * Notifications leave the challenge out: once spent it serves no one.
 */
export function createWebhookValidator(options: {
  readonly endpointName: string;
  readonly settings: WebhookSettings;
  readonly secret: string;
  readonly deps: ExternalValidatorDeps;
}): ExternalChallengeValidator {
  const { settings, secret, deps } = options;
  const tuning = resolveTuning(deps.tuning);
  const fetchFn = deps.fetch ?? fetch;
  const logger = deps.logger.child({ scepEndpoint: options.endpointName, validator: "webhook" });
  const retryDeps = { tuning, sleep: deps.sleep ?? realSleep, clock: deps.clock };

  /** POSTs `payload`, signed, with retries: the 2xx body text, or why there was none. */
  function post(payload: Record<string, unknown>): Promise<Step<string>> {
    const body = JSON.stringify(payload);
    return runWithRetries(async (op) => {
      const timestamp = String(Math.floor(deps.clock.now().getTime() / 1000));
      const outcome = await fetchWithin(op, fetchFn, tuning, {
        url: settings.url,
        method: "POST",
        headers: {
          "Content-Type": "application/json",
          Accept: "application/json",
          "User-Agent": "Chancery-SCEP-webhook",
          [webhookTimestampHeader]: timestamp,
          [webhookSignatureHeader]: webhookSignature(secret, timestamp, body),
        },
        body,
      });
      if (outcome.kind === "failed") return stepFailure(exchangeFailure("the webhook", outcome));
      if (outcome.status < 200 || outcome.status > 299) {
        return stepFailure(statusFailure("the webhook", outcome.status, outcome.retryAfter));
      }
      return { ok: true, value: outcome.text };
    }, retryDeps);
  }

  function facts(f: EnrolmentFacts): Record<string, unknown> {
    return {
      endpoint: options.endpointName,
      transactionId: f.transactionId,
      messageType: f.messageType,
      subject: f.subject,
      sans: f.sans,
    };
  }

  function csrAndSource(f: EnrolmentFacts): Record<string, unknown> {
    return { csr: Buffer.from(f.csrDer).toString("base64"), sourceIp: f.sourceIp ?? null };
  }

  async function notify(event: "issued" | "failed", f: EnrolmentFacts, extra: Record<string, unknown>) {
    const log = logger.child({ transactionId: f.transactionId, event });
    try {
      const result = await post({ event, ...facts(f), ...csrAndSource(f), ...extra });
      if (result.ok) log.debug("webhook: notification delivered");
      else log.warn({ reason: result.failure.reason }, "webhook: notification not delivered");
    } catch (err) {
      log.error({ err }, "webhook: notification failed internally");
    }
  }

  return {
    async validate(f): Promise<ValidationVerdict> {
      const log = logger.child({ transactionId: f.transactionId });
      try {
        const result = await post({ event: "validate", ...facts(f), challenge: f.challenge, ...csrAndSource(f) });
        if (!result.ok) {
          log.warn(
            { reason: result.failure.reason, retryable: result.failure.transient },
            "webhook: validation failed",
          );
          return { allowed: false, reason: result.failure.reason, retryable: result.failure.transient };
        }
        const answer = parseJson(result.value);
        if (!isRecord(answer) || typeof answer["allow"] !== "boolean") {
          log.warn("webhook: answer is not a JSON {allow} object");
          return {
            allowed: false,
            reason: 'the webhook answered without a JSON {"allow": boolean} object',
            retryable: false,
          };
        }
        if (answer["allow"]) {
          log.info("webhook: enrolment allowed");
          return { allowed: true };
        }
        const reason = remoteText(answer["reason"]) || "no reason given";
        log.info({ reason }, "webhook: enrolment denied");
        return { allowed: false, reason: `the webhook denied the enrolment: ${reason}`, retryable: false };
      } catch (err) {
        log.error({ err }, "webhook: validation failed internally");
        return { allowed: false, reason: "internal error while asking the webhook", retryable: true };
      }
    },

    notifyIssued(f, certificate: IssuedForValidator) {
      return notify("issued", f, {
        certificate: {
          der: Buffer.from(certificate.der).toString("base64"),
          serialHex: certificate.serialHex,
          thumbprintSha1: certificate.thumbprintSha1,
          notAfter: certificate.notAfter.toISOString(),
          issuer: certificate.issuer,
        },
      });
    },

    notifyFailed(f, failure) {
      return notify("failed", f, { reason: failure.reason });
    },
  };
}
