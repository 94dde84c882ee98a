-- The ACME server (RFC 8555, RFC 9773 ARI): directories, external account
-- binding keys, accounts, orders, authorizations, challenges, redeemed
-- nonces and rate-limit counters (src/core/acme/). Forward-only.

-- One ACME directory per row, served at <acme base URL>/acme/<name>/directory,
-- bound to one CA and a set of profiles.
CREATE TABLE acme_directories (
  id                          uuid PRIMARY KEY,
  name                        text NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
  ca_id                       uuid NOT NULL REFERENCES certificate_authorities (id),
  -- Profile names an order may ask for (draft-ietf-acme-profiles); by name, like issuance.
  allowed_profiles            text[] NOT NULL CHECK (cardinality(allowed_profiles) >= 1),
  default_profile             text NOT NULL,
  -- challenge: every identifier proven by a challenge. eab_trusted: accounts
  -- bound by EAB are trusted, without challenges, for identifiers matching
  -- trusted_identifiers (internal PKI); other identifiers still need challenges.
  authorization_mode          text NOT NULL CHECK (authorization_mode IN ('challenge', 'eab_trusted')),
  trusted_identifiers         text[] NOT NULL DEFAULT '{}',
  -- Subset of http-01, dns-01, tls-alpn-01 offered to clients.
  challenge_types             text[] NOT NULL,
  external_account_required   boolean NOT NULL DEFAULT false,
  -- RFC 8659 CAA checking before issuance, and the issuer domain names we answer to.
  caa_check                   boolean NOT NULL DEFAULT true,
  caa_identities              text[] NOT NULL DEFAULT '{}',
  terms_of_service_url        text,
  website_url                 text,
  -- {"ordersPerAccountPerHour": n, "newAccountsPerIpPerHour": n, "ordersPerIdentifierSetPerWeek": n}; absent = default.
  rate_limits                 jsonb NOT NULL DEFAULT '{}',
  enabled                     boolean NOT NULL DEFAULT true,
  created_at                  timestamptz NOT NULL,
  updated_at                  timestamptz NOT NULL,
  CHECK (default_profile = ANY (allowed_profiles)),
  CHECK (challenge_types <@ ARRAY['http-01', 'dns-01', 'tls-alpn-01']::text[])
);

-- RFC 8555 §7.3.4 external account binding keys. The HMAC key itself must be
-- read back to check a MAC, so it is sealed under the KEK (bound to the key
-- id), not hashed; it is shown once, when created.
CREATE TABLE acme_eab_keys (
  key_id            text PRIMARY KEY CHECK (key_id ~ '^[A-Za-z0-9_-]{16,64}$'),
  directory_id      uuid NOT NULL REFERENCES acme_directories (id),
  label             text NOT NULL DEFAULT '',
  sealed_hmac_key   bytea NOT NULL,
  created_by        text NOT NULL,
  created_at        timestamptz NOT NULL,
  expires_at        timestamptz,
  -- Single use: the account it bound.
  account_id        uuid,
  bound_at          timestamptz,
  revoked_at        timestamptz,
  CHECK ((account_id IS NULL) = (bound_at IS NULL))
);
CREATE INDEX acme_eab_keys_directory_created_at ON acme_eab_keys (directory_id, created_at, key_id);

CREATE TABLE acme_accounts (
  id                uuid PRIMARY KEY,
  directory_id      uuid NOT NULL REFERENCES acme_directories (id),
  -- The account public key as a JWK (RFC 7517), and its RFC 7638 thumbprint (SHA-256, base64url).
  jwk               jsonb NOT NULL,
  jwk_thumbprint    text NOT NULL,
  status            text NOT NULL CHECK (status IN ('valid', 'deactivated', 'revoked')),
  contacts          text[] NOT NULL DEFAULT '{}',
  tos_agreed_at     timestamptz,
  eab_key_id        text REFERENCES acme_eab_keys (key_id),
  created_ip        text,
  created_at        timestamptz NOT NULL,
  updated_at        timestamptz NOT NULL,
  -- RFC 8555 §7.3: one account per key (per directory); key rollover moves it.
  UNIQUE (directory_id, jwk_thumbprint)
);
ALTER TABLE acme_eab_keys ADD FOREIGN KEY (account_id) REFERENCES acme_accounts (id);

CREATE TABLE acme_orders (
  id                    uuid PRIMARY KEY,
  account_id            uuid NOT NULL REFERENCES acme_accounts (id),
  status                text NOT NULL CHECK (status IN ('pending', 'ready', 'processing', 'valid', 'invalid')),
  -- [{"type": "dns" | "ip", "value": "..."}], normalised, sorted, unique.
  identifiers           jsonb NOT NULL,
  -- SHA-256 of the sorted identifier set, for the per-identifier-set rate limit.
  identifier_set_hash   text NOT NULL,
  profile_name          text NOT NULL,
  not_before            timestamptz,
  not_after             timestamptz,
  expires_at            timestamptz NOT NULL,
  -- An RFC 7807 problem document when invalid.
  error                 jsonb,
  certificate_serial_hex text REFERENCES certificates (serial_hex),
  -- Set while an order whose profile requires approval waits in the queue (src/core/requests/).
  request_id            uuid REFERENCES requests (id),
  -- RFC 9773 §5: the certificate this order replaces (ARI certID and serial).
  replaces_cert_id      text,
  replaces_serial_hex   text REFERENCES certificates (serial_hex),
  created_at            timestamptz NOT NULL,
  updated_at            timestamptz NOT NULL,
  CHECK ((status = 'valid') = (certificate_serial_hex IS NOT NULL))
);
-- The account's orders list (RFC 8555 §7.1.2.1), newest first, in pages.
CREATE INDEX acme_orders_account_created_at ON acme_orders (account_id, created_at DESC, id DESC);
CREATE INDEX acme_orders_identifier_set_created_at ON acme_orders (identifier_set_hash, created_at);
-- RFC 9773 §5: a certificate is replaced by at most one live order.
CREATE UNIQUE INDEX acme_orders_replaces_once ON acme_orders (replaces_serial_hex)
  WHERE replaces_serial_hex IS NOT NULL AND status <> 'invalid';
CREATE INDEX acme_orders_request ON acme_orders (request_id) WHERE request_id IS NOT NULL;

CREATE TABLE acme_authorizations (
  id                uuid PRIMARY KEY,
  account_id        uuid NOT NULL REFERENCES acme_accounts (id),
  identifier_type   text NOT NULL CHECK (identifier_type IN ('dns', 'ip')),
  -- Without the "*." of a wildcard (RFC 8555 §7.1.4).
  identifier_value  text NOT NULL,
  wildcard          boolean NOT NULL DEFAULT false,
  status            text NOT NULL CHECK (status IN ('pending', 'valid', 'invalid', 'deactivated', 'expired', 'revoked')),
  expires_at        timestamptz NOT NULL,
  -- Valid without a challenge: an EAB-bound account trusted for this identifier (internal-PKI mode).
  trusted           boolean NOT NULL DEFAULT false,
  created_at        timestamptz NOT NULL,
  updated_at        timestamptz NOT NULL
);
-- Reuse of an account's valid authorizations for new orders.
CREATE INDEX acme_authorizations_reuse
  ON acme_authorizations (account_id, identifier_type, identifier_value, wildcard, status, expires_at);

CREATE TABLE acme_order_authorizations (
  order_id          uuid NOT NULL REFERENCES acme_orders (id),
  authorization_id  uuid NOT NULL REFERENCES acme_authorizations (id),
  PRIMARY KEY (order_id, authorization_id)
);
CREATE INDEX acme_order_authorizations_authorization ON acme_order_authorizations (authorization_id);

CREATE TABLE acme_challenges (
  id                uuid PRIMARY KEY,
  authorization_id  uuid NOT NULL REFERENCES acme_authorizations (id),
  type              text NOT NULL CHECK (type IN ('http-01', 'dns-01', 'tls-alpn-01')),
  -- RFC 8555 §8.3: at least 128 bits of entropy, base64url.
  token             text NOT NULL,
  status            text NOT NULL CHECK (status IN ('pending', 'processing', 'valid', 'invalid')),
  validated_at      timestamptz,
  error             jsonb,
  -- What was checked (addresses, URL, resolver answers), for audit and debugging.
  validation_record jsonb,
  attempts          integer NOT NULL DEFAULT 0,
  -- While processing: when any replica may (re)try the validation (claimed with FOR UPDATE SKIP LOCKED).
  next_attempt_at   timestamptz,
  created_at        timestamptz NOT NULL,
  updated_at        timestamptz NOT NULL,
  UNIQUE (authorization_id, type)
);
CREATE INDEX acme_challenges_due ON acme_challenges (next_attempt_at) WHERE status = 'processing';

-- RFC 8555 §6.5: a nonce is single use across every replica. Nonces are
-- minted without a write (authenticated with a key derived from the KEK);
-- redeeming one inserts it here, so a second redemption anywhere fails.
-- Rows go once the nonce would have expired anyway.
CREATE TABLE acme_redeemed_nonces (
  nonce       text PRIMARY KEY,
  expires_at  timestamptz NOT NULL
);
CREATE INDEX acme_redeemed_nonces_expires_at ON acme_redeemed_nonces (expires_at);

-- Fixed-window counters for rate limits: key = "<limit>:<directory>:<subject>".
CREATE TABLE acme_rate_limit_counters (
  key           text NOT NULL,
  window_start  timestamptz NOT NULL,
  count         integer NOT NULL,
  PRIMARY KEY (key, window_start)
);
CREATE INDEX acme_rate_limit_counters_window_start ON acme_rate_limit_counters (window_start);
