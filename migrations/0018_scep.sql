-- The SCEP server (RFC 8894): endpoints, their RA certificates, one-time
-- challenges and enrolment transactions (src/core/scep/). Forward-only.

-- One SCEP endpoint per row, served at /scep/<name> (and /scep/<name>/pkiclient.exe),
-- bound to one CA, one profile and one way of checking the challenge password.
CREATE TABLE scep_endpoints (
  id                          uuid PRIMARY KEY,
  name                        text NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
  ca_id                       uuid NOT NULL REFERENCES certificate_authorities (id),
  profile_name                text NOT NULL,
  -- none: any well-formed request (a closed network only); static: one shared
  -- secret; dynamic: one-time challenges minted through the admin API; intune:
  -- Microsoft Intune's SCEP validation service decides; webhook: an HTTP hook decides.
  challenge_mode              text NOT NULL CHECK (challenge_mode IN ('none', 'static', 'dynamic', 'intune', 'webhook')),
  -- static: SHA-256 of the shared challenge, compared in constant time; the secret is shown once, never stored.
  static_challenge_hash       bytea,
  -- intune: {"tenant", "clientId", "providerNameAndVersion", "authorityUrl", "graphUrl", "intuneResourceUrl"};
  -- webhook: {"url"}. Only settings that are not secret.
  validation_settings         jsonb NOT NULL DEFAULT '{}',
  -- The Intune client secret or the webhook HMAC key: read back to use, so
  -- sealed under the KEK bound to the endpoint id rather than hashed.
  sealed_validation_secret    bytea,
  -- Dynamic challenges: default lifetime of a minted challenge.
  challenge_lifetime_seconds  integer NOT NULL DEFAULT 3600 CHECK (challenge_lifetime_seconds BETWEEN 60 AND 2592000),
  -- GetCACert: 'chain' answers the RA certificate and the CA chain as a
  -- degenerate PKCS#7 (application/x-x509-ca-ra-cert); 'ca' the CA certificate alone as DER.
  ca_certificate_mode         text NOT NULL DEFAULT 'chain' CHECK (ca_certificate_mode IN ('chain', 'ca')),
  -- GetNextCACert (RFC 8894 §3.5.2 / §4.7): the CA that takes over at a rollover.
  next_ca_id                  uuid REFERENCES certificate_authorities (id),
  -- SHA-1 signatures and DES/3DES envelopes accepted (and SHA-1, DES3 advertised) for legacy devices.
  legacy_crypto               boolean NOT NULL DEFAULT false,
  -- RenewalReq (message type 17) accepted, signed with a still-valid certificate of this CA.
  renewal_allowed             boolean NOT NULL DEFAULT true,
  enabled                     boolean NOT NULL DEFAULT true,
  created_at                  timestamptz NOT NULL,
  updated_at                  timestamptz NOT NULL,
  CHECK ((challenge_mode = 'static') = (static_challenge_hash IS NOT NULL)),
  CHECK ((challenge_mode IN ('intune', 'webhook')) = (sealed_validation_secret IS NOT NULL)),
  CHECK (next_ca_id IS NULL OR next_ca_id <> ca_id)
);

-- The RA key and certificate of an endpoint (RFC 8894 §2.1: the requester
-- encrypts to it, our CertReps are signed with it). Issued by the endpoint's
-- CA and rotated; older rows stay until they expire, since a device may
-- still encrypt to the certificate it fetched earlier. The private key is
-- sealed under the KEK bound to the row id.
CREATE TABLE scep_ra_certificates (
  id                  uuid PRIMARY KEY,
  endpoint_id         uuid NOT NULL REFERENCES scep_endpoints (id) ON DELETE CASCADE,
  ca_id               uuid NOT NULL REFERENCES certificate_authorities (id),
  serial_hex          text NOT NULL,
  certificate_der     bytea NOT NULL,
  sealed_private_key  bytea NOT NULL,
  not_before          timestamptz NOT NULL,
  not_after           timestamptz NOT NULL,
  created_at          timestamptz NOT NULL,
  CHECK (not_after > not_before)
);
CREATE INDEX scep_ra_certificates_endpoint_not_after ON scep_ra_certificates (endpoint_id, not_after DESC);

-- One-time challenge passwords (dynamic mode), minted through the admin API.
-- Only the SHA-256 of the secret is kept; it is shown once.
CREATE TABLE scep_challenges (
  id                   uuid PRIMARY KEY,
  endpoint_id          uuid NOT NULL REFERENCES scep_endpoints (id) ON DELETE CASCADE,
  challenge_hash       bytea NOT NULL UNIQUE,
  -- Optional binding: the CSR must ask for exactly this subject (RFC 4514 string) and these SANs.
  bound_subject        text,
  bound_sans           jsonb,
  created_by           text NOT NULL,
  created_at           timestamptz NOT NULL,
  expires_at           timestamptz NOT NULL,
  -- Single use: when and by which transaction it was spent.
  used_at              timestamptz,
  used_transaction_id  text,
  revoked_at           timestamptz,
  CHECK (expires_at > created_at),
  CHECK ((used_at IS NULL) = (used_transaction_id IS NULL))
);
CREATE INDEX scep_challenges_endpoint_created_at ON scep_challenges (endpoint_id, created_at, id);

-- Enrolment transactions (PKCSReq 19, RenewalReq 17). A message resent while
-- its transaction is pending is a poll; a sender nonce seen before on a
-- finished transaction is a replay and is refused (RFC 8894 §3.2.1.1 nonces).
CREATE TABLE scep_transactions (
  id                      uuid PRIMARY KEY,
  endpoint_id             uuid NOT NULL REFERENCES scep_endpoints (id) ON DELETE CASCADE,
  transaction_id          text NOT NULL CHECK (length(transaction_id) BETWEEN 1 AND 256),
  message_type            smallint NOT NULL CHECK (message_type IN (17, 19)),
  sender_nonce            bytea NOT NULL CHECK (length(sender_nonce) BETWEEN 1 AND 64),
  -- SHA-256 of the CSR's SubjectPublicKeyInfo: a poll must be for the same key.
  public_key_sha256       bytea NOT NULL,
  -- DER of the CSR's subject: CertPoll names the transaction by issuer and subject (RFC 8894 §3.3.3).
  subject_der             bytea NOT NULL,
  -- The request itself, so a decision taken later (approval) can still report it (Intune notifications).
  csr_der                 bytea NOT NULL,
  state                   text NOT NULL CHECK (state IN ('pending', 'issued', 'failed')),
  -- The protocol request in the approval queue, while (and after) it waits.
  request_id              uuid REFERENCES requests (id),
  certificate_serial_hex  text,
  fail_info               smallint CHECK (fail_info BETWEEN 0 AND 4),
  failure_reason          text,
  challenge_mode          text NOT NULL,
  -- RenewalReq: the certificate the request was signed with, replaced by the new one.
  replaces_serial_hex     text,
  source_ip               text,
  created_at              timestamptz NOT NULL,
  updated_at              timestamptz NOT NULL,
  UNIQUE (endpoint_id, sender_nonce),
  CHECK ((state = 'issued') = (certificate_serial_hex IS NOT NULL)),
  CHECK ((state = 'failed') = (fail_info IS NOT NULL))
);
CREATE INDEX scep_transactions_endpoint_transaction ON scep_transactions (endpoint_id, transaction_id, created_at DESC);
CREATE INDEX scep_transactions_pending_request ON scep_transactions (request_id) WHERE state = 'pending';
