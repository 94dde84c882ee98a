import type { DatabasePool } from "slonik";
import { sql } from "slonik";
import type { Actor } from "./actor.ts";
import type { CaService } from "./ca/ca-service.ts";
import type { CertificateAuthority } from "./ca/certificate-authority.ts";
import { createDefaultProfiles } from "./profiles/default-profiles.ts";
import type { ProfileService } from "./profiles/profile-service.ts";

export interface BootstrapSettings {
  organization: string;
  rootCommonName: string;
  intermediateCommonName: string;
  rootValidityDays: number;
  intermediateValidityDays: number;
}

/** Names of the CAs a fresh database gets. */
export const bootstrapRootName = "root";
export const bootstrapIssuingName = "issuing";

/** Session advisory lock key ("chancbst") serialising bootstrap across replicas. */
const bootstrapLockKey = 0x6368616e63627374n;

const bootstrapActor: Actor = { actor: "bootstrap" };

/**
 * On an empty database: a root CA, an issuing intermediate under it (both
 * ECDSA P-256) and the default profiles. Replicas starting together queue
 * on an advisory lock and only the first one creates anything. Returns the
 * issuing CA (found or created) and whether this call created it.
 */
export async function bootstrapPki(deps: {
  pool: DatabasePool;
  cas: CaService;
  profiles: ProfileService;
  settings: BootstrapSettings;
}): Promise<{ issuing: CertificateAuthority | null; created: boolean }> {
  const { pool, cas, profiles, settings } = deps;
  return pool.connect(async (connection) => {
    await connection.query(sql.unsafe`SELECT pg_advisory_lock(${bootstrapLockKey.toString()}::bigint)`);
    try {
      const existing = await cas.list();
      if (existing.length > 0) return { issuing: await cas.findByName(bootstrapIssuingName), created: false };
      // Only the missing ones: a bootstrap interrupted after the profiles
      // were written must be able to run again.
      const have = new Set((await profiles.list()).map((p) => p.profile.name));
      const missing = createDefaultProfiles().filter((p) => !have.has(p.name));
      await pool.transaction((tx) => profiles.insertInTransaction(tx, missing, bootstrapActor));
      const root = await cas.createRoot(
        {
          name: bootstrapRootName,
          subject: [
            { type: "O", value: settings.organization },
            { type: "CN", value: settings.rootCommonName },
          ],
          keyAlgorithm: "ecdsa-p256",
          validityDays: settings.rootValidityDays,
          pathLen: 1,
        },
        bootstrapActor,
      );
      const issuing = await cas.createIntermediate(
        {
          name: bootstrapIssuingName,
          parentId: root.id,
          subject: [
            { type: "O", value: settings.organization },
            { type: "CN", value: settings.intermediateCommonName },
          ],
          keyAlgorithm: "ecdsa-p256",
          validityDays: settings.intermediateValidityDays,
          pathLen: 0,
        },
        bootstrapActor,
      );
      return { issuing, created: true };
    } finally {
      await connection.query(sql.unsafe`SELECT pg_advisory_unlock(${bootstrapLockKey.toString()}::bigint)`);
    }
  });
}
