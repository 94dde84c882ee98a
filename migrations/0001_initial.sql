-- Chancery initial schema: CAs, profiles, certificates and the audit chain.
-- Forward-only; applied by src/store/migrate.ts inside one transaction under
-- an advisory lock (see docs/decisions/0002-migrations.md).

CREATE TABLE certificate_authorities (
  id                 uuid PRIMARY KEY,
  name               text NOT NULL UNIQUE,
  -- root: self-signed; intermediate: signed by a parent here or outside.
  kind               text NOT NULL CHECK (kind IN ('root', 'intermediate')),
  -- pending: external-parent CSR made, signed certificate not yet imported.
  status             text NOT NULL CHECK (status IN ('active', 'pending', 'disabled')),
  parent_id          uuid REFERENCES certificate_authorities (id),
  key_algorithm      text NOT NULL,
  -- AES-256-GCM sealed PKCS#8 (src/core/ca/key-encryption.ts); never plaintext.
  sealed_private_key bytea NOT NULL,
  public_key_spki    bytea NOT NULL,
  subject            text NOT NULL,
  subject_key_id     bytea NOT NULL,
  certificate_der    bytea,
  csr_der            bytea,
  chain_der          bytea[] NOT NULL DEFAULT '{}',
  fingerprint_sha256 text UNIQUE,
  not_before         timestamptz,
  not_after          timestamptz,
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now(),
  CHECK (status = 'pending' OR certificate_der IS NOT NULL)
);

CREATE TABLE profiles (
  id          uuid PRIMARY KEY,
  name        text NOT NULL UNIQUE,
  -- The whole profile model (src/core/profiles/profile-schema.ts), validated
  -- by the core before it is written.
  definition  jsonb NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE certificates (
  id                 uuid PRIMARY KEY,
  ca_id              uuid NOT NULL REFERENCES certificate_authorities (id),
  profile_id         uuid REFERENCES profiles (id),
  -- Lower-case hex of the positive serial, no leading zero octet.
  -- Unique across the gateway, which is stricter than RFC 5280 §4.1.2.2.
  serial_hex         text NOT NULL UNIQUE,
  fingerprint_sha256 text NOT NULL UNIQUE,
  subject            text NOT NULL,
  sans               jsonb NOT NULL,
  not_before         timestamptz NOT NULL,
  not_after          timestamptz NOT NULL,
  der                bytea NOT NULL,
  requester          text NOT NULL,
  source_protocol    text NOT NULL,
  status             text NOT NULL DEFAULT 'valid' CHECK (status IN ('valid', 'revoked')),
  revoked_at         timestamptz,
  -- RFC 5280 §5.3.1 CRLReason code.
  revocation_reason  smallint,
  issued_at          timestamptz NOT NULL,
  CHECK ((status = 'revoked') = (revoked_at IS NOT NULL AND revocation_reason IS NOT NULL))
);
CREATE INDEX certificates_ca_status ON certificates (ca_id, status);
CREATE INDEX certificates_not_after ON certificates (not_after);

-- Append-only, hash-chained audit log (docs/decisions/0003-audit-chain.md).
CREATE TABLE audit_events (
  seq          bigint PRIMARY KEY,
  occurred_at  timestamptz NOT NULL,
  actor        text NOT NULL,
  action       text NOT NULL,
  target       text NOT NULL,
  source_ip    text,
  details      jsonb NOT NULL,
  prev_hash    bytea NOT NULL,
  hash         bytea NOT NULL
);

-- The head of the chain: the one row writers lock to append a batch.
CREATE TABLE audit_chain_head (
  id    smallint PRIMARY KEY CHECK (id = 1),
  seq   bigint NOT NULL,
  hash  bytea NOT NULL
);
INSERT INTO audit_chain_head (id, seq, hash) VALUES (1, 0, '\x0000000000000000000000000000000000000000000000000000000000000000');

CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_events_no_update_delete
  BEFORE UPDATE OR DELETE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();

CREATE TRIGGER audit_events_no_truncate
  BEFORE TRUNCATE ON audit_events
  FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
