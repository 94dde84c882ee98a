-- One-time enrollment secrets: one table for what SCEP called dynamic
-- challenges (scep_challenges, 0018) and EST called enrollment secrets
-- (est_enrollment_secrets, 0019), which were the same concept twice
-- (docs/decisions/0013-one-enrollment-secret.md; src/core/enrollment-secrets/).
-- Forward-only: the rows of both old tables are copied here with their ids.
-- The old tables stay, unused by this code, so a replica still running the
-- code from before this migration keeps working during a rolling upgrade
-- (DESIGN rule 8); a later migration drops them once no release reads them.

-- A secret minted through the admin API, shown once; only its SHA-256 is kept.
-- It is spent once, by the first enrolment that presents it where it belongs.
CREATE TABLE enrollment_secrets (
  id                uuid PRIMARY KEY,
  -- Where it may be spent, exactly one: a SCEP endpoint (the CSR's
  -- challengePassword) or an EST label (the HTTP Basic password).
  scep_endpoint_id  uuid REFERENCES scep_endpoints (id) ON DELETE CASCADE,
  est_label_id      uuid REFERENCES est_labels (id) ON DELETE CASCADE,
  secret_hash       bytea NOT NULL UNIQUE,
  -- Optional binding: the CSR must ask for exactly this subject (RFC 4514 string) and these SANs.
  bound_subject     text,
  bound_sans        jsonb,
  created_by        text NOT NULL,
  created_at        timestamptz NOT NULL,
  expires_at        timestamptz NOT NULL,
  -- Single use: when it was spent, and what spent it, as the protocol names
  -- it: the SCEP transactionID; for EST "certificate:<serial>", or
  -- "est-enrollment:<id>" while that enrollment waits for approval.
  used_at           timestamptz,
  used_by           text,
  revoked_at        timestamptz,
  CHECK (num_nonnulls(scep_endpoint_id, est_label_id) = 1),
  CHECK (expires_at > created_at),
  CHECK ((used_at IS NULL) = (used_by IS NULL))
);
-- The admin API's lists: one scope's secrets by (created_at, id), keyset-paged;
-- every secret the same way (admins). Lookups by secret use the UNIQUE index on secret_hash.
CREATE INDEX enrollment_secrets_scep_endpoint_created_at ON enrollment_secrets (scep_endpoint_id, created_at, id)
  WHERE scep_endpoint_id IS NOT NULL;
CREATE INDEX enrollment_secrets_est_label_created_at ON enrollment_secrets (est_label_id, created_at, id)
  WHERE est_label_id IS NOT NULL;
CREATE INDEX enrollment_secrets_created_at ON enrollment_secrets (created_at, id);

INSERT INTO enrollment_secrets (id, scep_endpoint_id, secret_hash, bound_subject, bound_sans, created_by, created_at,
  expires_at, used_at, used_by, revoked_at)
SELECT id, endpoint_id, challenge_hash, bound_subject, bound_sans, created_by, created_at,
  expires_at, used_at, used_transaction_id, revoked_at
FROM scep_challenges;

-- EST's spend and give-back wrote used_at and used_by together, so its rows meet the used_at/used_by check.
INSERT INTO enrollment_secrets (id, est_label_id, secret_hash, bound_subject, bound_sans, created_by, created_at,
  expires_at, used_at, used_by, revoked_at)
SELECT id, label_id, secret_hash, bound_subject, bound_sans, created_by, created_at,
  expires_at, used_at, used_by, revoked_at
FROM est_enrollment_secrets;
