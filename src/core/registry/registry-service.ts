import type { CommonQueryMethods, DatabasePool } from "slonik";
import { listProfiles } from "../../store/profile-store.ts";
import {
  type CertificatePolicyRow,
  deleteCertificatePolicyRow,
  deleteObjectIdentifierRow,
  insertCertificatePolicyRow,
  insertObjectIdentifierRow,
  listCertificatePolicyRows,
  listObjectIdentifierRows,
  lockCertificatePolicyRow,
  lockObjectIdentifierRow,
  type ObjectIdentifierRow,
  updateCertificatePolicyRow,
  updateObjectIdentifierRow,
} from "../../store/registry-store.ts";
import { isUniqueViolation } from "../../store/unique-violation.ts";
import type { Actor } from "../actor.ts";
import type { AuditLog } from "../audit/audit-log.ts";
import { ChanceryError } from "../errors.ts";
import { type Profile, parseProfile } from "../profiles/profile-schema.ts";
import { isStringValueType } from "../x509/string-value-type.ts";
import {
  builtinCertificatePolicies,
  type CertificatePolicyChange,
  type CertificatePolicyEntry,
  isBuiltinCertificatePolicy,
  type NewCertificatePolicy,
  parseCertificatePolicyChange,
  parseNewCertificatePolicy,
} from "./certificate-policy-entry.ts";
import {
  builtinObjectIdentifiers,
  isBuiltinObjectIdentifier,
  isPlacement,
  type NewObjectIdentifier,
  type ObjectIdentifierChange,
  type ObjectIdentifierEntry,
  parseNewObjectIdentifier,
  parseObjectIdentifierChange,
} from "./object-identifier-entry.ts";
import {
  createRegistrySnapshot,
  type RegistrySnapshot,
  registryReferencesOf,
  resolveProfile,
} from "./resolve-profile.ts";

/**
 * The OID and certificate policy registries. Built-in entries come from
 * code and cannot change; stored entries are admin-managed. An entry a
 * profile references cannot be deleted: a profile and the entries it names
 * are written under row locks (FOR SHARE on the entries, FOR UPDATE on
 * delete), so a delete and a profile write cannot cross.
 */
export interface RegistryService {
  listObjectIdentifiers(): Promise<ObjectIdentifierEntry[]>;
  getObjectIdentifier(id: string): Promise<ObjectIdentifierEntry>;
  /** `input` is validated here (NewObjectIdentifier is its shape). */
  createObjectIdentifier(
    input: NewObjectIdentifier | Record<string, unknown>,
    by: Actor,
  ): Promise<ObjectIdentifierEntry>;
  updateObjectIdentifier(id: string, change: ObjectIdentifierChange, by: Actor): Promise<ObjectIdentifierEntry>;
  deleteObjectIdentifier(id: string, by: Actor): Promise<void>;
  listCertificatePolicies(): Promise<CertificatePolicyEntry[]>;
  getCertificatePolicy(id: string): Promise<CertificatePolicyEntry>;
  createCertificatePolicy(input: NewCertificatePolicy, by: Actor): Promise<CertificatePolicyEntry>;
  updateCertificatePolicy(id: string, change: CertificatePolicyChange, by: Actor): Promise<CertificatePolicyEntry>;
  deleteCertificatePolicy(id: string, by: Actor): Promise<void>;
  /** Both registries as they are now (issuance resolves profiles against this). */
  snapshot(db?: CommonQueryMethods): Promise<RegistrySnapshot>;
  /**
   * Inside the caller's profile-writing transaction: locks the entries the
   * profile names (FOR SHARE) and resolves it, so a missing or misplaced
   * reference is invalid_argument and no entry is deleted under it.
   */
  checkProfileReferences(tx: CommonQueryMethods, profile: Profile): Promise<void>;
}

export function createRegistryService(deps: { pool: DatabasePool; audit: AuditLog }): RegistryService {
  const { pool, audit } = deps;

  async function snapshot(db: CommonQueryMethods = pool): Promise<RegistrySnapshot> {
    const [oidRows, policyRows] = await Promise.all([listObjectIdentifierRows(db), listCertificatePolicyRows(db)]);
    return createRegistrySnapshot({
      objectIdentifiers: oidRows.map(toObjectIdentifier),
      certificatePolicies: policyRows.map(toCertificatePolicy),
    });
  }

  /** Profiles that name `id` in the given registry; the caller holds the entry's row lock. */
  async function profilesReferencing(
    tx: CommonQueryMethods,
    registry: "objectIdentifiers" | "certificatePolicies",
    id: string,
  ): Promise<Profile[]> {
    const profiles = (await listProfiles(tx)).map((row) => parseProfile(row.definition));
    return profiles.filter((profile) => registryReferencesOf(profile)[registry].includes(id));
  }

  function inUse(kind: string, id: string, profiles: readonly Profile[]): ChanceryError {
    const names = profiles.map((p) => p.name).join(", ");
    return new ChanceryError(
      "failed_precondition",
      `${kind} "${id}" is used by profile${profiles.length > 1 ? "s" : ""} ${names}`,
    );
  }

  function refuseBuiltin(kind: string, id: string, verb: string): never {
    throw new ChanceryError("failed_precondition", `${kind} "${id}" is built in and cannot be ${verb}`);
  }

  const service: RegistryService = {
    async listObjectIdentifiers() {
      const stored = (await listObjectIdentifierRows(pool)).map(toObjectIdentifier);
      return [...builtinObjectIdentifiers, ...stored];
    },

    async getObjectIdentifier(id) {
      const found = (await snapshot()).objectIdentifier(id);
      if (!found) throw new ChanceryError("not_found", `no object identifier "${id}"`);
      return found;
    },

    async createObjectIdentifier(input, by) {
      const entry = parseNewObjectIdentifier(input);
      try {
        await pool.transaction(async (tx) => {
          await insertObjectIdentifierRow(tx, entry);
          await audit.appendInTransaction(tx, [
            { ...by, action: "registry.oid.create", target: `oid:${entry.id}`, details: { ...entry } },
          ]);
        });
      } catch (err) {
        if (isUniqueViolation(err))
          throw new ChanceryError(
            "already_exists",
            `an object identifier "${entry.id}", or one for ${entry.oid} as ${entry.placement}, already exists`,
          );
        throw err;
      }
      return service.getObjectIdentifier(entry.id);
    },

    async updateObjectIdentifier(id, input, by) {
      if (isBuiltinObjectIdentifier(id)) refuseBuiltin("object identifier", id, "changed");
      const change = parseObjectIdentifierChange(input);
      await pool.transaction(async (tx) => {
        const row = await lockObjectIdentifierRow(tx, id, "update");
        if (!row) throw new ChanceryError("not_found", `no object identifier "${id}"`);
        await updateObjectIdentifierRow(tx, id, { displayName: change.displayName, valuePattern: change.valuePattern });
        // A new pattern must still accept the values profiles give registry extensions.
        const updated = { ...toObjectIdentifier(row), ...change };
        const stored = (await listObjectIdentifierRows(tx)).map(toObjectIdentifier).filter((e) => e.id !== id);
        const registry = createRegistrySnapshot({
          objectIdentifiers: [...stored, updated],
          certificatePolicies: (await listCertificatePolicyRows(tx)).map(toCertificatePolicy),
        });
        for (const profile of await profilesReferencing(tx, "objectIdentifiers", id))
          resolveProfile(profile, registry, "failed_precondition");
        await audit.appendInTransaction(tx, [
          { ...by, action: "registry.oid.update", target: `oid:${id}`, details: { ...change } },
        ]);
      });
      return service.getObjectIdentifier(id);
    },

    async deleteObjectIdentifier(id, by) {
      if (isBuiltinObjectIdentifier(id)) refuseBuiltin("object identifier", id, "deleted");
      await pool.transaction(async (tx) => {
        const row = await lockObjectIdentifierRow(tx, id, "update");
        if (!row) throw new ChanceryError("not_found", `no object identifier "${id}"`);
        const users = await profilesReferencing(tx, "objectIdentifiers", id);
        if (users.length > 0) throw inUse("object identifier", id, users);
        await deleteObjectIdentifierRow(tx, id);
        await audit.appendInTransaction(tx, [
          {
            ...by,
            action: "registry.oid.delete",
            target: `oid:${id}`,
            details: { oid: row.oid, placement: row.placement },
          },
        ]);
      });
    },

    async listCertificatePolicies() {
      const stored = (await listCertificatePolicyRows(pool)).map(toCertificatePolicy);
      return [...builtinCertificatePolicies, ...stored];
    },

    async getCertificatePolicy(id) {
      const found = (await snapshot()).certificatePolicy(id);
      if (!found) throw new ChanceryError("not_found", `no certificate policy "${id}"`);
      return found;
    },

    async createCertificatePolicy(input, by) {
      const entry = parseNewCertificatePolicy(input);
      try {
        await pool.transaction(async (tx) => {
          await insertCertificatePolicyRow(tx, entry);
          await audit.appendInTransaction(tx, [
            { ...by, action: "registry.policy.create", target: `policy:${entry.id}`, details: { ...entry } },
          ]);
        });
      } catch (err) {
        if (isUniqueViolation(err))
          throw new ChanceryError("already_exists", `a certificate policy "${entry.id}" already exists`);
        throw err;
      }
      return service.getCertificatePolicy(entry.id);
    },

    async updateCertificatePolicy(id, input, by) {
      if (isBuiltinCertificatePolicy(id)) refuseBuiltin("certificate policy", id, "changed");
      const change = parseCertificatePolicyChange(input);
      await pool.transaction(async (tx) => {
        const row = await lockCertificatePolicyRow(tx, id, "update");
        if (!row) throw new ChanceryError("not_found", `no certificate policy "${id}"`);
        await updateCertificatePolicyRow(tx, id, {
          displayName: change.displayName,
          cpsUri: change.cpsUri,
          userNotice: change.userNotice,
        });
        await audit.appendInTransaction(tx, [
          { ...by, action: "registry.policy.update", target: `policy:${id}`, details: { ...change } },
        ]);
      });
      return service.getCertificatePolicy(id);
    },

    async deleteCertificatePolicy(id, by) {
      if (isBuiltinCertificatePolicy(id)) refuseBuiltin("certificate policy", id, "deleted");
      await pool.transaction(async (tx) => {
        const row = await lockCertificatePolicyRow(tx, id, "update");
        if (!row) throw new ChanceryError("not_found", `no certificate policy "${id}"`);
        const users = await profilesReferencing(tx, "certificatePolicies", id);
        if (users.length > 0) throw inUse("certificate policy", id, users);
        await deleteCertificatePolicyRow(tx, id);
        await audit.appendInTransaction(tx, [
          { ...by, action: "registry.policy.delete", target: `policy:${id}`, details: { oid: row.oid } },
        ]);
      });
    },

    snapshot,

    async checkProfileReferences(tx, profile) {
      const references = registryReferencesOf(profile);
      for (const id of references.objectIdentifiers)
        if (!isBuiltinObjectIdentifier(id)) await lockObjectIdentifierRow(tx, id, "share");
      for (const id of references.certificatePolicies)
        if (!isBuiltinCertificatePolicy(id)) await lockCertificatePolicyRow(tx, id, "share");
      resolveProfile(profile, await snapshot(tx), "invalid_argument");
    },
  };
  return service;
}

function toObjectIdentifier(row: ObjectIdentifierRow): ObjectIdentifierEntry {
  if (!isStringValueType(row.value_type) || !isPlacement(row.placement))
    throw new ChanceryError("internal", `object identifier ${row.id} has an unknown value type or placement`);
  return {
    id: row.id,
    oid: row.oid,
    displayName: row.display_name,
    valueType: row.value_type,
    placement: row.placement,
    valuePattern: row.value_pattern ?? undefined,
    builtin: false,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

function toCertificatePolicy(row: CertificatePolicyRow): CertificatePolicyEntry {
  return {
    id: row.id,
    oid: row.oid,
    displayName: row.display_name,
    cpsUri: row.cps_uri ?? undefined,
    userNotice: row.user_notice ?? undefined,
    builtin: false,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}
