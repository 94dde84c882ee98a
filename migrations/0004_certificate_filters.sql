-- Indexes for the admin API's certificate listing (ListCertificates): newest
-- first by (issued_at, id), keyset-paginated, optionally filtered by CA,
-- profile, requester, state and not_after. Each filter column leads an index
-- that ends in the sort key, so a filtered page is a backward index range scan
-- that stops after page_size rows, however many certificates there are.
-- not_after already has certificates_not_after (0001); the SAN "contains"
-- filter scans within whatever the other filters leave, so it has no index.
CREATE INDEX certificates_issued_at_id ON certificates (issued_at, id);
CREATE INDEX certificates_ca_issued_at_id ON certificates (ca_id, issued_at, id);
CREATE INDEX certificates_profile_issued_at_id ON certificates (profile_id, issued_at, id);
CREATE INDEX certificates_requester_issued_at_id ON certificates (requester, issued_at, id);

-- The caller's request_id of an admin API issuance (AIP-155), so a retried
-- IssueCertificate returns the certificate the first call issued. NULL for
-- certificates from the protocols, which have their own retry semantics.
ALTER TABLE certificates ADD COLUMN request_id text;
CREATE INDEX certificates_requester_request_id ON certificates (requester, request_id) WHERE request_id IS NOT NULL;
