import { randomUUID, X509Certificate } from "node:crypto";
import type { CommonQueryMethods, DatabasePool } from "slonik";
import { z } from "zod";
import { findCaById } from "../../store/ca-store.ts";
import {
  anyEstLabelExists,
  clearDefaultEstLabel,
  countEstLabelDependents,
  deleteEstLabel,
  type EstLabelFields,
  type EstLabelRow,
  findDefaultEstLabel,
  findEstLabelById,
  findEstLabelByName,
  insertEstLabel,
  listEstLabelsAfter,
  lockEstAdvisory,
  lockEstLabel,
  updateEstLabel,
} from "../../store/est-label-store.ts";
import { findProfileByName } from "../../store/profile-store.ts";
import type { Actor } from "../actor.ts";
import type { AuditDetail } from "../audit/audit-event.ts";
import type { AuditLog } from "../audit/audit-log.ts";
import type { Clock } from "../clock.ts";
import { secretLifetimeWithin } from "../enrollment-secrets/secret-lifetime.ts";
import { ChanceryError } from "../errors.ts";
import { decodePageCursor, encodePageCursor, keysetPage, pageSizeWithin } from "../page-cursor.ts";
import { parseProfile } from "../profiles/profile-schema.ts";
import { uuidPattern } from "../uuid-pattern.ts";
import { decodeBase64Strict, pemDecode } from "../x509/pem.ts";
import { type AuthMode, authModes, type EstLabel, type EstLabelChange, type EstLabelService } from "./est-types.ts";

const namePattern = /^[a-z0-9][a-z0-9-]{0,62}$/;
export const defaultEstPageSize = 100;
export const maxEstPageSize = 1000;
const defaultSecretLifetimeSeconds = 86_400;
const maxAnchors = 50;
const maxAnchorBytes = 16 * 1024;
export const defaultEstLabelName = "default";
export const defaultEstLabelProfile = "device";
/** Transaction advisory lock key ("chestdef") serialising default-label creation across replicas. */
const defaultLabelLockKey = 0x6368657374646566n;
const bootstrapActor: Actor = { actor: "bootstrap" };

/**
 * EST labels (migrations/0019 est_labels): the control plane behind
 * /.well-known/est/<label>/. Each write validates the whole label against
 * its CA, profile and trust anchors, and is audited in its transaction.
 */
export function createEstLabelService(deps: { pool: DatabasePool; audit: AuditLog; clock: Clock }): EstLabelService {
  const { pool, audit, clock } = deps;

  async function load(id: string): Promise<EstLabelRow> {
    const row = uuidPattern.test(id) ? await findEstLabelById(pool, id) : null;
    if (!row) throw notFound(id);
    return row;
  }

  /** The CA, profile and anchor CAs checked through `db` (the caller's transaction). */
  async function checkReferences(db: CommonQueryMethods, fields: EstLabelFields): Promise<void> {
    const ca = uuidPattern.test(fields.caId) ? await findCaById(db, fields.caId) : null;
    if (!ca) throw new ChanceryError("invalid_argument", `ca_id: no CA with id "${fields.caId}"`);
    if (ca.status !== "active" || !ca.certificate_der)
      throw new ChanceryError("failed_precondition", `ca_id: CA ${ca.name} is ${ca.status} and cannot issue`);

    const profile = await findProfileByName(db, fields.profileName);
    if (!profile) throw new ChanceryError("invalid_argument", `profile_name: no profile named "${fields.profileName}"`);
    // An EST client is an end entity: a profile that makes CA certificates is never served here.
    if (parseProfile(profile.definition).basicConstraints.ca)
      throw new ChanceryError(
        "invalid_argument",
        `profile_name: "${fields.profileName}" makes CA certificates and cannot be used for EST`,
      );
    if (ca.allowed_profiles.length > 0 && !ca.allowed_profiles.includes(fields.profileName))
      throw new ChanceryError(
        "invalid_argument",
        `profile_name: profile "${fields.profileName}" is not allowed on CA ${ca.name} (allowed: ${ca.allowed_profiles.join(", ")})`,
      );

    for (const anchorId of fields.clientCaIds) {
      const anchor = uuidPattern.test(anchorId) ? await findCaById(db, anchorId) : null;
      if (!anchor) throw new ChanceryError("invalid_argument", `client_ca_ids: no CA with id "${anchorId}"`);
      if (!anchor.certificate_der)
        throw new ChanceryError("failed_precondition", `client_ca_ids: CA ${anchor.name} has no certificate yet`);
    }
  }

  /** The label's fields after `change` is applied over `current` (null for a new label), checked and normalised. */
  function merge(current: EstLabelRow | null, change: EstLabelChange): EstLabelFields {
    const authMode = change.authMode ?? (current?.auth_mode as AuthMode | undefined);
    if (authMode === undefined || !(authModes as readonly string[]).includes(authMode))
      throw new ChanceryError(
        "invalid_argument",
        `auth_mode: must be one of ${authModes.join(", ")}, got "${String(authMode)}"`,
      );
    const caId = change.caId ?? current?.ca_id;
    const profileName = change.profileName ?? current?.profile_name;
    if (!caId) throw new ChanceryError("invalid_argument", "ca_id: required");
    if (!profileName) throw new ChanceryError("invalid_argument", "profile_name: required");
    const clientCaIds = [...new Set(change.clientCaIds ?? current?.client_ca_ids ?? [])];
    if (clientCaIds.length > maxAnchors)
      throw new ChanceryError("invalid_argument", `client_ca_ids: at most ${maxAnchors}`);
    const externalAnchorsDer =
      change.externalAnchorsDer === undefined
        ? (current?.external_anchors_der ?? [])
        : checkAnchors(change.externalAnchorsDer);
    if (authMode !== "basic" && clientCaIds.length + externalAnchorsDer.length === 0)
      throw new ChanceryError(
        "invalid_argument",
        `client_ca_ids: auth_mode ${authMode} accepts client certificates, so it needs at least one trust anchor (client_ca_ids or external_anchors)`,
      );
    const secretLifetimeSeconds = secretLifetimeWithin(
      "secret_lifetime_seconds",
      change.secretLifetimeSeconds ?? current?.secret_lifetime_seconds ?? defaultSecretLifetimeSeconds,
    );
    return {
      isDefault: change.isDefault ?? current?.is_default ?? false,
      caId,
      profileName,
      authMode,
      clientCaIds,
      externalAnchorsDer,
      channelBindingRequired: change.channelBindingRequired ?? current?.channel_binding_required ?? false,
      serverKeygenAllowed: change.serverKeygenAllowed ?? current?.server_keygen_allowed ?? false,
      reenrollSubjectChangeAllowed:
        change.reenrollSubjectChangeAllowed ?? current?.reenroll_subject_change_allowed ?? false,
      secretLifetimeSeconds,
      enabled: change.enabled ?? current?.enabled ?? true,
    };
  }

  /** Writes a new label with its audit event in `tx`; already_exists (rolling `tx` back) when the name is taken. */
  async function insert(
    tx: CommonQueryMethods,
    id: string,
    name: string,
    fields: EstLabelFields,
    by: Actor,
  ): Promise<true> {
    await checkReferences(tx, fields);
    const now = clock.now();
    // The default mark moves: the label made default takes it from the one that had it.
    const undefaulted = fields.isDefault ? await clearDefaultEstLabel(tx, id, now) : null;
    if (!(await insertEstLabel(tx, { ...fields, id, name, now })))
      throw new ChanceryError("already_exists", `an EST label named "${name}" already exists`);
    await audit.appendInTransaction(tx, [
      {
        ...by,
        action: "est.label.create",
        target: `est-label:${id}`,
        details: { ...auditDetails(name, fields), ...(undefaulted ? { previousDefault: undefaulted } : {}) },
      },
    ]);
    return true;
  }

  const service: EstLabelService = {
    async create(input, by) {
      if (!namePattern.test(input.name))
        throw new ChanceryError(
          "invalid_argument",
          `name: "${input.name}" must be 1-63 lower-case letters, digits or dashes, starting with a letter or digit`,
        );
      const id = randomUUID();
      const fields = merge(null, input);
      await pool.transaction((tx) => insert(tx, id, input.name, fields, by));
      return service.get(id);
    },

    async get(id) {
      return labelOf(await load(id));
    },

    async getByName(name) {
      const row = namePattern.test(name) ? await findEstLabelByName(pool, name) : null;
      if (!row) throw new ChanceryError("not_found", `no EST label named "${name}"`);
      return labelOf(row);
    },

    async getDefault() {
      const row = await findDefaultEstLabel(pool);
      if (!row) throw new ChanceryError("not_found", "no EST label is the default; name one in the URL");
      return labelOf(row);
    },

    async list(page) {
      const size = pageSize(page.pageSize);
      const after = page.pageToken ? decodePageToken(page.pageToken) : null;
      // One row more than asked tells whether another page follows.
      const rows = await listEstLabelsAfter(pool, after, size + 1);
      const { shown, nextPageToken } = keysetPage(rows, size, (last) => encodePageToken(last.name));
      return { labels: shown.map(labelOf), nextPageToken };
    },

    async update(id, change, by) {
      await load(id);
      await pool.transaction(async (tx) => {
        // Locked, so two concurrent partial updates cannot undo each other.
        const row = await lockEstLabel(tx, id);
        if (!row) throw notFound(id);
        const fields = merge(row, change);
        await checkReferences(tx, fields);
        const now = clock.now();
        const undefaulted = fields.isDefault && !row.is_default ? await clearDefaultEstLabel(tx, id, now) : null;
        await updateEstLabel(tx, id, fields, now);
        await audit.appendInTransaction(tx, [
          {
            ...by,
            action: "est.label.update",
            target: `est-label:${id}`,
            details: {
              ...auditDetails(row.name, fields),
              changed: Object.entries(change)
                .filter(([, v]) => v !== undefined)
                .map(([k]) => k)
                .sort(),
              ...(undefaulted ? { previousDefault: undefaulted } : {}),
            },
          },
        ]);
      });
      return service.get(id);
    },

    async delete(id, by) {
      await load(id);
      await pool.transaction(async (tx) => {
        const row = await lockEstLabel(tx, id);
        if (!row) throw notFound(id);
        const dependents = await countEstLabelDependents(tx, id);
        await deleteEstLabel(tx, id);
        await audit.appendInTransaction(tx, [
          {
            ...by,
            action: "est.label.delete",
            target: `est-label:${id}`,
            details: {
              ...auditDetails(row.name, fieldsOfRow(row)),
              deletedSecrets: dependents.secrets,
              deletedEnrollments: dependents.enrollments,
            },
          },
        ]);
      });
    },

    async ensureDefaultLabel({ caId }) {
      if (await anyEstLabelExists(pool)) return null;
      const id = randomUUID();
      const created = await pool.transaction(async (tx) => {
        await lockEstAdvisory(tx, defaultLabelLockKey);
        if (await anyEstLabelExists(tx)) return false;
        // Secure by default: a client needs a certificate from the issuing CA, or a gateway token or
        // enrollment secret over HTTP Basic; nothing is issued to an anonymous client.
        const fields = merge(null, {
          caId,
          profileName: defaultEstLabelProfile,
          authMode: "either",
          isDefault: true,
          clientCaIds: [caId],
        });
        return insert(tx, id, defaultEstLabelName, fields, bootstrapActor);
      });
      return created ? service.get(id) : null;
    },
  };
  return service;
}

function notFound(id: string): ChanceryError {
  return new ChanceryError("not_found", `no EST label with id ${id}`);
}

/**
 * External anchors as DER certificates that can issue: PEM blocks or DER,
 * each one certificate with cA TRUE (or a self-signed v1 root).
 */
function checkAnchors(input: readonly Uint8Array[]): Buffer[] {
  if (input.length > maxAnchors) throw new ChanceryError("invalid_argument", `external_anchors: at most ${maxAnchors}`);
  const out: Buffer[] = [];
  const seen = new Set<string>();
  for (const [i, item] of input.entries()) {
    if (item.length > maxAnchorBytes)
      throw new ChanceryError("invalid_argument", `external_anchors[${i}]: larger than ${maxAnchorBytes} bytes`);
    let der: Buffer;
    const text = Buffer.from(item).toString("latin1");
    try {
      der = Buffer.from(
        text.includes("-----BEGIN")
          ? pemDecode(text, ["CERTIFICATE"])
          : item[0] === 0x30 && item[1] !== undefined && item[1] >= 0x80
            ? item
            : (decodeBase64Strict(text) ?? item),
      );
    } catch (cause) {
      throw new ChanceryError("invalid_argument", `external_anchors[${i}]: not a PEM or DER certificate`, { cause });
    }
    let certificate: X509Certificate;
    try {
      certificate = new X509Certificate(der);
    } catch (cause) {
      throw new ChanceryError("invalid_argument", `external_anchors[${i}]: not a valid X.509 certificate`, { cause });
    }
    if (!certificate.ca && !certificate.checkIssued(certificate))
      throw new ChanceryError(
        "invalid_argument",
        `external_anchors[${i}]: ${certificate.subject} is not a CA certificate`,
      );
    const key = certificate.fingerprint256;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(Buffer.from(certificate.raw));
  }
  return out;
}

function fieldsOfRow(row: EstLabelRow): EstLabelFields {
  return {
    isDefault: row.is_default,
    caId: row.ca_id,
    profileName: row.profile_name,
    authMode: row.auth_mode,
    clientCaIds: row.client_ca_ids,
    externalAnchorsDer: row.external_anchors_der,
    channelBindingRequired: row.channel_binding_required,
    serverKeygenAllowed: row.server_keygen_allowed,
    reenrollSubjectChangeAllowed: row.reenroll_subject_change_allowed,
    secretLifetimeSeconds: row.secret_lifetime_seconds,
    enabled: row.enabled,
  };
}

export function labelOf(row: EstLabelRow): EstLabel {
  return {
    id: row.id,
    name: row.name,
    isDefault: row.is_default,
    caId: row.ca_id,
    profileName: row.profile_name,
    // The table's CHECK keeps this to the known values.
    authMode: row.auth_mode as AuthMode,
    clientCaIds: row.client_ca_ids,
    externalAnchorsDer: row.external_anchors_der,
    channelBindingRequired: row.channel_binding_required,
    serverKeygenAllowed: row.server_keygen_allowed,
    reenrollSubjectChangeAllowed: row.reenroll_subject_change_allowed,
    secretLifetimeSeconds: row.secret_lifetime_seconds,
    enabled: row.enabled,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

/** What an audit event says of a label: every setting, anchors by SHA-256 fingerprint. */
function auditDetails(name: string, fields: EstLabelFields): Record<string, AuditDetail> {
  return {
    name,
    isDefault: fields.isDefault,
    caId: fields.caId,
    profileName: fields.profileName,
    authMode: fields.authMode,
    clientCaIds: [...fields.clientCaIds],
    externalAnchors: fields.externalAnchorsDer.map((der) => new X509Certificate(der).fingerprint256),
    channelBindingRequired: fields.channelBindingRequired,
    serverKeygenAllowed: fields.serverKeygenAllowed,
    reenrollSubjectChangeAllowed: fields.reenrollSubjectChangeAllowed,
    secretLifetimeSeconds: fields.secretLifetimeSeconds,
    enabled: fields.enabled,
  };
}

function pageSize(value: number | undefined): number {
  return pageSizeWithin(value, { default: defaultEstPageSize, max: maxEstPageSize });
}

// The page token is the last label's name, base64url JSON: opaque to
// clients but not secret (forging one only moves where the listing starts).
const pageCursor = z.object({ n: z.string().regex(namePattern) }).strict();

function encodePageToken(lastName: string): string {
  return encodePageCursor({ n: lastName });
}

function decodePageToken(token: string): string {
  return decodePageCursor(token, pageCursor).n;
}
