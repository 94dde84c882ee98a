-- The profiles a CA may issue with. Empty means every profile (so CAs made
-- before this migration keep working); a non-empty list is enforced by the
-- issuance core for every protocol.
ALTER TABLE certificate_authorities ADD COLUMN allowed_profiles text[] NOT NULL DEFAULT '{}';
