import { createHash, randomBytes, randomUUID } from "node:crypto";
import type { DatabasePool } from "slonik";
import { z } from "zod";
import {
  findScepChallenge,
  insertScepChallenge,
  listScepChallenges,
  lockScepChallenge,
  lockScepChallengeByHash,
  revokeScepChallenge,
  type ScepChallengeRow,
  spendScepChallenge,
} from "../../store/scep-challenge-store.ts";
import { lockScepEndpoint } from "../../store/scep-endpoint-store.ts";
import type { AuditLog } from "../audit/audit-log.ts";
import type { Clock } from "../clock.ts";
import { ChanceryError } from "../errors.ts";
import { normalizeBoundSans, normalizeBoundSubject, sansMatch, subjectMatches } from "../issuance/name-binding.ts";
import { decodePageCursor, encodePageCursor, keysetPage, pageSizeWithin } from "../page-cursor.ts";
import { maxChallengeLifetimeSeconds, minChallengeLifetimeSeconds } from "./endpoint-service.ts";
import type { ScepChallenge, ScepChallengeService, ScepEndpointService } from "./scep-types.ts";

export const defaultChallengePageSize = 100;
export const maxChallengePageSize = 1000;
/**
 * Bytes of CSPRNG output in a challenge (160 bits), written as lower-case
 * hex: challengePassword is often a PrintableString (RFC 2985 §5.4.1), which
 * has no "_", and people type these into router consoles.
 */
const secretBytes = 20;
/** PKCS#9 ub-challengePassword is 255; anything longer cannot be one of ours. */
const maxChallengeLength = 255;
const maxTransactionIdLength = 256;
const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function challengeHash(challenge: string): Buffer {
  return createHash("sha256").update(challenge, "utf8").digest();
}

/**
 * One-time challenge passwords of dynamic SCEP endpoints (migrations/0018
 * scep_challenges): minted through the admin API, shown once and kept as a
 * SHA-256 hash, expiring, single use across replicas, optionally bound to
 * the subject and SANs the CSR must ask for.
 */
export function createScepChallengeService(deps: {
  pool: DatabasePool;
  audit: AuditLog;
  clock: Clock;
  endpoints: ScepEndpointService;
}): ScepChallengeService {
  const { pool, audit, clock, endpoints } = deps;

  function notFound(id: string): ChanceryError {
    return new ChanceryError("not_found", `no SCEP challenge with id ${id}`);
  }

  async function get(id: string): Promise<ScepChallenge> {
    const row = uuidPattern.test(id) ? await findScepChallenge(pool, id) : null;
    if (!row) throw notFound(id);
    return toChallenge(row);
  }

  const service: ScepChallengeService = {
    async mint(input, by) {
      const endpoint = await endpoints.get(input.endpointId);
      if (endpoint.challengeMode !== "dynamic")
        throw new ChanceryError(
          "failed_precondition",
          `SCEP endpoint "${endpoint.name}" is in ${endpoint.challengeMode} mode; one-time challenges need dynamic mode`,
        );
      // 0 is "not set" over the admin API.
      const lifetimeSeconds = input.lifetimeSeconds || endpoint.challengeLifetimeSeconds;
      if (
        !Number.isInteger(lifetimeSeconds) ||
        lifetimeSeconds < minChallengeLifetimeSeconds ||
        lifetimeSeconds > maxChallengeLifetimeSeconds
      )
        throw new ChanceryError(
          "invalid_argument",
          `lifetime_seconds: must be a whole number from ${minChallengeLifetimeSeconds} to ${maxChallengeLifetimeSeconds}`,
        );
      const boundSubject = normalizeBoundSubject(input.boundSubject);
      const boundSans = normalizeBoundSans(input.boundSans);

      const id = randomUUID();
      const challenge = randomBytes(secretBytes).toString("hex");
      await pool.transaction(async (tx) => {
        // Under the endpoint's row lock: an update leaving dynamic mode revokes the outstanding
        // challenges in its transaction, and a mint racing it must not slip one in after.
        const row = await lockScepEndpoint(tx, endpoint.id);
        if (!row) throw new ChanceryError("not_found", `no SCEP endpoint with id ${endpoint.id}`);
        if (row.challenge_mode !== "dynamic")
          throw new ChanceryError(
            "failed_precondition",
            `SCEP endpoint "${row.name}" is in ${row.challenge_mode} mode; one-time challenges need dynamic mode`,
          );
        const now = clock.now();
        const expiresAt = new Date(now.getTime() + lifetimeSeconds * 1000);
        await insertScepChallenge(tx, {
          id,
          endpointId: endpoint.id,
          challengeHash: challengeHash(challenge),
          boundSubject,
          boundSans,
          createdBy: by.actor,
          createdAt: now,
          expiresAt,
        });
        await audit.appendInTransaction(tx, [
          {
            ...by,
            action: "scep.challenge.create",
            target: `scep-challenge:${id}`,
            // The challenge id only: the secret is the caller's to hand over, once.
            details: {
              endpointId: endpoint.id,
              endpoint: endpoint.name,
              expiresAt: expiresAt.toISOString(),
              boundSubject,
              boundSans,
            },
          },
        ]);
      });
      return { challenge, record: await get(id) };
    },

    async list(endpointId, page) {
      await endpoints.get(endpointId);
      const size = pageSize(page.pageSize);
      const after = page.pageToken ? decodePageToken(page.pageToken) : null;
      // One row more than asked tells whether another page follows.
      const rows = await listScepChallenges(pool, endpointId, after, size + 1);
      const { shown, nextPageToken } = keysetPage(rows, size, (last) =>
        encodePageToken({ createdAt: new Date(last.created_at), id: last.id }),
      );
      return { challenges: shown.map(toChallenge), nextPageToken };
    },

    async revoke(endpointId, id, by) {
      if (!uuidPattern.test(id)) throw notFound(id);
      await pool.transaction(async (tx) => {
        const row = await lockScepChallenge(tx, id);
        // Another endpoint's challenge reads as unknown: the caller's right comes from the endpoint named.
        if (!row || row.endpoint_id !== endpointId) throw notFound(id);
        // Revoking twice changes nothing; a spent challenge cannot be taken back (revoke the certificate instead).
        if (row.revoked_at !== null) return;
        if (row.used_at !== null)
          throw new ChanceryError(
            "failed_precondition",
            `SCEP challenge ${id} was already used by transaction ${row.used_transaction_id}`,
          );
        await revokeScepChallenge(tx, id, clock.now());
        await audit.appendInTransaction(tx, [
          {
            ...by,
            action: "scep.challenge.revoke",
            target: `scep-challenge:${id}`,
            details: { endpointId: row.endpoint_id },
          },
        ]);
      });
      return get(id);
    },

    async redeem(input) {
      if (input.transactionId.length === 0 || input.transactionId.length > maxTransactionIdLength)
        throw new ChanceryError("invalid_argument", `transactionID must be 1 to ${maxTransactionIdLength} characters`);
      if (
        !uuidPattern.test(input.endpointId) ||
        input.challenge.length === 0 ||
        input.challenge.length > maxChallengeLength
      )
        return { ok: false, reason: "unknown" };
      const hash = challengeHash(input.challenge);
      return pool.transaction(async (tx) => {
        // RFC 8894 §2.2 challenge passwords are single use here. The row lock
        // makes a racing redeem of the same secret wait, then read it spent;
        // it also lets the binding be checked before spending, so a CSR that
        // does not match leaves the challenge for the right one.
        const row = await lockScepChallengeByHash(tx, input.endpointId, hash);
        if (!row) return { ok: false, reason: "unknown" } as const;
        const now = clock.now();
        if (row.revoked_at !== null) return { ok: false, reason: "revoked" } as const;
        if (row.used_at !== null) return { ok: false, reason: "used" } as const;
        if (row.expires_at <= now.getTime()) return { ok: false, reason: "expired" } as const;
        if (row.bound_subject !== null && !subjectMatches(row.bound_subject, input.csrSubject))
          return { ok: false, reason: "binding_mismatch" } as const;
        if (row.bound_sans !== null && !sansMatch(row.bound_sans, input.csrSans))
          return { ok: false, reason: "binding_mismatch" } as const;
        if (!(await spendScepChallenge(tx, row.id, input.transactionId, now)))
          return { ok: false, reason: "used" } as const;
        return { ok: true, challengeId: row.id } as const;
      });
    },
  };
  return service;
}

function toChallenge(row: ScepChallengeRow): ScepChallenge {
  return {
    id: row.id,
    endpointId: row.endpoint_id,
    boundSubject: row.bound_subject,
    boundSans: row.bound_sans,
    createdBy: row.created_by,
    createdAt: new Date(row.created_at),
    expiresAt: new Date(row.expires_at),
    usedAt: row.used_at === null ? null : new Date(row.used_at),
    usedTransactionId: row.used_transaction_id,
    revokedAt: row.revoked_at === null ? null : new Date(row.revoked_at),
  };
}

function pageSize(value: number | undefined): number {
  return pageSizeWithin(value, { default: defaultChallengePageSize, max: maxChallengePageSize });
}

// The position after the last challenge of a page, base64url JSON: opaque to clients but not secret.
const pageCursor = z.object({ t: z.number().int().nonnegative(), i: z.string().regex(uuidPattern) }).strict();

function encodePageToken(after: { createdAt: Date; id: string }): string {
  return encodePageCursor({ t: after.createdAt.getTime(), i: after.id });
}

function decodePageToken(token: string): { createdAt: Date; id: string } {
  const cursor = decodePageCursor(token, pageCursor);
  return { createdAt: new Date(cursor.t), id: cursor.i };
}
