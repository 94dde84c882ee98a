-- Certificate requests submitted by a protocol front end (src/core/requests/
-- protocol-requests.ts): an ACME order whose profile requires approval (later
-- a SCEP PENDING or an EST 202 enrollment) waits in the same queue, under the
-- same rules, as a gateway user's request. Its requester is a protocol client
-- ("acme-account:<uuid>", "scep:<endpoint>:<transactionId>"), not a user.
-- Forward-only; existing rows are user requests and stay valid as they are.

ALTER TABLE requests
  ALTER COLUMN requester_id DROP NOT NULL,
  -- Who asked, as the issuance records it (certificates.requester, the audit actor).
  ADD COLUMN protocol_requester text
    CHECK (protocol_requester ~ '^[a-z][a-z0-9-]*:[\x21-\x7e]+$' AND length(protocol_requester) <= 512),
  ADD COLUMN source_protocol text CHECK (source_protocol IN ('acme', 'scep', 'est')),
  -- The protocol client's address at submission, for the audit of the issuance.
  ADD COLUMN source_ip text,
  -- The validity the client asked for (e.g. ACME order notBefore/notAfter); the profile caps it.
  ADD COLUMN not_before timestamptz,
  ADD COLUMN not_after timestamptz,
  -- The subject attributes the front end approved ([{"type", "value", "valueType"?}]);
  -- NULL: the CSR's subject. Either way the profile filters it.
  ADD COLUMN subject jsonb,
  -- Approvals name it (below), so a user's request cannot be approved as if it were a protocol one.
  ADD COLUMN from_protocol boolean GENERATED ALWAYS AS (protocol_requester IS NOT NULL) STORED,
  ADD CONSTRAINT requests_one_requester CHECK ((requester_id IS NULL) <> (protocol_requester IS NULL)),
  ADD CONSTRAINT requests_protocol_source CHECK ((protocol_requester IS NULL) = (source_protocol IS NULL)),
  -- A protocol request is fixed at submission: its CSR, CA and profile never come from an approver.
  ADD CONSTRAINT requests_protocol_shape CHECK (
    protocol_requester IS NULL OR (
      kind = 'certificate' AND NOT free_form AND csr_der IS NOT NULL AND key_algorithm IS NULL
      AND ca_id IS NOT NULL AND profile_name IS NOT NULL)),
  -- Only protocol requests carry a requested validity or an approved subject.
  ADD CONSTRAINT requests_protocol_only CHECK (
    protocol_requester IS NOT NULL OR (not_before IS NULL AND not_after IS NULL AND subject IS NULL)),
  ADD CONSTRAINT requests_requested_validity CHECK (not_before IS NULL OR not_after IS NULL OR not_before <= not_after),
  ADD CONSTRAINT requests_id_from_protocol_key UNIQUE (id, from_protocol);

-- Approvals of a protocol request name no requester (there is no user to
-- name). The self-approval guard of 0005 still holds for every user request:
-- an approval says which kind of request it approves (checked against the
-- request by the key below), one of a user request must name its requester
-- (so the (request_id, requester_id) key and `approver_id <> requester_id`
-- apply), and one of a protocol request must not.
ALTER TABLE request_approvals
  ALTER COLUMN requester_id DROP NOT NULL,
  ADD COLUMN from_protocol boolean NOT NULL DEFAULT false,
  ADD CONSTRAINT request_approvals_request_kind FOREIGN KEY (request_id, from_protocol)
    REFERENCES requests (id, from_protocol),
  ADD CONSTRAINT request_approvals_requester_by_kind CHECK (from_protocol = (requester_id IS NULL));

