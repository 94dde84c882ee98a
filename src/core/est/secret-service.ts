import { createHash, randomBytes, randomUUID } from "node:crypto";
import type { DatabasePool } from "slonik";
import { z } from "zod";
import { lockEstLabel } from "../../store/est-label-store.ts";
import {
  type EstSecretRow,
  findEstSecret,
  findEstSecretByHash,
  insertEstSecret,
  listEstSecrets,
  lockEstSecret,
  revokeEstSecret,
  settleEstSecret,
  spendEstSecret,
  unspendEstSecret,
} from "../../store/est-secret-store.ts";
import type { AuditLog } from "../audit/audit-log.ts";
import type { Clock } from "../clock.ts";
import { ChanceryError } from "../errors.ts";
// The RFC 4514 / SAN binding rules are the ones SCEP challenges use: one notion of "the CSR asks for exactly this".
import { normalizeBoundSans, normalizeBoundSubject, sansMatch, subjectMatches } from "../issuance/name-binding.ts";
import { decodePageCursor, encodePageCursor, keysetPage, pageSizeWithin } from "../page-cursor.ts";
import type { EstEnrollmentSecret, EstLabelService, EstSecretService } from "./est-types.ts";
import { maxSecretLifetimeSeconds, minSecretLifetimeSeconds } from "./label-service.ts";

export const defaultSecretPageSize = 100;
export const maxSecretPageSize = 1000;
/**
 * 160 bits of CSPRNG output, lower-case hex behind a fixed prefix: the
 * prefix tells it from a personal access token in the same Basic password
 * field, and hex survives being typed into a router console.
 */
const secretBytes = 20;
export const estSecretPrefix = "chancery_est_";
const secretPattern = /^chancery_est_[0-9a-f]{40}$/;
const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function secretHash(secret: string): Buffer {
  return createHash("sha256").update(secret, "utf8").digest();
}

/** Whether a Basic password has the shape of an enrollment secret (no lookup). */
export function looksLikeEstSecret(value: string): boolean {
  return secretPattern.test(value);
}

/**
 * One-time enrollment secrets of EST labels (migrations/0019
 * est_enrollment_secrets): minted through the admin API, shown once and kept
 * as a SHA-256 hash, expiring, single use across replicas, optionally bound
 * to the subject and SANs the CSR must ask for. A device presents one as its
 * HTTP Basic password (RFC 7030 §3.2.3).
 */
export function createEstSecretService(deps: {
  pool: DatabasePool;
  audit: AuditLog;
  clock: Clock;
  labels: EstLabelService;
}): EstSecretService {
  const { pool, audit, clock, labels } = deps;

  function notFound(id: string): ChanceryError {
    return new ChanceryError("not_found", `no EST enrollment secret with id ${id}`);
  }

  const service: EstSecretService = {
    async mint(input, by) {
      const label = await labels.get(input.labelId);
      if (label.authMode === "certificate")
        throw new ChanceryError(
          "failed_precondition",
          `EST label "${label.name}" accepts client certificates only; enrollment secrets need HTTP Basic (auth_mode basic, either or both)`,
        );
      // 0 is "not set" over the admin API.
      const lifetimeSeconds = input.lifetimeSeconds || label.secretLifetimeSeconds;
      if (
        !Number.isInteger(lifetimeSeconds) ||
        lifetimeSeconds < minSecretLifetimeSeconds ||
        lifetimeSeconds > maxSecretLifetimeSeconds
      )
        throw new ChanceryError(
          "invalid_argument",
          `ttl: must be a whole number of seconds from ${minSecretLifetimeSeconds} to ${maxSecretLifetimeSeconds}`,
        );
      const boundSubject = normalizeBoundSubject(input.boundSubject);
      const boundSans = normalizeBoundSans(input.boundSans);
      const id = randomUUID();
      const secret = estSecretPrefix + randomBytes(secretBytes).toString("hex");
      await pool.transaction(async (tx) => {
        // Under the label's row lock, so a mint cannot slip in beside a delete of the label.
        const row = await lockEstLabel(tx, label.id);
        if (!row) throw new ChanceryError("not_found", `no EST label with id ${label.id}`);
        const now = clock.now();
        const expiresAt = new Date(now.getTime() + lifetimeSeconds * 1000);
        await insertEstSecret(tx, {
          id,
          labelId: label.id,
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
            action: "est.secret.create",
            target: `est-secret:${id}`,
            // The secret's id only: the secret is the caller's to hand over, once.
            details: {
              labelId: label.id,
              label: label.name,
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
      const row = uuidPattern.test(id) ? await findEstSecret(pool, id) : null;
      if (!row) throw notFound(id);
      return toSecret(row);
    },

    async list(labelId, page) {
      await labels.get(labelId);
      const size = pageSize(page.pageSize);
      const after = page.pageToken ? decodePageToken(page.pageToken) : null;
      // One row more than asked tells whether another page follows.
      const rows = await listEstSecrets(pool, labelId, after, size + 1);
      const { shown, nextPageToken } = keysetPage(rows, size, (last) =>
        encodePageToken({ createdAt: new Date(last.created_at), id: last.id }),
      );
      return { secrets: shown.map(toSecret), nextPageToken };
    },

    async revoke(id, by) {
      if (!uuidPattern.test(id)) throw notFound(id);
      await pool.transaction(async (tx) => {
        const row = await lockEstSecret(tx, id);
        if (!row) throw notFound(id);
        // Revoking twice changes nothing; a spent secret cannot be taken back (revoke the certificate instead).
        if (row.revoked_at !== null) return;
        if (row.used_at !== null)
          throw new ChanceryError(
            "failed_precondition",
            `EST enrollment secret ${id} was already used (${row.used_by})`,
          );
        await revokeEstSecret(tx, id, clock.now());
        await audit.appendInTransaction(tx, [
          { ...by, action: "est.secret.revoke", target: `est-secret:${id}`, details: { labelId: row.label_id } },
        ]);
      });
      return service.get(id);
    },

    async check(input) {
      const row = await service.find(input.labelId, input.secret);
      if (!row) return { ok: false, reason: "unknown" };
      if (row.revokedAt !== null) return { ok: false, reason: "revoked" };
      if (row.usedAt !== null) return { ok: false, reason: "used" };
      if (row.expiresAt.getTime() <= clock.now().getTime()) return { ok: false, reason: "expired" };
      if (row.boundSubject !== null && !subjectMatches(row.boundSubject, input.csrSubject))
        return { ok: false, reason: "binding_mismatch" };
      if (row.boundSans !== null && !sansMatch(row.boundSans, input.csrSans))
        return { ok: false, reason: "binding_mismatch" };
      return { ok: true, secretId: row.id };
    },

    async find(labelId, secret) {
      if (!uuidPattern.test(labelId) || !secretPattern.test(secret)) return null;
      const row = await findEstSecretByHash(pool, labelId, secretHash(secret));
      return row ? toSecret(row) : null;
    },

    async spend(id, usedBy) {
      return spendEstSecret(pool, id, usedBy, clock.now());
    },

    async unspend(id, usedBy) {
      await unspendEstSecret(pool, id, usedBy);
    },

    async settle(id, from, to, tx) {
      await settleEstSecret(tx ?? pool, id, from, to);
    },
  };
  return service;
}

function toSecret(row: EstSecretRow): EstEnrollmentSecret {
  return {
    id: row.id,
    labelId: row.label_id,
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

function pageSize(value: number | undefined): number {
  return pageSizeWithin(value, { default: defaultSecretPageSize, max: maxSecretPageSize });
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
