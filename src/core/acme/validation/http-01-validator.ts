import type { ValidationInput, ValidationResult } from "./challenge-validator.ts";
import type { DnsLookup } from "./dns-lookup.ts";
import { type HttpGetOutcome, httpGet, redirectStatuses } from "./http-get.ts";
import { type RedirectPolicy, type RedirectTarget, redirectTarget } from "./http-redirect-policy.ts";
import { connectionFailureKind } from "./network-error.ts";
import { resolveAddresses, urlHost } from "./resolve-addresses.ts";
import { targetHost } from "./target-host.ts";
import { quoteRemote, validationFailure } from "./validation-outcome.ts";

export interface Http01Options {
  readonly dns: DnsLookup;
  readonly httpPort: number;
  readonly httpsPort: number;
  /** Per request (each redirect hop and address gets its own). */
  readonly timeoutMs: number;
  readonly maxRedirects: number;
  readonly maxBodyBytes: number;
}

/** RFC 8555 §8.1: a token is base64url, so it can go into a URL path as is. */
const tokenPattern = /^[A-Za-z0-9_-]+$/;
/** 502/503/504: the server is there but momentarily unable to answer; worth another attempt. */
const transientStatuses: ReadonlySet<number> = new Set([502, 503, 504]);

/**
 * RFC 8555 §8.3 http-01: GET http://<identifier>/.well-known/acme-challenge/<token>
 * (RFC 8738 §7 for ip identifiers), following redirects, and compare the
 * body, trailing whitespace ignored, to the key authorization.
 */
export async function validateHttp01(input: ValidationInput, options: Http01Options): Promise<ValidationResult> {
  const { identifier } = input;
  const host = targetHost(identifier);
  if (!host.ok) return validationFailure("malformed", host.detail, identifier, {}, false);
  if (!tokenPattern.test(input.token))
    return validationFailure("malformed", "challenge token is not base64url", identifier, {}, false);

  const port = options.httpPort;
  const firstUrl = `http://${urlHost(host.host)}${port === 80 ? "" : `:${port}`}/.well-known/acme-challenge/${input.token}`;
  const policy: RedirectPolicy = {
    httpPorts: new Set([80, options.httpPort]),
    httpsPorts: new Set([443, options.httpsPort]),
    allowedIp: identifier.type === "ip" ? host.host : undefined,
  };
  const hops: Record<string, unknown>[] = [];
  const record = { url: firstUrl, hops };
  let target: RedirectTarget = {
    scheme: "http",
    host: host.host,
    port,
    path: new URL(firstUrl).pathname,
    url: firstUrl,
  };

  for (let redirects = 0; ; redirects++) {
    const hop: Record<string, unknown> = { url: target.url };
    hops.push(hop);
    const resolution = await resolveAddresses(options.dns, target.host);
    hop["dns"] = resolution.record;
    if (!resolution.ok) return validationFailure("dns", resolution.detail, identifier, record, resolution.retryable);

    let outcome: HttpGetOutcome | undefined;
    for (const address of resolution.addresses) {
      hop["address"] = address;
      outcome = await httpGet({
        scheme: target.scheme,
        address,
        port: target.port,
        host: target.host,
        path: target.path,
        maxBodyBytes: options.maxBodyBytes,
        timeoutMs: options.timeoutMs,
      });
      // Fall back to the other address family only when this address did not answer at all.
      if (outcome.kind === "response" || connectionFailureKind(outcome.code, outcome.timedOut) !== "connection") break;
    }
    if (!outcome)
      return validationFailure("dns", `no address to connect to for ${target.host}`, identifier, record, false);
    const at = `${urlHost(String(hop["address"]))}: fetching ${target.url}`;

    if (outcome.kind === "error") {
      hop["error"] = `${outcome.code}: ${outcome.message}`;
      const kind = connectionFailureKind(outcome.code, outcome.timedOut);
      if (kind === "tls")
        return validationFailure("tls", `${at}: TLS error (${outcome.code})`, identifier, record, false);
      if (kind === "protocol")
        return validationFailure("unauthorized", `${at}: malformed HTTP response`, identifier, record, false);
      const why = outcome.timedOut ? "timeout" : outcome.code;
      return validationFailure("connection", `${at}: ${why}`, identifier, record, true);
    }

    hop["status"] = outcome.status;
    if (redirectStatuses.has(outcome.status) && outcome.location !== undefined) {
      hop["location"] = outcome.location;
      if (redirects >= options.maxRedirects)
        return validationFailure(
          "unauthorized",
          `${at}: more than ${options.maxRedirects} redirects`,
          identifier,
          record,
          false,
        );
      const next = redirectTarget(target.url, outcome.location, policy);
      if (!next.ok) return validationFailure("unauthorized", `${at}: ${next.detail}`, identifier, record, false);
      target = next.target;
      continue;
    }

    if (outcome.status !== 200)
      return validationFailure(
        "unauthorized",
        `${at}: invalid response: HTTP ${outcome.status}`,
        identifier,
        record,
        transientStatuses.has(outcome.status),
      );
    if (outcome.truncated)
      return validationFailure(
        "incorrectResponse",
        `${at}: response body is larger than ${options.maxBodyBytes} bytes`,
        identifier,
        record,
        false,
      );
    // RFC 8555 §8.3: "The server SHOULD ignore whitespace characters at the end of the body."
    const body = outcome.body.toString("utf8").replace(/[ \t\r\n]+$/, "");
    hop["bodyLength"] = outcome.body.length;
    if (body !== input.keyAuthorization)
      return validationFailure(
        "incorrectResponse",
        `${at}: the key authorization file did not match this challenge: expected ${quoteRemote(input.keyAuthorization, 200)}, got ${quoteRemote(body)}`,
        identifier,
        record,
        false,
      );
    return { valid: true, record };
  }
}
