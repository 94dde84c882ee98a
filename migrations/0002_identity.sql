-- Identity for the admin plane: users, the CAs assigned to them, and one
-- personal access token per user (src/core/identity/). Forward-only.

CREATE TABLE users (
  id               uuid PRIMARY KEY,
  -- COLLATE "C": byte order, so keyset pagination by username is the same on
  -- every server whatever its locale. The core checks the same rule first and
  -- says why; this is the last line of defence.
  username         text COLLATE "C" NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9._@-]{1,64}$'),
  display_name     text NOT NULL DEFAULT '',
  email            text NOT NULL DEFAULT '',
  role             text NOT NULL CHECK (role IN ('user', 'operator', 'admin')),
  disabled         boolean NOT NULL DEFAULT false,
  -- Personal access tokens are refused until an admin turns this on.
  api_access       boolean NOT NULL DEFAULT false,
  -- Empty means calls may come from anywhere.
  allowed_subnets  cidr[] NOT NULL DEFAULT '{}',
  -- Written by the core from its clock (millisecond precision); the page
  -- token of a listing by creation time carries this value.
  created_at       timestamptz NOT NULL,
  updated_at       timestamptz NOT NULL
);
CREATE INDEX users_created_at_id ON users (created_at, id);

CREATE TABLE user_ca_assignments (
  user_id  uuid NOT NULL REFERENCES users (id),
  ca_id    uuid NOT NULL REFERENCES certificate_authorities (id),
  PRIMARY KEY (user_id, ca_id)
);
CREATE INDEX user_ca_assignments_ca ON user_ca_assignments (ca_id);

-- One token per user. Revoking deletes the row (the audit chain keeps the
-- history); regenerating replaces it, so the old secret stops working at once.
CREATE TABLE personal_access_tokens (
  user_id       uuid PRIMARY KEY REFERENCES users (id),
  -- The visible start of the token ("chancery_pat_" + 6 characters), to recognise it.
  prefix        text NOT NULL,
  -- SHA-256 of the whole token; the secret itself is never stored.
  token_hash    bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
  created_at    timestamptz NOT NULL,
  -- Written in the background at most once a minute per token (src/core/identity/authenticator.ts).
  last_used_at  timestamptz
);
