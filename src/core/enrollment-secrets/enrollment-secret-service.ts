import { createHash, randomBytes, randomUUID } from "node:crypto";
import type { CommonQueryMethods, DatabasePool } from "slonik";
import { z } from "zod";
import {
  type EnrollmentSecretRow,
  type EnrollmentSecretScopeKey,
  findEnrollmentSecret,
  findEnrollmentSecretByHash,
  insertEnrollmentSecret,
  listEnrollmentSecrets,
  lockEnrollmentSecret,
  revokeEnrollmentSecret,
  settleEnrollmentSecret,
  spendEnrollmentSecret,
  unspendEnrollmentSecret,
} from "../../store/enrollment-secret-store.ts";
import type { AuditLog } from "../audit/audit-log.ts";
import type { Clock } from "../clock.ts";
import { ChanceryError } from "../errors.ts";
import { normalizeBoundSans, normalizeBoundSubject, sansMatch, subjectMatches } from "../issuance/name-binding.ts";
import { decodePageCursor, encodePageCursor, keysetPage, pageSizeWithin } from "../page-cursor.ts";
import { uuidPattern } from "../uuid-pattern.ts";
import type {
  EnrollmentSecret,
  EnrollmentSecretScope,
  EnrollmentSecretScopeRules,
  EnrollmentSecretService,
  ScopeFacts,
  ScopeKind,
  SecretRefusal,
} from "./enrollment-secret-types.ts";
import { secretLifetimeWithin } from "./secret-lifetime.ts";

export const defaultSecretPageSize = 100;
export const maxSecretPageSize = 1000;
/**
 * Bytes of CSPRNG output in a secret (160 bits), written as 40 lower-case
 * hex digits: SCEP carries it as the CSR's challengePassword, often a
 * PrintableString (RFC 2985 §5.4.1), which has no "_", and people type these
 * into router consoles. In an EST Basic password it cannot pass for a
 * personal access token ("chancery_pat_...").
 */
const secretBytes = 20;
/**
 * Also accepted: EST secrets minted before the two were one
 * ("chancery_est_" + 40 hex), whose hashes moved to enrollment_secrets as they were.
 */
const secretPattern = /^(?:chancery_est_)?[0-9a-f]{40}$/;
/** What spent a secret: an SCEP transactionID (1-256 characters) or an EST "certificate:<serial>". */
const maxUsedByLength = 256;

const scopeColumns: Record<ScopeKind, EnrollmentSecretScopeKey["column"]> = {
  scep_endpoint: "scep_endpoint_id",
  est_label: "est_label_id",
};

function secretHash(secret: string): Buffer {
  return createHash("sha256").update(secret, "utf8").digest();
}

/** Whether a presented value has the shape of an enrollment secret (no lookup): a Basic password or a challenge. */
export function looksLikeEnrollmentSecret(value: string): boolean {
  return secretPattern.test(value);
}

/**
 * One-time enrollment secrets, SCEP's and EST's alike: minted through the
 * admin API, shown once and kept as a SHA-256 hash, expiring, single use
 * across replicas, optionally bound to the subject and SANs the CSR must ask
 * for, every mint and revocation audited. What differs per protocol comes in
 * `scopes`: how to read an endpoint or a label, and whether it takes secrets.
 */
export function createEnrollmentSecretService(deps: {
  pool: DatabasePool;
  audit: AuditLog;
  clock: Clock;
  scopes: Readonly<Record<ScopeKind, EnrollmentSecretScopeRules>>;
}): EnrollmentSecretService {
  const { pool, audit, clock, scopes } = deps;

  function notFound(id: string): ChanceryError {
    return new ChanceryError("not_found", `no enrollment secret with id ${id}`);
  }

  function scopeNotFound(scope: EnrollmentSecretScope): ChanceryError {
    return new ChanceryError("not_found", `no ${scopes[scope.kind].noun} with id ${scope.id}`);
  }

  /** The scope's facts, read in `db` (locked there with `lock`); not_found when there is none. */
  async function facts(db: CommonQueryMethods, scope: EnrollmentSecretScope, lock: boolean): Promise<ScopeFacts> {
    const found = uuidPattern.test(scope.id) ? await scopes[scope.kind].read(db, scope.id, { lock }) : null;
    if (!found) throw scopeNotFound(scope);
    return found;
  }

  /** Why the secret of this row cannot be spent now, or null when it can (the binding aside). */
  function stateRefusal(row: EnrollmentSecretRow, now: Date): SecretRefusal | null {
    if (row.revoked_at !== null) return "revoked";
    if (row.used_at !== null) return "used";
    if (row.expires_at <= now.getTime()) return "expired";
    return null;
  }

  const service: EnrollmentSecretService = {
    async describe(scope) {
      const { name, caId } = await facts(pool, scope, false);
      return { name, caId };
    },

    scopeNotFound,

    async mint(input, by) {
      const boundSubject = normalizeBoundSubject(input.boundSubject);
      const boundSans = normalizeBoundSans(input.boundSans);
      const id = randomUUID();
      const secret = randomBytes(secretBytes).toString("hex");
      await pool.transaction(async (tx) => {
        // Under the scope's row lock: a SCEP endpoint leaving dynamic mode revokes the outstanding
        // secrets in its transaction, a label or endpoint is deleted with them, and a mint racing
        // either must not slip one in after.
        const scope = await facts(tx, input.scope, true);
        if (scope.mintRefusal !== null) throw new ChanceryError("failed_precondition", scope.mintRefusal);
        // 0 is "not set" over the admin API.
        const lifetimeSeconds = secretLifetimeWithin(
          "lifetime_seconds",
          input.lifetimeSeconds || scope.defaultLifetimeSeconds,
        );
        const now = clock.now();
        const expiresAt = new Date(now.getTime() + lifetimeSeconds * 1000);
        await insertEnrollmentSecret(tx, {
          id,
          scope: { column: scopeColumns[input.scope.kind], id: input.scope.id },
          secretHash: secretHash(secret),
          boundSubject,
          boundSans,
          createdBy: by.actor,
          createdAt: now,
          expiresAt,
        });
        await audit.appendInTransaction(tx, [
          {
            ...by,
            action: "enrollment_secret.create",
            target: `enrollment-secret:${id}`,
            // The secret's id only: the secret is the caller's to hand over, once.
            details: {
              scope: input.scope.kind,
              scopeId: input.scope.id,
              scopeName: scope.name,
              expiresAt: expiresAt.toISOString(),
              boundSubject,
              boundSans,
            },
          },
        ]);
      });
      return { secret, record: await service.get(id) };
    },

    async get(id) {
      const row = uuidPattern.test(id) ? await findEnrollmentSecret(pool, id) : null;
      if (!row) throw notFound(id);
      return toSecret(row);
    },

    async list(scope, page) {
      if (scope) await facts(pool, scope, false);
      const size = pageSizeWithin(page.pageSize, { default: defaultSecretPageSize, max: maxSecretPageSize });
      const after = page.pageToken ? decodePageToken(page.pageToken) : null;
      const key = scope ? { column: scopeColumns[scope.kind], id: scope.id } : null;
      // One row more than asked tells whether another page follows.
      const rows = await listEnrollmentSecrets(pool, key, after, size + 1);
      const { shown, nextPageToken } = keysetPage(rows, size, (last) =>
        encodePageToken({ createdAt: new Date(last.created_at), id: last.id }),
      );
      return { secrets: shown.map(toSecret), nextPageToken };
    },

    async revoke(id, by) {
      if (!uuidPattern.test(id)) throw notFound(id);
      await pool.transaction(async (tx) => {
        const row = await lockEnrollmentSecret(tx, id);
        if (!row) throw notFound(id);
        // Revoking twice changes nothing; a spent secret cannot be taken back (revoke the certificate instead).
        if (row.revoked_at !== null) return;
        if (row.used_at !== null)
          throw new ChanceryError("failed_precondition", `enrollment secret ${id} was already used (${row.used_by})`);
        await revokeEnrollmentSecret(tx, id, clock.now());
        const { kind, id: scopeId } = scopeOf(row);
        await audit.appendInTransaction(tx, [
          {
            ...by,
            action: "enrollment_secret.revoke",
            target: `enrollment-secret:${id}`,
            details: { scope: kind, scopeId },
          },
        ]);
      });
      return service.get(id);
    },

    async find(scope, secret) {
      if (!uuidPattern.test(scope.id) || !looksLikeEnrollmentSecret(secret)) return null;
      const row = await findEnrollmentSecretByHash(
        pool,
        { column: scopeColumns[scope.kind], id: scope.id },
        secretHash(secret),
      );
      return row ? toSecret(row) : null;
    },

    async spend(input) {
      if (input.usedBy.length === 0 || input.usedBy.length > maxUsedByLength)
        throw new ChanceryError("invalid_argument", `used_by must be 1 to ${maxUsedByLength} characters`);
      // A value that cannot be a secret of ours costs no query.
      if (!uuidPattern.test(input.scope.id) || !looksLikeEnrollmentSecret(input.secret))
        return { ok: false, reason: "unknown" };
      const key = { column: scopeColumns[input.scope.kind], id: input.scope.id };
      const row = await findEnrollmentSecretByHash(pool, key, secretHash(input.secret));
      if (!row) return { ok: false, reason: "unknown" };
      const refusal = stateRefusal(row, clock.now());
      if (refusal) return { ok: false, reason: refusal };
      // The binding never changes: checked before spending, a CSR that does not match leaves the secret unspent.
      if (row.bound_subject !== null && !subjectMatches(row.bound_subject, input.csrSubject))
        return { ok: false, reason: "binding_mismatch" };
      if (row.bound_sans !== null && !sansMatch(row.bound_sans, input.csrSans))
        return { ok: false, reason: "binding_mismatch" };
      // RFC 8894 §2.2 / RFC 7030 §3.2.3 secrets are single use here, across replicas: of two spends
      // racing, the UPDATE's row lock lets one through and shows the other the row spent.
      if (await spendEnrollmentSecret(pool, row.id, input.usedBy, clock.now())) return { ok: true, secretId: row.id };
      // Lost to another spend, or revoked (or expired) since it was read: say which, as it stands now.
      const current = await findEnrollmentSecret(pool, row.id);
      return { ok: false, reason: (current && stateRefusal(current, clock.now())) ?? "used" };
    },

    async unspend(id, usedBy) {
      await unspendEnrollmentSecret(pool, id, usedBy);
    },

    async settle(id, from, to, tx) {
      await settleEnrollmentSecret(tx ?? pool, id, from, to);
    },
  };
  return service;
}

function scopeOf(row: EnrollmentSecretRow): EnrollmentSecretScope {
  if (row.scep_endpoint_id !== null) return { kind: "scep_endpoint", id: row.scep_endpoint_id };
  // The table's CHECK: exactly one of the two is set.
  return { kind: "est_label", id: row.est_label_id! };
}

function toSecret(row: EnrollmentSecretRow): EnrollmentSecret {
  return {
    id: row.id,
    scope: scopeOf(row),
    boundSubject: row.bound_subject,
    boundSans: row.bound_sans,
    createdBy: row.created_by,
    createdAt: new Date(row.created_at),
    expiresAt: new Date(row.expires_at),
    usedAt: row.used_at === null ? null : new Date(row.used_at),
    usedBy: row.used_by,
    revokedAt: row.revoked_at === null ? null : new Date(row.revoked_at),
  };
}

// The position after the last secret of a page, base64url JSON: opaque to clients but not secret.
const pageCursor = z.object({ t: z.number().int().nonnegative(), i: z.string().regex(uuidPattern) }).strict();

function encodePageToken(after: { createdAt: Date; id: string }): string {
  return encodePageCursor({ t: after.createdAt.getTime(), i: after.id });
}

function decodePageToken(token: string): { createdAt: Date; id: string } {
  const cursor = decodePageCursor(token, pageCursor);
  return { createdAt: new Date(cursor.t), id: cursor.i };
}
