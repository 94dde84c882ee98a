-- The approval queue (src/core/requests/): certificate requests submitted
-- through the admin API and the distinct approvals each has collected.
-- Forward-only.

CREATE TABLE requests (
  id                      uuid PRIMARY KEY,
  requester_id            uuid NOT NULL REFERENCES users (id),
  -- pending: waiting for approvals; issued: approved by enough distinct
  -- approvers and issued (one step); rejected: final.
  status                  text NOT NULL CHECK (status IN ('pending', 'issued', 'rejected')),
  -- Free-form: the requester wrote only `comment`; the first approver fills in the content.
  free_form               boolean NOT NULL,
  common_name             text,
  -- [{"type": "dns" | "ip" | "email" | "uri", "value": "..."}], normalised by the core.
  sans                    jsonb NOT NULL DEFAULT '[]',
  -- Set: the key is generated here at issuance. Exclusive with csr_der.
  key_algorithm           text,
  -- The requester's PKCS#10, DER, its signature checked at submission.
  csr_der                 bytea,
  comment                 text NOT NULL DEFAULT '',
  -- Chosen by the first approver and fixed from then on.
  ca_id                   uuid REFERENCES certificate_authorities (id),
  -- By name, like issuance (profile names never change); no foreign key, so
  -- a profile can be deleted while an unissued request still names it.
  profile_name            text,
  -- Distinct approvals the profile required at the last approval.
  required_approvals      integer CHECK (required_approvals BETWEEN 1 AND 10),
  certificate_serial_hex  text UNIQUE REFERENCES certificates (serial_hex),
  -- AES-256-GCM sealed PKCS#8 of a server-generated key, bound to
  -- "chancery/request-key/{id}" (src/core/ca/key-encryption.ts); never plaintext.
  sealed_private_key      bytea,
  rejection_reason        text,
  rejected_by             uuid REFERENCES users (id),
  created_at              timestamptz NOT NULL,
  updated_at              timestamptz NOT NULL,
  -- Approvals name it with the requester, so the database itself refuses self-approval (below).
  UNIQUE (id, requester_id),
  CHECK (key_algorithm IS NULL OR csr_der IS NULL),
  CHECK (sealed_private_key IS NULL OR key_algorithm IS NOT NULL),
  CHECK ((status = 'issued') = (certificate_serial_hex IS NOT NULL)),
  CHECK ((status = 'rejected') = (rejection_reason IS NOT NULL AND rejected_by IS NOT NULL)),
  CHECK (status <> 'issued' OR (ca_id IS NOT NULL AND profile_name IS NOT NULL))
);
-- The queue by state in creation order, and a user's own requests.
CREATE INDEX requests_status_created_at_id ON requests (status, created_at, id);
CREATE INDEX requests_requester_created_at_id ON requests (requester_id, created_at, id);
CREATE INDEX requests_ca_created_at_id ON requests (ca_id, created_at, id);

-- One row per distinct approver: the primary key makes a second approval by
-- the same user impossible, whatever the code above does.
CREATE TABLE request_approvals (
  request_id    uuid NOT NULL,
  requester_id  uuid NOT NULL,
  approver_id   uuid NOT NULL REFERENCES users (id),
  approved_at   timestamptz NOT NULL,
  PRIMARY KEY (request_id, approver_id),
  FOREIGN KEY (request_id, requester_id) REFERENCES requests (id, requester_id),
  -- Nobody approves their own request.
  CHECK (approver_id <> requester_id)
);
