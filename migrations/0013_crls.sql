-- CRLs per CA (RFC 5280 §5), built by src/core/crl/crl-service.ts. Forward-only.
--
-- Revocation itself stays where it is: certificates.status / revoked_at /
-- revocation_reason (0001), written by the issuance core's revoke(). This
-- table only keeps the signed results, so every replica serves the same
-- bytes and a new CRL number is always the stored maximum + 1, taken under
-- a per-CA advisory lock. The newest rows per CA are kept and older ones
-- pruned in the same transaction; the newest is never pruned, so the number
-- never goes back.
CREATE TABLE crls (
  ca_id          uuid NOT NULL REFERENCES certificate_authorities (id),
  -- RFC 5280 §5.2.3: monotonically increasing per CA; at most 20 octets, bigint is plenty.
  crl_number     bigint NOT NULL CHECK (crl_number >= 1),
  this_update    timestamptz NOT NULL,
  next_update    timestamptz NOT NULL,
  -- Revoked certificates listed, and the not_after cut-off that chose them:
  -- revocation is final, so a CRL is stale exactly when more revoked
  -- certificates of the CA have not_after >= entries_since than it lists.
  entry_count    integer NOT NULL CHECK (entry_count >= 0),
  entries_since  timestamptz NOT NULL,
  der            bytea NOT NULL,
  -- SHA-256 of der: the HTTP ETag.
  sha256         bytea NOT NULL CHECK (length(sha256) = 32),
  created_at     timestamptz NOT NULL,
  PRIMARY KEY (ca_id, crl_number),
  CHECK (next_update > this_update)
);

-- The revoked certificates of one CA that are still on its CRL (not_after at
-- or after the cut-off): a small partial index, read by every CRL build and
-- staleness check, with the entry columns included so both can be
-- index-only scans.
CREATE INDEX certificates_revoked_ca_not_after ON certificates (ca_id, not_after)
  INCLUDE (serial_hex, revoked_at, revocation_reason) WHERE status = 'revoked';
