-- The two tables migration 0021 copied into enrollment_secrets (SCEP's one-time challenges and EST's
-- enrollment secrets) and kept for replicas still running the code before it. No code since 0021 reads or
-- writes them, and no release ever did (CHANGELOG: unreleased), so a rolling upgrade from the code just
-- before this migration loses nothing (DESIGN rule 8). Their rows live on in enrollment_secrets with the
-- same ids. (docs/decisions/0013-one-enrollment-secret.md)
DROP TABLE scep_challenges;
DROP TABLE est_enrollment_secrets;
