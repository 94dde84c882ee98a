-- Profile changes go through the approval queue (src/core/requests/): the
-- same requests table, approvals and rules as certificate requests, so one
-- queue covers everything. A request now has a kind; a profile change or
-- deletion carries its proposal in `payload` and names its profile in
-- profile_name (set at submission). Forward-only; existing rows are
-- certificate requests.

ALTER TABLE requests
  ADD COLUMN kind text NOT NULL DEFAULT 'certificate'
    CHECK (kind IN ('certificate', 'profile_change', 'profile_deletion')),
  -- profile_change: {"base": <definition at submission>, "proposed": <whole
  -- definition to apply>, "updateMask": [...]}; profile_deletion: {"base": ...}.
  -- Definitions are core profiles as parsed (src/core/profiles/profile-schema.ts).
  ADD COLUMN payload jsonb,
  -- Why an approved profile change was not applied (status 'failed').
  ADD COLUMN failure_reason text;

-- applied: a profile change approved and applied in one step; failed: approved
-- but not applicable (the profile changed meanwhile, certificates exist, ...).
ALTER TABLE requests DROP CONSTRAINT requests_status_check;
ALTER TABLE requests
  ADD CONSTRAINT requests_status_check
    CHECK (status IN ('pending', 'issued', 'rejected', 'applied', 'failed')),
  ADD CONSTRAINT requests_payload_by_kind CHECK ((kind = 'certificate') = (payload IS NULL)),
  -- A profile change has no certificate side: no CA, key, CSR or content, and always a profile.
  ADD CONSTRAINT requests_profile_change_shape CHECK (
    kind = 'certificate' OR (
      profile_name IS NOT NULL AND ca_id IS NULL AND NOT free_form AND common_name IS NULL
      AND key_algorithm IS NULL AND csr_der IS NULL AND sealed_private_key IS NULL)),
  ADD CONSTRAINT requests_state_by_kind CHECK (
    CASE kind WHEN 'certificate' THEN status IN ('pending', 'issued', 'rejected')
      ELSE status IN ('pending', 'applied', 'rejected', 'failed') END),
  ADD CONSTRAINT requests_failure_reason CHECK ((status = 'failed') = (failure_reason IS NOT NULL));

-- The queue filtered by kind (admins looking for pending profile changes).
CREATE INDEX requests_kind_created_at_id ON requests (kind, created_at, id);
