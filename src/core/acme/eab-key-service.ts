import type { CommonQueryMethods, DatabasePool } from "slonik";
import { z } from "zod";
import { findAcmeDirectoryById } from "../../store/acme-directory-store.ts";
import {
  type AcmeEabKeyRow,
  bindAcmeEabKey,
  findAcmeEabKey,
  findBindableSealedHmacKey,
  insertAcmeEabKey,
  listAcmeEabKeys,
  lockAcmeEabKey,
  revokeAcmeEabKey,
} from "../../store/acme-eab-key-store.ts";
import type { Actor } from "../actor.ts";
import type { AuditLog } from "../audit/audit-log.ts";
import type { KeyEncryption } from "../ca/key-encryption.ts";
import type { Clock } from "../clock.ts";
import { ChanceryError } from "../errors.ts";
import { decodePageCursor, encodePageCursor, keysetPage, pageSizeWithin } from "../page-cursor.ts";
import { commandLineSafeBytes } from "./command-line-safe-bytes.ts";

/** An external account binding key as listed: everything but the HMAC key itself. */
export interface AcmeEabKey {
  readonly keyId: string;
  readonly directoryId: string;
  readonly label: string;
  /** The audit actor who made it, e.g. "user:<id>". */
  readonly createdBy: string;
  readonly createdAt: Date;
  readonly expiresAt: Date | null;
  /** The account it bound (it is single use), once it has. */
  readonly accountId: string | null;
  readonly boundAt: Date | null;
  readonly revokedAt: Date | null;
}

export interface NewAcmeEabKey {
  /** Free text for the admin (who or what it is for), at most 200 characters. */
  readonly label?: string | undefined;
  /** Refused for binding from then on; must be in the future. Absent: never expires. */
  readonly expiresAt?: Date | null | undefined;
}

export interface AcmeEabKeyPage {
  readonly keys: AcmeEabKey[];
  /** Opaque; empty on the last page. */
  readonly nextPageToken: string;
}

export interface AcmeEabKeyService {
  /**
   * A new key for the directory. `hmacKey` (32 random bytes, base64url) is
   * returned this once: the gateway keeps it only sealed under the KEK.
   */
  create(
    directoryId: string,
    input: NewAcmeEabKey,
    by: Actor,
  ): Promise<{ key: AcmeEabKey; keyId: string; hmacKey: string }>;
  /** not_found for a key of another directory, as for an unknown one. */
  get(directoryId: string, keyId: string): Promise<AcmeEabKey>;
  /** The directory's keys, oldest first (never the HMAC keys). */
  list(
    directoryId: string,
    options?: { pageSize?: number | undefined; pageToken?: string | undefined },
  ): Promise<AcmeEabKeyPage>;
  /**
   * The key can no longer bind an account. Revoking a revoked key changes
   * nothing; a key that already bound an account is failed_precondition
   * (revoking it would not touch the account).
   */
  revoke(directoryId: string, keyId: string, by: Actor): Promise<AcmeEabKey>;
  /**
   * RFC 8555 §7.3.4: the HMAC key to check a newAccount's externalAccountBinding
   * with, or null when the key is unknown, belongs to another directory, is
   * revoked, expired, or already bound. The caller still calls bind(), which
   * decides a race between two accounts.
   */
  hmacKeyForBinding(directoryId: string, keyId: string): Promise<Buffer | null>;
  /**
   * Marks the key as used by `accountId` (inside the account-creating
   * transaction, after the account row is written); false when it was
   * bound, revoked or had expired meanwhile, and the caller must then roll
   * back. Audited by the account creation, not here.
   */
  bind(db: CommonQueryMethods, keyId: string, accountId: string): Promise<boolean>;
}

const keyIdPattern = /^[A-Za-z0-9_-]{16,64}$/;
const maxLabelLength = 200;
export const defaultEabPageSize = 100;
export const maxEabPageSize = 1000;

/** The associated data an EAB key is sealed under, so a sealed key copied to another row does not open. */
export function eabSealBinding(keyId: string): string {
  return `chancery/acme-eab/${keyId}`;
}

/**
 * RFC 8555 §7.3.4 external account binding keys (migration 0016
 * acme_eab_keys): made by admins, shown once, sealed at rest, single use.
 */
export function createAcmeEabKeyService(deps: {
  pool: DatabasePool;
  audit: AuditLog;
  keyEncryption: KeyEncryption;
  clock: Clock;
}): AcmeEabKeyService {
  const { pool, audit, keyEncryption, clock } = deps;

  async function requireDirectory(db: CommonQueryMethods, directoryId: string): Promise<void> {
    if (!isUuid(directoryId) || !(await findAcmeDirectoryById(db, directoryId)))
      throw new ChanceryError("not_found", `no ACME directory with id ${directoryId}`);
  }

  function notFound(keyId: string): ChanceryError {
    return new ChanceryError("not_found", `no external account key "${keyId}" in this directory`);
  }

  const service: AcmeEabKeyService = {
    async create(directoryId, input, by) {
      const label = input.label ?? "";
      if (label.length > maxLabelLength || /[\p{Cc}]/u.test(label))
        throw new ChanceryError(
          "invalid_argument",
          `label: at most ${maxLabelLength} characters, without control characters`,
        );
      const now = clock.now();
      const expiresAt = input.expiresAt ?? null;
      if (expiresAt && expiresAt.getTime() <= now.getTime())
        throw new ChanceryError("invalid_argument", "expire_time: must be in the future");
      // 128 bits: the key id is a public name, but an unguessable one costs nothing.
      const keyId = commandLineSafeBytes(16).toString("base64url");
      const hmacKey = commandLineSafeBytes(32);
      try {
        await pool.transaction(async (tx) => {
          await requireDirectory(tx, directoryId);
          await insertAcmeEabKey(tx, {
            keyId,
            directoryId,
            label,
            sealedHmacKey: keyEncryption.seal(hmacKey, eabSealBinding(keyId)),
            createdBy: by.actor,
            now,
            expiresAt,
          });
          await audit.appendInTransaction(tx, [
            {
              ...by,
              action: "acme.eab.create",
              target: `acme-eab:${keyId}`,
              details: { directoryId, label, expiresAt: expiresAt?.toISOString() ?? null },
            },
          ]);
        });
        return { key: await service.get(directoryId, keyId), keyId, hmacKey: hmacKey.toString("base64url") };
      } finally {
        hmacKey.fill(0);
      }
    },

    async get(directoryId, keyId) {
      const row = keyIdPattern.test(keyId) ? await findAcmeEabKey(pool, keyId) : null;
      if (!row || row.directory_id !== directoryId) throw notFound(keyId);
      return toKey(row);
    },

    async list(directoryId, options = {}) {
      await requireDirectory(pool, directoryId);
      const size = pageSize(options.pageSize);
      const after = options.pageToken ? decodePageToken(options.pageToken) : null;
      // One row more than asked tells whether another page follows.
      const rows = await listAcmeEabKeys(pool, directoryId, after, size + 1);
      const { shown, nextPageToken } = keysetPage(rows, size, (last) =>
        encodePageToken({ createdAt: new Date(last.created_at), keyId: last.key_id }),
      );
      return { keys: shown.map(toKey), nextPageToken };
    },

    async revoke(directoryId, keyId, by) {
      if (!keyIdPattern.test(keyId)) throw notFound(keyId);
      await pool.transaction(async (tx) => {
        const row = await lockAcmeEabKey(tx, keyId);
        if (!row || row.directory_id !== directoryId) throw notFound(keyId);
        if (row.revoked_at !== null) return;
        if (row.account_id !== null)
          throw new ChanceryError(
            "failed_precondition",
            `external account key "${keyId}" already bound account ${row.account_id}; deactivate that account instead`,
          );
        await revokeAcmeEabKey(tx, keyId, clock.now());
        await audit.appendInTransaction(tx, [
          { ...by, action: "acme.eab.revoke", target: `acme-eab:${keyId}`, details: { directoryId, label: row.label } },
        ]);
      });
      return service.get(directoryId, keyId);
    },

    async hmacKeyForBinding(directoryId, keyId) {
      if (!keyIdPattern.test(keyId) || !isUuid(directoryId)) return null;
      const sealed = await findBindableSealedHmacKey(pool, directoryId, keyId, clock.now());
      // A blob that does not open is tampering or a KEK mix-up: an error, never "no such key".
      return sealed ? keyEncryption.open(sealed, eabSealBinding(keyId)) : null;
    },

    async bind(db, keyId, accountId) {
      if (!keyIdPattern.test(keyId)) return false;
      return bindAcmeEabKey(db, keyId, accountId, clock.now());
    },
  };
  return service;
}

function toKey(row: AcmeEabKeyRow): AcmeEabKey {
  return {
    keyId: row.key_id,
    directoryId: row.directory_id,
    label: row.label,
    createdBy: row.created_by,
    createdAt: new Date(row.created_at),
    expiresAt: row.expires_at === null ? null : new Date(row.expires_at),
    accountId: row.account_id,
    boundAt: row.bound_at === null ? null : new Date(row.bound_at),
    revokedAt: row.revoked_at === null ? null : new Date(row.revoked_at),
  };
}

function pageSize(value: number | undefined): number {
  return pageSizeWithin(value, { default: defaultEabPageSize, max: maxEabPageSize });
}

// The position after the last key of a page, base64url JSON: opaque to clients but not secret.
const pageCursor = z.object({ t: z.number().int().nonnegative(), k: z.string().regex(keyIdPattern) }).strict();

function encodePageToken(after: { createdAt: Date; keyId: string }): string {
  return encodePageCursor({ t: after.createdAt.getTime(), k: after.keyId });
}

function decodePageToken(token: string): { createdAt: Date; keyId: string } {
  const cursor = decodePageCursor(token, pageCursor);
  return { createdAt: new Date(cursor.t), keyId: cursor.k };
}

function isUuid(value: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value);
}
