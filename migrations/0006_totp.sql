-- TOTP second factor (RFC 6238) for users, and CAs that demand it.
ALTER TABLE users
  -- AES-256-GCM sealed shared secret (bound to the user id), never plaintext.
  ADD COLUMN totp_secret_sealed bytea,
  ADD COLUMN totp_confirmed boolean NOT NULL DEFAULT false,
  -- The last 30-second time step accepted: a code is single use across replicas.
  ADD COLUMN totp_last_step bigint NOT NULL DEFAULT 0;

ALTER TABLE certificate_authorities
  -- Issuing or approving through this CA needs a valid, not-yet-used TOTP code.
  ADD COLUMN otp_required boolean NOT NULL DEFAULT false;
