import type { Logger } from "pino";
import { problemDocument } from "../acme-problem.ts";
import type { ChallengeValidator, ValidationInput, ValidationResult } from "./challenge-validator.ts";
import { validateDns01 } from "./dns-01-validator.ts";
import type { DnsLookup } from "./dns-lookup.ts";
import { validateHttp01 } from "./http-01-validator.ts";
import { validateTlsAlpn01 } from "./tls-alpn-01-validator.ts";

export interface ChallengeValidatorOptions {
  /** Our resolver: every address a validation connects to comes from it (or is the ip identifier). */
  readonly dns: DnsLookup;
  /** RFC 8555 §8.3: 80; another port only for test and lab set-ups. */
  readonly httpPort?: number;
  /** RFC 8737 §3: 443. */
  readonly tlsAlpnPort?: number;
  /** Port an https: redirect of http-01 may name besides 443. Default 443. */
  readonly httpsPort?: number;
  /** Per connection attempt, in milliseconds. */
  readonly timeoutMs: number;
  readonly logger: Logger;
  /** http-01 redirects followed at most (Boulder: 10). */
  readonly maxRedirects?: number;
  /** http-01 response body bytes read at most; a key authorization is under 200. */
  readonly maxBodyBytes?: number;
}

/**
 * The ChallengeValidator over real networks (RFC 8555 §8.3–8.4, RFC 8737,
 * RFC 8738). It never throws for what the remote side does: every outcome,
 * including an internal error, is a ValidationResult with a record of what
 * was checked, so the caller can store it on the challenge.
 */
export function createChallengeValidator(options: ChallengeValidatorOptions): ChallengeValidator {
  const httpPort = options.httpPort ?? 80;
  const tlsAlpnPort = options.tlsAlpnPort ?? 443;
  const httpsPort = options.httpsPort ?? 443;
  const { dns, timeoutMs, logger } = options;

  async function run(input: ValidationInput): Promise<ValidationResult> {
    switch (input.type) {
      case "http-01":
        return validateHttp01(input, {
          dns,
          httpPort,
          httpsPort,
          timeoutMs,
          maxRedirects: options.maxRedirects ?? 10,
          maxBodyBytes: options.maxBodyBytes ?? 8192,
        });
      case "dns-01":
        return validateDns01(input, dns);
      case "tls-alpn-01":
        return validateTlsAlpn01(input, { dns, tlsAlpnPort, timeoutMs });
    }
  }

  return {
    async validate(input) {
      const started = Date.now();
      let result: ValidationResult;
      try {
        result = await run(input);
      } catch (err) {
        // A bug of ours, not the client's doing: keep the detail out of the problem (it is shown to the client).
        logger.error({ err, type: input.type, identifier: input.identifier }, "challenge validation failed internally");
        result = {
          valid: false,
          problem: problemDocument("serverInternal", "internal error during validation", {
            identifier: input.identifier,
          }),
          record: {},
          retryable: true,
        };
      }
      logger.debug(
        {
          type: input.type,
          identifier: input.identifier,
          valid: result.valid,
          problem: result.valid ? undefined : result.problem.type,
          record: result.record,
          ms: Date.now() - started,
        },
        "challenge validation",
      );
      return result;
    },
  };
}
