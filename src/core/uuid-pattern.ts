/**
 * A UUID in its text form (RFC 9562 §4), the ids of every row the admin API
 * names. Checked before a lookup so that a malformed id is "not found" (or
 * an invalid argument) rather than a PostgreSQL uuid cast error.
 */
export const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The same, lower-case only: where an id must be given exactly as the gateway wrote it. */
export const lowerCaseUuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
