import { findScepEndpointById, lockScepEndpoint } from "../../store/scep-endpoint-store.ts";
import type { EnrollmentSecretScopeRules } from "../enrollment-secrets/enrollment-secret-types.ts";

/**
 * SCEP's part in one-time enrollment secrets: they are the dynamic
 * challenge passwords of an endpoint (RFC 8894 §2.2), so only an endpoint in
 * dynamic mode takes new ones (leaving that mode revokes the outstanding
 * ones, src/core/scep/endpoint-service.ts). A secret is spent by the
 * enrolment's transactionID (src/core/scep/scep-service.ts).
 */
export const scepSecretScope: EnrollmentSecretScopeRules = {
  noun: "SCEP endpoint",
  async read(db, id, { lock }) {
    const row = lock ? await lockScepEndpoint(db, id) : await findScepEndpointById(db, id);
    if (!row) return null;
    return {
      name: row.name,
      caId: row.ca_id,
      defaultLifetimeSeconds: row.challenge_lifetime_seconds,
      mintRefusal:
        row.challenge_mode === "dynamic"
          ? null
          : `SCEP endpoint "${row.name}" is in ${row.challenge_mode} mode; one-time challenges need dynamic mode`,
    };
  },
};
