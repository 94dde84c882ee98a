-- Enrollment codes: how a user whose API access an admin turned on makes
-- their first personal access token without already holding one
-- (src/core/identity/token-enrollment.ts). An admin creates a code, hands it
-- over out of band, and the user redeems it once for a token. Forward-only.

-- At most one outstanding code per user: a new one replaces the row.
-- Redeeming, revoking, disabling the user or turning API access off deletes
-- it (the audit chain keeps the history).
CREATE TABLE token_enrollments (
  user_id     uuid PRIMARY KEY REFERENCES users (id),
  -- The visible start of the code ("chancery_enr_" + 6 characters), to recognise it.
  prefix      text NOT NULL,
  -- SHA-256 of the whole code; the code itself is never stored.
  code_hash   bytea NOT NULL UNIQUE CHECK (length(code_hash) = 32),
  -- Audit actor of the admin who created it, e.g. "user:{id}".
  created_by  text NOT NULL,
  created_at  timestamptz NOT NULL,
  -- Refused from this instant on; an expired row waits to be replaced or deleted.
  expires_at  timestamptz NOT NULL CHECK (expires_at > created_at)
);
