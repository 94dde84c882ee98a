-- Delegated OCSP responders (RFC 6960 §4.2.2.2), one current per CA, made by
-- src/core/ocsp/responder-service.ts. Forward-only.
--
-- The CA key signs only the responder certificate; routine OCSP responses
-- are signed with the responder key, sealed here under the KEK bound to the
-- responder's id (like CA keys, docs/decisions/0004-ca-keys-at-rest.md).
-- A new row is made under a per-CA advisory lock when the newest one nears
-- its notAfter, so replicas starting or rotating together make one, and
-- every replica signs with the same responder. Older rows stay until they
-- expire: responses they signed are valid until then.
CREATE TABLE ocsp_responders (
  id                  uuid PRIMARY KEY,
  ca_id               uuid NOT NULL REFERENCES certificate_authorities (id),
  serial_hex          text NOT NULL,
  certificate_der     bytea NOT NULL,
  sealed_private_key  bytea NOT NULL,
  not_before          timestamptz NOT NULL,
  not_after           timestamptz NOT NULL,
  created_at          timestamptz NOT NULL,
  CHECK (not_after > not_before)
);

-- The newest responder of a CA: one index probe per lookup.
CREATE INDEX ocsp_responders_ca_not_after ON ocsp_responders (ca_id, not_after DESC);
