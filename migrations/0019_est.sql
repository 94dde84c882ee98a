-- The EST server (RFC 7030): labels, one-time enrollment secrets and the
-- enrollments EST itself has to remember (src/core/est/). Forward-only.

-- One EST label per row, served at /.well-known/est/<name>/ (and, for the one
-- marked default, at /.well-known/est/ too), bound to one CA, one profile
-- and one authentication policy.
CREATE TABLE est_labels (
  id                              uuid PRIMARY KEY,
  name                            text NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
  is_default                      boolean NOT NULL DEFAULT false,
  ca_id                           uuid NOT NULL REFERENCES certificate_authorities (id),
  profile_name                    text NOT NULL,
  -- certificate: a TLS client certificate chaining to the trust anchors below;
  -- basic: HTTP Basic (a gateway user's token, or a one-time enrollment
  -- secret); either: one of the two; both: the two together.
  auth_mode                       text NOT NULL CHECK (auth_mode IN ('certificate', 'basic', 'either', 'both')),
  -- Trust anchors for client certificates: our CAs by id, and external
  -- anchors (e.g. a manufacturer CA for IDevID bootstrap) as DER.
  client_ca_ids                   uuid[] NOT NULL DEFAULT '{}',
  external_anchors_der            bytea[] NOT NULL DEFAULT '{}',
  -- RFC 7030 §3.5: the CSR's challengePassword must carry the TLS channel binding.
  channel_binding_required        boolean NOT NULL DEFAULT false,
  -- RFC 7030 §4.4 /serverkeygen answered (otherwise 501, as a server without it would).
  server_keygen_allowed           boolean NOT NULL DEFAULT false,
  -- RFC 7030 §4.2.2: a re-enrollment may ask for another subject and SANs.
  reenroll_subject_change_allowed boolean NOT NULL DEFAULT false,
  -- Default lifetime of a minted enrollment secret.
  secret_lifetime_seconds         integer NOT NULL DEFAULT 86400 CHECK (secret_lifetime_seconds BETWEEN 60 AND 2592000),
  enabled                         boolean NOT NULL DEFAULT true,
  created_at                      timestamptz NOT NULL,
  updated_at                      timestamptz NOT NULL,
  -- A label that accepts client certificates names at least one anchor.
  CHECK (auth_mode = 'basic' OR cardinality(client_ca_ids) + cardinality(external_anchors_der) > 0)
);
-- At most one label answers /.well-known/est/ without a label segment.
CREATE UNIQUE INDEX est_labels_one_default ON est_labels (is_default) WHERE is_default;

-- One-time enrollment secrets (HTTP Basic password), minted through the
-- admin API. Only the SHA-256 of the secret is kept; it is shown once.
CREATE TABLE est_enrollment_secrets (
  id                  uuid PRIMARY KEY,
  label_id            uuid NOT NULL REFERENCES est_labels (id) ON DELETE CASCADE,
  secret_hash         bytea NOT NULL UNIQUE,
  -- Optional binding: the CSR must ask for exactly this subject (RFC 4514 string) and these SANs.
  bound_subject       text,
  bound_sans          jsonb,
  created_by          text NOT NULL,
  created_at          timestamptz NOT NULL,
  expires_at          timestamptz NOT NULL,
  -- Single use: when it was spent, and the enrollment that spent it
  -- ("certificate:<serial>" or "est-enrollment:<id>" while it waits for approval).
  used_at             timestamptz,
  used_by             text,
  revoked_at          timestamptz,
  CHECK (expires_at > created_at)
);
CREATE INDEX est_enrollment_secrets_label_created_at ON est_enrollment_secrets (label_id, created_at, id);

-- Enrollments EST has to remember: those waiting in the approval queue (the
-- client retries the same request after Retry-After, RFC 7030 §4.2.3) and
-- re-enrollments, which record the certificate they replace (§4.2.2).
-- Enrollments issued at once are recorded by the certificate itself
-- (requester "est-...:<label>/...", source protocol est) and its audit event.
CREATE TABLE est_enrollments (
  id                      uuid PRIMARY KEY,
  label_id                uuid NOT NULL REFERENCES est_labels (id) ON DELETE CASCADE,
  operation               text NOT NULL CHECK (operation IN ('simpleenroll', 'simplereenroll', 'serverkeygen')),
  -- The authenticated client, as the certificate's requester records it.
  requester               text NOT NULL,
  -- SHA-256 of the CSR's SubjectPublicKeyInfo: a retry must be for the same key.
  public_key_sha256       bytea NOT NULL,
  state                   text NOT NULL CHECK (state IN ('pending', 'issued', 'rejected', 'failed')),
  request_id              uuid REFERENCES requests (id),
  certificate_serial_hex  text,
  replaces_serial_hex     text,
  -- serverkeygen waiting for approval: the key generated for it, sealed under
  -- the KEK bound to the row id, until the client collects the certificate.
  sealed_private_key      bytea,
  failure_reason          text,
  source_ip               text,
  created_at              timestamptz NOT NULL,
  updated_at              timestamptz NOT NULL,
  CHECK ((state = 'issued') = (certificate_serial_hex IS NOT NULL))
);
-- One waiting enrollment per (label, client, key): a retry finds it, a racing duplicate is refused.
CREATE UNIQUE INDEX est_enrollments_one_pending ON est_enrollments (label_id, requester, public_key_sha256)
  WHERE state = 'pending';
CREATE INDEX est_enrollments_replaces ON est_enrollments (replaces_serial_hex) WHERE replaces_serial_hex IS NOT NULL;
CREATE INDEX est_enrollments_label_created_at ON est_enrollments (label_id, created_at DESC, id DESC);
