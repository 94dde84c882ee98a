-- When each unexpired certificate next needs its OCSP responses signed, so
-- the pre-signer reads only what is due (docs/decisions/0012-ocsp-presign-due-index.md).
-- Until now every pass read every unexpired certificate of a CA with a probe
-- of ocsp_responses each: linear in the store, every minute.
--
-- A small table of its own rather than a column on certificates: due_at
-- moves at every re-signing (twice a day per certificate), and an update of
-- a certificates row rewrites a wide row and every one of its indexes (the
-- SAN trigram index among them), where this row is narrow with two.
--
-- Forward-only. The code before this migration ignores the table; the code
-- after it reads and moves due_at, and the triggers below keep it right for
-- every writer of certificates, whatever version it runs.
CREATE TABLE ocsp_presign_due (
  serial_hex  text PRIMARY KEY REFERENCES certificates (serial_hex) ON DELETE CASCADE,
  ca_id       uuid NOT NULL,
  -- The certificate's notAfter (never changes): due_at never passes it, and
  -- a row found due after it is deleted (expired certificates are not signed for).
  not_after   timestamptz NOT NULL,
  -- Sign from here on: '-infinity' for "now, whatever the clock says" (new, or
  -- its status just changed), else the earliest refresh_at of its stored
  -- responses (or its notAfter, when that comes first).
  due_at      timestamptz NOT NULL,
  -- Bumped by every status change: a pre-signer that read the status before
  -- a revocation moves due_at only if the row still has the revision it read.
  revision    integer NOT NULL DEFAULT 0
);

-- The pre-signer's one read: the CA's rows with due_at <= now, oldest first.
-- A pass with nothing due reads no row, however many certificates there are.
CREATE INDEX ocsp_presign_due_ca_due_at ON ocsp_presign_due (ca_id, due_at);

-- Every re-signing moves a row's due_at forward, which leaves a dead index
-- entry behind at the old, past due_at: inside the range each pass reads.
-- Index scans skip such entries once they have marked them dead, and vacuum
-- removes them; the default (a vacuum once a fifth of the table changed)
-- would let a day's worth pile up, so vacuum this queue-like table early.
ALTER TABLE ocsp_presign_due SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_threshold = 1000);

-- A new certificate is due at once. One INSERT per statement (the issuance
-- committer writes a whole batch in one statement).
CREATE FUNCTION ocsp_presign_due_issued() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO ocsp_presign_due (serial_hex, ca_id, not_after, due_at)
  SELECT serial_hex, ca_id, not_after, '-infinity' FROM issued
  ON CONFLICT (serial_hex) DO NOTHING;
  RETURN NULL;
END;
$$;

CREATE TRIGGER certificates_ocsp_presign_due_issued
  AFTER INSERT ON certificates
  REFERENCING NEW TABLE AS issued
  FOR EACH STATEMENT EXECUTE FUNCTION ocsp_presign_due_issued();

-- A revocation (any change of status, time or reason) makes the certificate
-- due at once, in the revoking transaction: whichever replica runs the next
-- pass re-signs it, even if the revoking replica dies before its own re-sign.
-- An upsert, because the row of an expired certificate is gone (the pass then
-- deletes it again).
CREATE FUNCTION ocsp_presign_due_status_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO ocsp_presign_due (serial_hex, ca_id, not_after, due_at)
  VALUES (NEW.serial_hex, NEW.ca_id, NEW.not_after, '-infinity')
  ON CONFLICT (serial_hex) DO UPDATE
    SET due_at = '-infinity', revision = ocsp_presign_due.revision + 1;
  RETURN NULL;
END;
$$;

CREATE TRIGGER certificates_ocsp_presign_due_status_changed
  AFTER UPDATE OF status, revoked_at, revocation_reason ON certificates
  FOR EACH ROW
  WHEN (OLD.status IS DISTINCT FROM NEW.status
    OR OLD.revoked_at IS DISTINCT FROM NEW.revoked_at
    OR OLD.revocation_reason IS DISTINCT FROM NEW.revocation_reason)
  EXECUTE FUNCTION ocsp_presign_due_status_changed();

-- Backfill: every certificate not yet expired, due as the old query would
-- have found it: at once unless both canonical CertIDs (sha1, sha256: all
-- that ocsp_responses allows) have a stored response saying its current
-- status, else at the earlier of their refresh times (capped at notAfter).
INSERT INTO ocsp_presign_due (serial_hex, ca_id, not_after, due_at)
SELECT c.serial_hex, c.ca_id, c.not_after,
  CASE WHEN count(r.hash_algorithm) = 2 THEN least(min(r.refresh_at), c.not_after)
       ELSE '-infinity'::timestamptz END
FROM certificates c
LEFT JOIN ocsp_responses r
  ON r.ca_id = c.ca_id AND r.serial_hex = c.serial_hex
  AND r.status = CASE c.status WHEN 'valid' THEN 'good' ELSE 'revoked' END
WHERE c.not_after > now()
GROUP BY c.serial_hex, c.ca_id, c.not_after;
