import { z } from "zod";
import { parseDuration } from "../core/profiles/duration.ts";

/** `host:port`; IPv6 hosts in brackets (`[::1]:8443`). Port 0 picks a free port (tests). */
const listenAddress = z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, {
  message: 'must be "host:port", e.g. "0.0.0.0:8443" or "[::1]:8443"',
});

const httpUrl = z
  .string()
  .url({ message: "must be an absolute URL" })
  .refine((value) => /^https?:\/\//.test(value), { message: "must be an http:// or https:// URL" })
  .transform((value) => value.replace(/\/+$/, ""));

/**
 * A duration in seconds, written as profiles write them ("1d", "24h", "60s",
 * "3600", or a number of seconds), between `min` and `max` seconds.
 */
function duration(min: number, max: number) {
  const text = (seconds: number) =>
    seconds % 86_400 === 0 ? `${seconds / 86_400}d` : seconds % 3600 === 0 ? `${seconds / 3600}h` : `${seconds}s`;
  return z.union([z.string(), z.number()]).transform((value, ctx) => {
    const seconds = parseDuration(value);
    if (seconds === undefined) {
      ctx.addIssue({ code: "custom", message: 'must be a duration such as "60s", "30m", "24h" or "7d"' });
      return z.NEVER;
    }
    if (seconds < min || seconds > max) {
      ctx.addIssue({ code: "custom", message: `must be between ${text(min)} and ${text(max)}` });
      return z.NEVER;
    }
    return seconds;
  });
}

/** The OCSP response window is backdated this much (OcspServiceOptions.backdateSeconds default). */
const ocspBackdateSeconds = 60;

/**
 * The whole gateway configuration. Every field has a safe default so that
 * `npm start` works on a fresh machine; docs/configuration.md and the README
 * list each key with its environment override.
 */
export const configSchema = z
  .object({
    /** Embedded Postgres, key-encryption key, CA chain PEM and TLS material live here. */
    dataDir: z.string().min(1).default("./data"),
    /**
     * What goes into issued certificates' CDP/AIA URLs and ACME links. OCSP
     * and CRLs are plain HTTP by design (RFC 9919 §4), so the default points
     * at the OCSP/CRL listener.
     */
    publicBaseUrl: httpUrl
      .refine((value) => value.startsWith("http://"), {
        message:
          "must be a plain http:// URL: relying parties fetch CRLs, OCSP and issuer certificates while " +
          "checking TLS, so HTTPS there would loop (RFC 9919 §4, RFC 5280 §4.2.2.1)",
      })
      .default("http://localhost:8081"),
    database: z
      .object({
        /** Postgres connection URI; unset means a private embedded Postgres in dataDir. */
        url: z.string().min(1).optional(),
        maxConnections: z.number().int().min(2).max(200).default(10),
        statementTimeoutMs: z.number().int().min(100).default(30_000),
        /**
         * Server-side prepared statements for the statements sent most
         * (decision 0016). Turn off behind a pooler in transaction mode that
         * does not track them (PgBouncer before 1.21, or without
         * max_prepared_statements).
         */
        preparedStatements: z.boolean().default(true),
      })
      .strict()
      .default({}),
    /**
     * Key-encryption key for CA private keys (AES-256-GCM), base64 or hex of
     * 32 bytes. Unset: read from dataDir/kek, generated there on first start.
     */
    keyEncryptionKey: z.string().min(1).optional(),
    keyEncryptionKeyFile: z.string().min(1).optional(),
    listen: z
      .object({
        acme: listenAddress.default("0.0.0.0:8443"),
        scep: listenAddress.default("0.0.0.0:8080"),
        est: listenAddress.default("0.0.0.0:8444"),
        ocsp: listenAddress.default("0.0.0.0:8081"),
        admin: listenAddress.default("0.0.0.0:9443"),
        metrics: listenAddress.default("0.0.0.0:9090"),
      })
      .strict()
      .default({}),
    tls: z
      .object({
        /** PEM certificate chain and key for the HTTPS listeners; both or neither. */
        certificateFile: z.string().min(1).optional(),
        keyFile: z.string().min(1).optional(),
        /** Names the gateway's self-issued listener certificate covers when no files are given. */
        names: z.array(z.string().min(1)).min(1).default(["localhost", "127.0.0.1", "::1"]),
        /** Renew the self-issued certificate when less than this fraction of its life is left. */
        renewBeforeFraction: z
          .number()
          .gt(0)
          .lt(1)
          .default(1 / 3),
      })
      .strict()
      .refine((tls) => (tls.certificateFile === undefined) === (tls.keyFile === undefined), {
        message: "certificateFile and keyFile must be given together",
      })
      .default({}),
    bootstrap: z
      .object({
        organization: z.string().min(1).default("Chancery"),
        rootCommonName: z.string().min(1).default("Chancery Root CA"),
        intermediateCommonName: z.string().min(1).default("Chancery Issuing CA"),
        rootValidityDays: z
          .number()
          .int()
          .min(1)
          .default(3650 * 2),
        intermediateValidityDays: z.number().int().min(1).default(3650),
      })
      .strict()
      .default({}),
    /** The OCSP responder (docs/decisions/0007-ocsp-responses-and-replicas.md). Durations in seconds once parsed. */
    ocsp: z
      .object({
        /** nextUpdate - thisUpdate of each response; re-signed at half of it. */
        responseValidity: duration(60, 7 * 86_400).default("1d"),
        /** Most pre-signed responses kept in memory per replica (about 500 bytes each). */
        cacheEntries: z.number().int().min(1).max(10_000_000).default(50_000),
        /** A cached answer is re-checked against Postgres after this long: the bound when a NOTIFY is lost. */
        maxCacheAge: duration(1, 3600).default("60s"),
        /** Lifetime of each CA's delegated responder certificate; rotated with a third of it left. */
        responderLifetime: duration(3600, 30 * 86_400).default("7d"),
        /** Between background pre-signing passes: also how soon a new certificate gets stored responses. */
        presignInterval: duration(1, 3600).default("60s"),
        /** Certificates per pre-signing batch (one transaction, two signatures each). */
        presignBatchSize: z.number().int().min(1).max(100_000).default(2000),
      })
      .strict()
      // A response must stay valid for its whole window: the responder rotates a third before its end.
      .refine((o) => o.responseValidity + ocspBackdateSeconds <= Math.floor(o.responderLifetime / 3), {
        message: "responseValidity (plus 60 s of backdating) must fit in a third of responderLifetime",
        path: ["responseValidity"],
      })
      .default({}),
    crl: z
      .object({
        /** nextUpdate - thisUpdate of each CRL; rebuilt at half of it, and soon after each revocation. */
        validity: duration(60, 366 * 86_400).default("24h"),
        /** Between scheduled CRL passes: also the bound on noticing a revocation whose rebuild request was lost. */
        interval: duration(1, 86_400).default("60s"),
      })
      .strict()
      .default({}),
    /** The ACME server (RFC 8555). Directories themselves are managed through the admin API (AcmeService). */
    acme: z
      .object({
        /**
         * The HTTPS origin clients reach the ACME listener at; every URL in ACME
         * responses is absolute under it (certbot breaks on relative Link URLs).
         */
        baseUrl: httpUrl
          .refine((value) => value.startsWith("https://"), {
            message: "must be an https:// URL: RFC 8555 §6.1 requires HTTPS for every ACME request",
          })
          .default("https://localhost:8443"),
        /** A nonce is accepted this long after it was minted (RFC 8555 §7.2). */
        nonceLifetime: duration(60, 86_400).default("1h"),
        /** Pending orders and authorizations expire after this long. */
        orderLifetime: duration(300, 30 * 86_400).default("7d"),
        /** A valid authorization is reused for new orders of the same account this long. */
        authorizationLifetime: duration(300, 90 * 86_400).default("30d"),
        validation: z
          .object({
            /**
             * DNS servers ("ip" or "ip:port") for dns-01, CAA and the address
             * lookups of http-01/tls-alpn-01; empty = the system resolver.
             */
            dnsResolvers: z.array(z.string().min(1)).default([]),
            /** Ports the validator connects to: 80 and 443 by RFC 8555 §8.3 and RFC 8737 §3; tests move them. */
            httpPort: z.number().int().min(1).max(65_535).default(80),
            tlsAlpnPort: z.number().int().min(1).max(65_535).default(443),
            /** Per attempt (connect, request and read together). */
            timeout: duration(1, 120).default("10s"),
            /** Attempts before a transient failure (timeout, refused, SERVFAIL) makes the challenge invalid. */
            attempts: z.number().int().min(1).max(10).default(3),
          })
          .strict()
          .default({}),
      })
      .strict()
      .default({}),
    /** The SCEP server (RFC 8894). Endpoints themselves are managed through the admin API (ScepService). */
    scep: z
      .object({
        /**
         * The origin devices reach the SCEP listener at (plain HTTP is normal:
         * SCEP protects its messages with CMS); endpoint URLs shown by the
         * admin API are <baseUrl>/scep/<name>.
         */
        baseUrl: httpUrl.default("http://localhost:8080"),
        /** Lifetime of each endpoint's RA certificate; a new one is made when a third of it is left. */
        raCertificateLifetime: duration(86_400, 5 * 366 * 86_400).default("365d"),
        /**
         * How long a settled enrolment transaction keeps its CSR; after that only what replay
         * detection and late polls need is kept (docs/decisions/0014-scep-transaction-retention.md).
         */
        transactionRetention: duration(86_400, 10 * 366 * 86_400).default("90d"),
      })
      .strict()
      .default({}),
    /** The EST server (RFC 7030). Labels themselves are managed through the admin API (EstService). */
    est: z
      .object({
        /**
         * The HTTPS origin clients reach the EST listener at; label URLs shown
         * by the admin API are <baseUrl>/.well-known/est/<label>.
         */
        baseUrl: httpUrl
          .refine((value) => value.startsWith("https://"), {
            message: "must be an https:// URL: RFC 7030 §3.3 requires HTTPS",
          })
          .default("https://localhost:8444"),
        /** Retry-After of a 202 answer while a request waits for approval (RFC 7030 §4.2.3). */
        retryAfter: duration(1, 86_400).default("60s"),
      })
      .strict()
      .default({}),
    log: z
      .object({
        level: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
        /** Pretty, human-readable lines; default: only when stdout is a terminal. */
        pretty: z.boolean().optional(),
      })
      .strict()
      .default({}),
  })
  .strict()
  .refine((c) => c.keyEncryptionKey === undefined || c.keyEncryptionKeyFile === undefined, {
    message: "set keyEncryptionKey or keyEncryptionKeyFile, not both",
    path: ["keyEncryptionKey"],
  });

export type Config = z.infer<typeof configSchema>;
