-- AIP-155 request_id for admin API creates (src/admin/idempotency.ts,
-- docs/decisions/0005-idempotent-admin-requests.md). One row per
-- (caller, RPC, request_id): claimed as pending before the handler runs, so
-- a concurrent duplicate on any replica finds it; completed with the
-- response once the handler returned. Rows are pruned 24 hours after they
-- were claimed, on the next claim. Forward-only.

CREATE TABLE idempotent_requests (
  -- The authenticated caller. No foreign key: this is a cache of answers,
  -- and users are never deleted anyway.
  user_id       uuid NOT NULL,
  -- Full RPC name, "chancery.admin.v1.UserService/CreateUser".
  method        text NOT NULL,
  request_id    text NOT NULL CHECK (request_id ~ '^[\x21-\x7e]{1,128}$'),
  -- SHA-256 of the request message in canonical binary form: the same
  -- request_id with another request is refused.
  request_hash  bytea NOT NULL CHECK (length(request_hash) = 32),
  -- From the gateway's clock (injected, like every other timestamp).
  created_at    timestamptz NOT NULL,
  -- NULL while the first call runs.
  completed_at  timestamptz,
  -- The response message, protobuf binary. NULL when completed if the
  -- response holds a secret (a field marked debug_redact), which is never
  -- kept: a repeat is then refused instead of answered.
  response      bytea,
  PRIMARY KEY (user_id, method, request_id),
  CHECK (response IS NULL OR completed_at IS NOT NULL)
);
-- The prune on every claim is a range scan of this index.
CREATE INDEX idempotent_requests_created_at ON idempotent_requests (created_at);
