import { randomUUID } from "node:crypto";
import type { CommonQueryMethods, DatabasePool } from "slonik";
import {
  findProfileByName,
  insertProfile,
  listProfiles,
  type ProfileRow,
  updateProfileDefinition,
} from "../../store/profile-store.ts";
import { isUniqueViolation } from "../../store/unique-violation.ts";
import type { Actor } from "../actor.ts";
import type { AuditLog } from "../audit/audit-log.ts";
import { ChanceryError } from "../errors.ts";
import { type Profile, parseProfile } from "./profile-schema.ts";

export interface StoredProfile {
  readonly id: string;
  readonly profile: Profile;
  readonly updatedAt: Date;
}

export interface ProfileService {
  create(input: unknown, by: Actor): Promise<StoredProfile>;
  /** Replaces the whole definition; the name cannot change. */
  update(name: string, input: unknown, by: Actor): Promise<StoredProfile>;
  get(name: string): Promise<StoredProfile>;
  list(): Promise<StoredProfile[]>;
  /** Inserts these inside the caller's transaction (bootstrap). */
  insertInTransaction(tx: CommonQueryMethods, profiles: Profile[], by: Actor): Promise<void>;
}

/**
 * Profiles are validated by the core schema before they are written, and
 * re-validated when read, so a row edited by hand cannot smuggle a bad
 * profile into issuance.
 */
export function createProfileService(deps: { pool: DatabasePool; audit: AuditLog }): ProfileService {
  const { pool, audit } = deps;

  async function insertInTransaction(tx: CommonQueryMethods, profiles: Profile[], by: Actor): Promise<void> {
    for (const profile of profiles) {
      const id = randomUUID();
      await insertProfile(tx, { id, name: profile.name, definition: profile });
      await audit.appendInTransaction(tx, [
        { ...by, action: "profile.create", target: `profile:${id}`, details: { name: profile.name } },
      ]);
    }
  }

  const service: ProfileService = {
    async create(input, by) {
      const profile = parseProfile(input);
      try {
        await pool.transaction((tx) => insertInTransaction(tx, [profile], by));
      } catch (err) {
        if (isUniqueViolation(err))
          throw new ChanceryError("already_exists", `a profile named "${profile.name}" already exists`);
        throw err;
      }
      return service.get(profile.name);
    },

    async update(name, input, by) {
      const profile = parseProfile(input);
      if (profile.name !== name)
        throw new ChanceryError("invalid_argument", `profile name cannot change (from "${name}" to "${profile.name}")`);
      await pool.transaction(async (tx) => {
        const row = await findProfileByName(tx, name);
        if (!row) throw new ChanceryError("not_found", `no profile named "${name}"`);
        await updateProfileDefinition(tx, row.id, profile);
        await audit.appendInTransaction(tx, [
          { ...by, action: "profile.update", target: `profile:${row.id}`, details: { name } },
        ]);
      });
      return service.get(name);
    },

    async get(name) {
      const row = await findProfileByName(pool, name);
      if (!row) throw new ChanceryError("not_found", `no profile named "${name}"`);
      return toStored(row);
    },

    async list() {
      return (await listProfiles(pool)).map(toStored);
    },

    insertInTransaction,
  };
  return service;
}

function toStored(row: ProfileRow): StoredProfile {
  return { id: row.id, profile: parseProfile(row.definition), updatedAt: new Date(row.updated_at) };
}
