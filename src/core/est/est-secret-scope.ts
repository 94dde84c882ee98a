import { findEstLabelById, lockEstLabel } from "../../store/est-label-store.ts";
import type { EnrollmentSecretScopeRules } from "../enrollment-secrets/enrollment-secret-types.ts";

/**
 * EST's part in one-time enrollment secrets: a device presents one as its
 * HTTP Basic password (RFC 7030 §3.2.3), so only a label whose
 * authentication accepts Basic (basic, either, both) takes them. A secret is
 * spent by the enrollment ("est-enrollment:<id>", then "certificate:<serial>",
 * src/core/est/est-service.ts).
 */
export const estSecretScope: EnrollmentSecretScopeRules = {
  noun: "EST label",
  async read(db, id, { lock }) {
    const row = lock ? await lockEstLabel(db, id) : await findEstLabelById(db, id);
    if (!row) return null;
    return {
      name: row.name,
      caId: row.ca_id,
      defaultLifetimeSeconds: row.secret_lifetime_seconds,
      mintRefusal:
        row.auth_mode === "certificate"
          ? `EST label "${row.name}" accepts client certificates only; enrollment secrets need HTTP Basic (auth_mode basic, either or both)`
          : null,
    };
  },
};
