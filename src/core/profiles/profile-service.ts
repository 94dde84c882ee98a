import { randomUUID } from "node:crypto";
import type { CommonQueryMethods, DatabasePool } from "slonik";
import { z } from "zod";
import {
  deleteProfileRow,
  findProfileByName,
  insertProfile,
  listProfiles,
  listProfilesAfter,
  lockProfileByName,
  type ProfileRow,
  profileHasCertificates,
  updateProfileDefinition,
} from "../../store/profile-store.ts";
import { isUniqueViolation } from "../../store/unique-violation.ts";
import type { Actor } from "../actor.ts";
import type { AuditDetail } from "../audit/audit-event.ts";
import type { AuditLog } from "../audit/audit-log.ts";
import { ChanceryError } from "../errors.ts";
import { decodePageCursor, encodePageCursor, keysetPage } from "../page-cursor.ts";
import type { RegistryService } from "../registry/registry-service.ts";
import { type Profile, parseProfile } from "./profile-schema.ts";

export interface StoredProfile {
  readonly id: string;
  readonly profile: Profile;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export interface ListProfilesOptions {
  /** 1-1000; 0 or unset means 100. */
  pageSize?: number | undefined;
  /** From a previous page's nextPageToken. */
  pageToken?: string | undefined;
}

export interface ProfilePage {
  profiles: StoredProfile[];
  /** Opaque; empty when this is the last page. */
  nextPageToken: string;
}

export interface ProfileService {
  create(input: unknown, by: Actor): Promise<StoredProfile>;
  /**
   * Replaces the definition with what `change` makes of the current one,
   * read with the row locked, so concurrent partial updates cannot undo each
   * other. The result is validated like any profile; the name cannot change.
   */
  update(name: string, change: (current: Profile) => unknown, by: Actor): Promise<StoredProfile>;
  get(name: string): Promise<StoredProfile>;
  /** Every profile, by name (bootstrap). */
  list(): Promise<StoredProfile[]>;
  /** One page of profiles, by name. */
  listPage(options?: ListProfilesOptions): Promise<ProfilePage>;
  /**
   * Refused (failed_precondition) while any certificate issued under the
   * profile exists. `check` sees the current definition under the row lock
   * first and may throw to refuse (e.g. a profile whose changes need approval).
   */
  delete(name: string, by: Actor, options?: ProfileDeleteOptions): Promise<void>;
  /** Inserts these inside the caller's transaction (bootstrap). */
  insertInTransaction(tx: CommonQueryMethods, profiles: Profile[], by: Actor): Promise<void>;
  /**
   * Validates a definition as create() and update() do (the schema, then its
   * registry references) without writing it: the approval queue checks a
   * proposed change when it is submitted, long before it is applied.
   */
  check(input: unknown): Promise<Profile>;
  /**
   * update() inside the caller's transaction, so the change commits or rolls
   * back with the caller's own writes (the approval queue applies an approved
   * profile change together with its request's state and audit events).
   * `change` runs with the row locked and may throw to refuse, e.g. when the
   * definition is no longer the one a change was proposed against.
   * `details` are added to the profile.update audit event.
   */
  updateInTransaction(
    tx: CommonQueryMethods,
    name: string,
    change: (current: Profile) => unknown,
    by: Actor,
    details?: Record<string, AuditDetail>,
  ): Promise<StoredProfile>;
  /** delete() inside the caller's transaction; `details` are added to the profile.delete audit event. */
  deleteInTransaction(
    tx: CommonQueryMethods,
    name: string,
    by: Actor,
    options?: ProfileDeleteOptions & { details?: Record<string, AuditDetail> },
  ): Promise<void>;
}

export interface ProfileDeleteOptions {
  /** Sees the stored definition under the row lock, before anything is written; throws to refuse. */
  readonly check?: ((current: Profile) => void) | undefined;
}

export const defaultPageSize = 100;
export const maxPageSize = 1000;

/**
 * Profiles are validated by the core schema before they are written, and
 * re-validated when read, so a row edited by hand cannot smuggle a bad
 * profile into issuance.
 */
export function createProfileService(deps: {
  pool: DatabasePool;
  audit: AuditLog;
  /** Checks the OID and policy registry entries a profile names, inside its write transaction. */
  registry: Pick<RegistryService, "checkProfileReferences">;
}): ProfileService {
  const { pool, audit, registry } = deps;

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
        await pool.transaction(async (tx) => {
          await registry.checkProfileReferences(tx, profile);
          await insertInTransaction(tx, [profile], by);
        });
      } catch (err) {
        if (isUniqueViolation(err))
          throw new ChanceryError("already_exists", `a profile named "${profile.name}" already exists`);
        throw err;
      }
      return service.get(profile.name);
    },

    async update(name, change, by) {
      return pool.transaction((tx) => service.updateInTransaction(tx, name, change, by));
    },

    async get(name) {
      const row = await findProfileByName(pool, name);
      if (!row) throw new ChanceryError("not_found", `no profile named "${name}"`);
      return toStored(row);
    },

    async list() {
      return (await listProfiles(pool)).map(toStored);
    },

    async listPage(options = {}) {
      const pageSize = checkPageSize(options.pageSize);
      const after = options.pageToken ? decodePageToken(options.pageToken) : null;
      // One row more than asked tells whether another page follows.
      const rows = await listProfilesAfter(pool, after, pageSize + 1);
      const { shown, nextPageToken } = keysetPage(rows, pageSize, (last) => encodePageToken(last.name));
      return { profiles: shown.map(toStored), nextPageToken };
    },

    async delete(name, by, options) {
      await pool.transaction((tx) => service.deleteInTransaction(tx, name, by, options));
    },

    insertInTransaction,

    async check(input) {
      const profile = parseProfile(input);
      await pool.transaction((tx) => registry.checkProfileReferences(tx, profile));
      return profile;
    },

    async updateInTransaction(tx, name, change, by, details) {
      const row = await lockProfileByName(tx, name);
      if (!row) throw new ChanceryError("not_found", `no profile named "${name}"`);
      const profile = parseProfile(change(parseProfile(row.definition)));
      if (profile.name !== name)
        throw new ChanceryError("invalid_argument", `profile name cannot change (from "${name}" to "${profile.name}")`);
      await registry.checkProfileReferences(tx, profile);
      await updateProfileDefinition(tx, row.id, profile);
      await audit.appendInTransaction(tx, [
        { ...by, action: "profile.update", target: `profile:${row.id}`, details: { ...details, name } },
      ]);
      const updated = await findProfileByName(tx, name);
      if (!updated) throw new ChanceryError("internal", `profile "${name}" vanished inside its own update`);
      return toStored(updated);
    },

    async deleteInTransaction(tx, name, by, options = {}) {
      // The lock keeps issuance from starting to use the profile between the check and the delete.
      const row = await lockProfileByName(tx, name);
      if (!row) throw new ChanceryError("not_found", `no profile named "${name}"`);
      options.check?.(parseProfile(row.definition));
      // Issued certificates keep pointing at their profile (certificates.profile_id), for audit
      // and renewal; a profile with history is retired by editing it, not deleted.
      if (await profileHasCertificates(tx, row.id))
        throw new ChanceryError(
          "failed_precondition",
          `profile "${name}" cannot be deleted: certificates were issued under it`,
        );
      await deleteProfileRow(tx, row.id);
      // The whole definition goes into the event, so a deleted profile can be recreated from the audit log.
      await audit.appendInTransaction(tx, [
        {
          ...by,
          action: "profile.delete",
          target: `profile:${row.id}`,
          details: { ...options.details, name, definition: row.definition as AuditDetail },
        },
      ]);
    },
  };
  return service;
}

function toStored(row: ProfileRow): StoredProfile {
  return {
    id: row.id,
    profile: parseProfile(row.definition),
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

function checkPageSize(pageSize: number | undefined): number {
  if (pageSize === undefined || pageSize === 0) return defaultPageSize;
  if (!Number.isInteger(pageSize) || pageSize < 0)
    throw new ChanceryError("invalid_argument", `pageSize must be a whole number from 0 to ${maxPageSize}`);
  return Math.min(pageSize, maxPageSize);
}

// The page token is the last profile's name, base64url JSON: opaque to
// clients but not secret (forging one only moves where the listing starts).
const pageCursor = z.object({ n: z.string().min(1).max(63) }).strict();

function encodePageToken(lastName: string): string {
  return encodePageCursor({ n: lastName });
}

function decodePageToken(token: string): string {
  return decodePageCursor(token, pageCursor).n;
}
