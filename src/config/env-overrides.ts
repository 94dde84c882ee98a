/**
 * Environment variables that override the config file, each mapped to one
 * key path. An explicit table (rather than a generic naming rule) keeps the
 * documented list and the code the same thing.
 */
export const envOverrides: ReadonlyArray<{
  env: string;
  path: readonly string[];
  type: "string" | "number" | "boolean" | "list";
}> = [
  { env: "CHANCERY_DATA_DIR", path: ["dataDir"], type: "string" },
  { env: "CHANCERY_PUBLIC_BASE_URL", path: ["publicBaseUrl"], type: "string" },
  { env: "DATABASE_URL", path: ["database", "url"], type: "string" },
  { env: "CHANCERY_DATABASE_URL", path: ["database", "url"], type: "string" },
  { env: "CHANCERY_DATABASE_MAX_CONNECTIONS", path: ["database", "maxConnections"], type: "number" },
  { env: "CHANCERY_DATABASE_PREPARED_STATEMENTS", path: ["database", "preparedStatements"], type: "boolean" },
  { env: "CHANCERY_KEY_ENCRYPTION_KEY", path: ["keyEncryptionKey"], type: "string" },
  { env: "CHANCERY_KEY_ENCRYPTION_KEY_FILE", path: ["keyEncryptionKeyFile"], type: "string" },
  { env: "CHANCERY_LISTEN_ACME", path: ["listen", "acme"], type: "string" },
  { env: "CHANCERY_LISTEN_SCEP", path: ["listen", "scep"], type: "string" },
  { env: "CHANCERY_LISTEN_EST", path: ["listen", "est"], type: "string" },
  { env: "CHANCERY_LISTEN_OCSP", path: ["listen", "ocsp"], type: "string" },
  { env: "CHANCERY_LISTEN_ADMIN", path: ["listen", "admin"], type: "string" },
  { env: "CHANCERY_LISTEN_METRICS", path: ["listen", "metrics"], type: "string" },
  { env: "CHANCERY_TLS_CERTIFICATE_FILE", path: ["tls", "certificateFile"], type: "string" },
  { env: "CHANCERY_TLS_KEY_FILE", path: ["tls", "keyFile"], type: "string" },
  { env: "CHANCERY_TLS_NAMES", path: ["tls", "names"], type: "list" },
  { env: "CHANCERY_OCSP_RESPONSE_VALIDITY", path: ["ocsp", "responseValidity"], type: "string" },
  { env: "CHANCERY_OCSP_CACHE_ENTRIES", path: ["ocsp", "cacheEntries"], type: "number" },
  { env: "CHANCERY_OCSP_MAX_CACHE_AGE", path: ["ocsp", "maxCacheAge"], type: "string" },
  { env: "CHANCERY_OCSP_RESPONDER_LIFETIME", path: ["ocsp", "responderLifetime"], type: "string" },
  { env: "CHANCERY_OCSP_PRESIGN_INTERVAL", path: ["ocsp", "presignInterval"], type: "string" },
  { env: "CHANCERY_OCSP_PRESIGN_BATCH_SIZE", path: ["ocsp", "presignBatchSize"], type: "number" },
  { env: "CHANCERY_CRL_VALIDITY", path: ["crl", "validity"], type: "string" },
  { env: "CHANCERY_CRL_INTERVAL", path: ["crl", "interval"], type: "string" },
  { env: "CHANCERY_ACME_BASE_URL", path: ["acme", "baseUrl"], type: "string" },
  { env: "CHANCERY_ACME_DNS_RESOLVERS", path: ["acme", "validation", "dnsResolvers"], type: "list" },
  { env: "CHANCERY_ACME_HTTP_PORT", path: ["acme", "validation", "httpPort"], type: "number" },
  { env: "CHANCERY_ACME_TLS_ALPN_PORT", path: ["acme", "validation", "tlsAlpnPort"], type: "number" },
  { env: "CHANCERY_SCEP_BASE_URL", path: ["scep", "baseUrl"], type: "string" },
  { env: "CHANCERY_EST_BASE_URL", path: ["est", "baseUrl"], type: "string" },
  { env: "CHANCERY_EST_RETRY_AFTER", path: ["est", "retryAfter"], type: "string" },
  { env: "CHANCERY_LOG_LEVEL", path: ["log", "level"], type: "string" },
  { env: "CHANCERY_LOG_PRETTY", path: ["log", "pretty"], type: "boolean" },
];
