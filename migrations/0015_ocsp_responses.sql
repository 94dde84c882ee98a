-- Pre-signed OCSP responses (docs/decisions/0007-ocsp-responses-and-replicas.md),
-- written by whichever replica signs one (the background pre-signer, a
-- request that found none, the replica that revoked the certificate) and
-- read on an in-memory miss before signing anew, so a restarted or second
-- replica serves the signatures that exist. Forward-only.
--
-- One row per certificate and CertID hash algorithm: the response's CertID
-- is our canonical encoding (NULL parameters), which is what most clients
-- send. A row signed by a responder that is no longer current stays valid
-- until its next_update (RFC 6960 §4.2.2.2 only needs the responder
-- certificate valid when checked, and ours outlive every response).
CREATE TABLE ocsp_responses (
  ca_id                 uuid NOT NULL REFERENCES certificate_authorities (id),
  serial_hex            text NOT NULL,
  hash_algorithm        text NOT NULL CHECK (hash_algorithm IN ('sha1', 'sha256')),
  status                text NOT NULL CHECK (status IN ('good', 'revoked')),
  -- The certificate's revocation as signed, so a reader can tell whether the row still says what Postgres does.
  revoked_at            timestamptz,
  revocation_reason     smallint,
  der                   bytea NOT NULL,
  sha256                text NOT NULL,
  this_update           timestamptz NOT NULL,
  next_update           timestamptz NOT NULL,
  -- Re-signed from here on (half the window by default), by the pre-signer or the next request.
  refresh_at            timestamptz NOT NULL,
  responder_serial_hex  text NOT NULL,
  signed_at             timestamptz NOT NULL,
  PRIMARY KEY (ca_id, serial_hex, hash_algorithm),
  CHECK ((status = 'revoked') = (revoked_at IS NOT NULL AND revocation_reason IS NOT NULL)),
  CHECK (next_update > this_update)
);

-- Pruning a CA's rows past their next_update.
CREATE INDEX ocsp_responses_ca_next_update ON ocsp_responses (ca_id, next_update);
