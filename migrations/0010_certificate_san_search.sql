-- The admin API's `san : "text"` filter (ListCertificates: some SAN value
-- contains the text, case-insensitively) without reading every certificate.
--
-- san_search holds every SAN value of the certificate, lower-cased, one per
-- line, and a trigram index over it answers LIKE '%text%' for needles with
-- at least one run of three letters or digits (pg_trgm extracts no trigram
-- from shorter ones; the listing then walks the issued_at index instead, see
-- certificate-store.ts). It is a stored generated column, so every writer of
-- certificates keeps it right without knowing it exists, and the filter
-- rechecks matches on the text without decoding the jsonb again.
--
-- pg_trgm is a trusted extension (PostgreSQL 13+): a database owner without
-- superuser may create it. A role that may not must have it created by the
-- DBA first (see README, DATABASE_URL); IF NOT EXISTS then skips it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- One line per SAN value. Immutable as a generated column requires: the
-- same jsonb always gives the same text (lower() follows the database's
-- collation, which does not change under a running database).
CREATE FUNCTION certificate_san_search(sans jsonb) RETURNS text
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  RETURN (
    SELECT coalesce(string_agg(lower(s.san ->> 'value'), E'\n' ORDER BY s.n), '')
    FROM jsonb_array_elements(sans) WITH ORDINALITY AS s(san, n)
  );

-- Rewrites the table once (an ACCESS EXCLUSIVE lock for as long as that
-- takes: about a second per 100,000 certificates).
ALTER TABLE certificates
  ADD COLUMN san_search text NOT NULL GENERATED ALWAYS AS (certificate_san_search(sans)) STORED;

CREATE INDEX certificates_san_search_trgm ON certificates USING gin (san_search gin_trgm_ops);
