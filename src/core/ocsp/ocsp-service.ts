import { createHash } from "node:crypto";
import type { Logger } from "pino";
import {
  BackendTerminatedError,
  BackendTerminatedUnexpectedlyError,
  ConnectionError,
  type DatabasePool,
  IdleTransactionTimeoutError,
  StatementCancelledError,
  StatementTimeoutError,
} from "slonik";
import type { Metrics } from "../../ops/metrics.ts";
import { notifyRevocation } from "../../store/ocsp-revocation-channel.ts";
import { findCertificateStatus } from "../../store/ocsp-status-store.ts";
import type { CaService } from "../ca/ca-service.ts";
import type { Clock } from "../clock.ts";
import { ChanceryError, isChanceryError } from "../errors.ts";
import { revocationReasonName } from "../revocation/revocation-reason.ts";
import type { CertId } from "./cert-id.ts";
import { createIssuerIndex, type IssuerIndex } from "./issuer-hashes.ts";
import { parseOcspRequest } from "./ocsp-request.ts";
import type { OcspRequestProblem } from "./ocsp-request-problem.ts";
import type { OcspCertStatus, OcspSingleResponse } from "./ocsp-response.ts";
import { type CachedOcspResponse, createOcspResponseCache } from "./ocsp-response-cache.ts";
import { type OcspErrorStatus, ocspErrorResponse } from "./ocsp-response-status.ts";
import type { LoadedResponder, OcspResponderService } from "./responder-service.ts";

/** What the front end sends back: the DER body and what its HTTP cache headers are made of. */
export type OcspAnswer =
  | {
      readonly status: "successful";
      readonly der: Uint8Array;
      readonly thisUpdate: Date;
      readonly nextUpdate: Date;
      /**
       * True for a pre-signed answer (no nonce, one CertID): the same bytes
       * go to everyone asking until it is re-signed, so HTTP caches may keep
       * it (RFC 9919 §5). False for a nonce answer, made for one client.
       */
      readonly cacheable: boolean;
      /** Lower-case hex SHA-256 of `der` (the ETag), for cacheable answers. */
      readonly sha256?: string | undefined;
    }
  | {
      /** An unsigned error response (RFC 6960 §4.2.1); never cached by HTTP caches. */
      readonly status: OcspErrorStatus;
      readonly der: Uint8Array;
      readonly cacheable: false;
      /** Why a request was refused (logs and metrics only). */
      readonly problem?: OcspRequestProblem | undefined;
    };

export interface OcspServiceOptions {
  /** nextUpdate - thisUpdate of each response (default 1 day). */
  validitySeconds?: number | undefined;
  /** thisUpdate is backdated by this much, for relying parties with slow clocks (default 60 s). */
  backdateSeconds?: number | undefined;
  /** Re-sign a cached response once this fraction of its window has passed (default 0.5). */
  refreshFraction?: number | undefined;
  /** Most pre-signed responses kept in memory (default 50 000, about 25 MB). */
  cacheEntries?: number | undefined;
  /**
   * How long a cached answer is served without asking Postgres again
   * (default 60 s): the bound on staleness when a revocation notification
   * from another replica is lost. A re-check that finds the same status
   * keeps the signed bytes.
   */
  maxCacheAgeSeconds?: number | undefined;
}

/** One replica's cache figures for one CA (the admin API's GetOcspResponder). */
export interface OcspCaCacheState {
  /** Pre-signed responses of the CA held in memory now. */
  readonly entries: number;
  /** Answers served from memory without asking Postgres, since this process started. */
  readonly hits: number;
  /** Pre-signed-path answers that had to read the status (then re-used or re-signed), since start. */
  readonly misses: number;
  /** Oldest thisUpdate among the CA's entries; null when it has none. */
  readonly oldestThisUpdate: Date | null;
}

/** What a response said, for metrics: a cert status, or why there was no signed answer. */
type OcspOutcome = "good" | "revoked" | "unknown" | "unauthorized" | "malformed" | "error";
/** Where a response came from: memory, a status re-check keeping the signed bytes, a new signature, or none. */
type OcspSource = "cache" | "revalidated" | "signed" | "nonce" | "none";

export interface OcspService {
  /**
   * Answers one DER OCSPRequest (RFC 6960, RFC 9919 profile): good, revoked
   * (time, reason) or unknown per CertID; unauthorized when no CertID names
   * a CA we serve; malformedRequest for anything unparsable. Throws
   * ChanceryError unavailable when Postgres cannot be reached and internal
   * for anything else; the front end answers those with tryLater and
   * internalError.
   */
  respond(requestDer: Uint8Array): Promise<OcspAnswer>;
  /**
   * A certificate of the CA was revoked here: drop that certificate's
   * cached answers now and tell the other replicas (NOTIFY "caId:serialHex").
   */
  revoked(caId: string, serialHex: string): Promise<void>;
  /**
   * A revocation notification (from any replica): drop the cached answers
   * of that certificate, or of the whole CA when no serial is given (a
   * payload from an older replica, or one that cannot name the serial).
   */
  invalidate(caId: string, serialHex?: string | undefined): void;
  /** Notifications may have been missed (the listening connection was lost): drop everything. */
  invalidateAll(): void;
  /** This replica's whole cache. */
  cacheState(): { entries: number; capacity: number };
  /** This replica's cache figures for one CA. */
  caCacheState(caId: string): OcspCaCacheState;
}

interface ServedIssuer {
  readonly caId: string;
}

interface LoadedIndex {
  readonly lookup: IssuerIndex<ServedIssuer>["lookup"];
  readonly loadedAtMs: number;
}

interface Resolved {
  readonly caId: string;
  readonly status: OcspCertStatus;
  /** Identifies the status for cache re-checks ("good", "revoked:<ms>:<reason>", "unknown"). */
  readonly statusKey: string;
}

const second = 1000;
const dayMs = 86_400_000;
/** A miss for an issuer reloads the CA list at most this often (new CAs show up quickly; floods cost nothing). */
const indexMissReloadMs = 5 * second;
/** The CA list is reloaded this often regardless (a CA made on another replica). */
const indexMaxAgeMs = 60 * second;

export function createOcspService(deps: {
  pool: DatabasePool;
  cas: Pick<CaService, "list">;
  responders: OcspResponderService;
  clock: Clock;
  logger: Logger;
  metrics?: Metrics | undefined;
  options?: OcspServiceOptions | undefined;
}): OcspService {
  const { pool, clock, logger, responders } = deps;
  const validityMs = (deps.options?.validitySeconds ?? 86_400) * second;
  const backdateMs = (deps.options?.backdateSeconds ?? 60) * second;
  const refreshFraction = deps.options?.refreshFraction ?? 0.5;
  const maxCacheAgeMs = (deps.options?.maxCacheAgeSeconds ?? 60) * second;
  if (!Number.isInteger(validityMs) || validityMs < 60 * second || validityMs > 7 * dayMs)
    throw new ChanceryError("invalid_argument", "OCSP response validity must be 60 s to 7 days");
  // A response must stay valid for its whole window: its responder must not expire first.
  if (validityMs + backdateMs > responders.renewBeforeMs)
    throw new ChanceryError(
      "invalid_argument",
      "OCSP response validity must be shorter than the responder certificate's renewal margin",
    );
  if (!(refreshFraction > 0 && refreshFraction < 1))
    throw new ChanceryError("invalid_argument", "OCSP refresh fraction must be between 0 and 1");
  if (!(maxCacheAgeMs > 0)) throw new ChanceryError("invalid_argument", "OCSP max cache age must be positive");
  const cache = createOcspResponseCache(deps.options?.cacheEntries ?? 50_000);

  // Bumped for the CA by every invalidation, per-serial ones included: an
  // answer whose status was read before a revocation's invalidation must not
  // enter the cache after it. Per CA rather than per serial so the map stays
  // as small as the CA list; the cost is that an answer for another
  // certificate of the CA, signed during the revocation, is not cached once.
  const generations = new Map<string, number>();
  let globalGeneration = 0;
  // Over every CA the CertID's issuer matches: the certificate's CA is only
  // known after the status read, and it must be checked as of before it.
  const generationOf = (caIds: readonly string[]) =>
    `${globalGeneration}:${caIds.map((caId) => generations.get(caId) ?? 0).join(",")}`;

  const stats = new Map<string, { hits: number; misses: number }>();
  const statsOf = (caId: string) => {
    let entry = stats.get(caId);
    if (!entry) {
      entry = { hits: 0, misses: 0 };
      stats.set(caId, entry);
    }
    return entry;
  };
  const count = (outcome: OcspOutcome, source: OcspSource) => deps.metrics?.ocspResponses.inc({ outcome, source });

  let index: LoadedIndex | null = null;
  let indexLoading: Promise<LoadedIndex> | null = null;
  const signing = new Map<string, Promise<OcspAnswer>>();

  function loadIndex(): Promise<LoadedIndex> {
    if (indexLoading) return indexLoading;
    indexLoading = (async () => {
      const now = clock.now();
      const served = (await deps.cas.list()).filter(
        (ca) =>
          ca.certificateDer !== null &&
          // A disabled CA issues nothing new, but what it issued is still out there and checked.
          (ca.status === "active" || ca.status === "disabled") &&
          (ca.notAfter === null || ca.notAfter.getTime() > now.getTime()),
      );
      const built = createIssuerIndex(
        served.map((ca) => ({ certificateDer: ca.certificateDer!, value: { caId: ca.id } })),
      );
      const loaded: LoadedIndex = { lookup: built.lookup, loadedAtMs: clock.now().getTime() };
      index = loaded;
      return loaded;
    })().finally(() => {
      indexLoading = null;
    });
    return indexLoading;
  }

  async function issuersFor(certId: CertId): Promise<readonly ServedIssuer[]> {
    const nowMs = clock.now().getTime();
    let current = index && nowMs - index.loadedAtMs < indexMaxAgeMs ? index : await loadIndex();
    let found = current.lookup(certId);
    if (found.length === 0 && nowMs - current.loadedAtMs >= indexMissReloadMs) {
      current = await loadIndex();
      found = current.lookup(certId);
    }
    return found;
  }

  async function resolve(certId: CertId, issuers: readonly ServedIssuer[]): Promise<Resolved> {
    const first = issuers[0]!.caId;
    // Our serials are positive; a negative INTEGER is some other certificate whatever its octets say.
    if ((certId.serialNumber[0] ?? 0) & 0x80) return { caId: first, status: { type: "unknown" }, statusKey: "unknown" };
    const row = await findCertificateStatus(
      pool,
      issuers.map((issuer) => issuer.caId),
      certId.serialHex,
    );
    if (!row) return { caId: first, status: { type: "unknown" }, statusKey: "unknown" };
    if (row.status === "valid") return { caId: row.ca_id, status: { type: "good" }, statusKey: "good" };
    const revocationTime = new Date(row.revoked_at ?? 0);
    const reason = revocationReasonName(row.revocation_reason ?? 0);
    return {
      caId: row.ca_id,
      status: { type: "revoked", revocationTime, reason },
      statusKey: `revoked:${revocationTime.getTime()}:${row.revocation_reason ?? 0}`,
    };
  }

  function window(responder: LoadedResponder, now: Date): { thisUpdate: Date; nextUpdate: Date } {
    const thisUpdate = new Date(Math.floor((now.getTime() - backdateMs) / second) * second);
    const nextUpdate = new Date(Math.min(thisUpdate.getTime() + validityMs, responder.notAfter.getTime()));
    return { thisUpdate, nextUpdate };
  }

  function cachedAnswer(entry: CachedOcspResponse): OcspAnswer {
    return {
      status: "successful",
      der: entry.der,
      thisUpdate: entry.thisUpdate,
      nextUpdate: entry.nextUpdate,
      cacheable: true,
      sha256: entry.sha256,
    };
  }

  /** One CertID, no nonce: the pre-signed path. */
  async function respondCached(certId: CertId): Promise<OcspAnswer> {
    const key = Buffer.from(certId.der).toString("base64");
    const nowMs = clock.now().getTime();
    const entry = cache.get(key);
    if (entry && nowMs < entry.refreshAtMs && nowMs - entry.checkedAtMs < maxCacheAgeMs) {
      statsOf(entry.caId).hits++;
      count(outcomeOf(entry.statusKey), "cache");
      return cachedAnswer(entry);
    }
    // One signature per CertID at a time: a burst of requests for the same certificate waits for it.
    const pending = signing.get(key);
    // Joiners share the first request's answer, and its one count in the metrics and stats.
    if (pending) return pending;
    const work = (async (): Promise<OcspAnswer> => {
      const issuers = await issuersFor(certId);
      if (issuers.length === 0) {
        count("unauthorized", "none");
        return refusal("unauthorized");
      }
      const caIds = issuers.map((issuer) => issuer.caId);
      const generation = generationOf(caIds);
      const resolved = await resolve(certId, issuers);
      statsOf(resolved.caId).misses++;
      const now = clock.now();
      // Same status and still inside its signing window: the bytes stand, only the check is renewed.
      if (entry && entry.statusKey === resolved.statusKey && now.getTime() < entry.refreshAtMs) {
        count(outcomeOf(resolved.statusKey), "revalidated");
        if (generation === generationOf(caIds)) {
          entry.checkedAtMs = now.getTime();
          cache.set(key, entry);
        }
        return cachedAnswer(entry);
      }
      const responder = await responders.current(resolved.caId);
      const { thisUpdate, nextUpdate } = window(responder, now);
      const der = await responder.builder.build({
        producedAt: now,
        responses: [{ certId, status: resolved.status, thisUpdate, nextUpdate }],
      });
      const fresh: CachedOcspResponse = {
        caId: resolved.caId,
        serialHex: certId.serialHex,
        der,
        thisUpdate,
        nextUpdate,
        sha256: createHash("sha256").update(der).digest("hex"),
        refreshAtMs: thisUpdate.getTime() + (nextUpdate.getTime() - thisUpdate.getTime()) * refreshFraction,
        statusKey: resolved.statusKey,
        checkedAtMs: now.getTime(),
      };
      if (generation === generationOf(caIds)) cache.set(key, fresh);
      else cache.delete(key);
      count(outcomeOf(resolved.statusKey), "signed");
      return cachedAnswer(fresh);
    })().finally(() => signing.delete(key));
    signing.set(key, work);
    return work;
  }

  /** A nonce or several CertIDs: signed now, for this request only. */
  async function respondFresh(certIds: readonly CertId[], nonce: Uint8Array | undefined): Promise<OcspAnswer> {
    const matches = await Promise.all(certIds.map((certId) => issuersFor(certId)));
    if (matches.every((issuers) => issuers.length === 0)) {
      count("unauthorized", "none");
      return refusal("unauthorized");
    }
    const resolved = await Promise.all(
      certIds.map((certId, i) => (matches[i]!.length === 0 ? null : resolve(certId, matches[i]!))),
    );
    // One signature covers the whole response, so one CA's responder answers
    // it: the first CertID we serve picks it. Certificates of any other
    // issuer in the same request are "unknown" to that responder (RFC 6960
    // §2.2), since it cannot speak for another CA.
    const responderCa = resolved.find((r) => r !== null)!.caId;
    const responder = await responders.current(responderCa);
    const now = clock.now();
    const { thisUpdate, nextUpdate } = window(responder, now);
    const responses: OcspSingleResponse[] = certIds.map((certId, i) => {
      const r = resolved[i];
      const status: OcspCertStatus = r && r.caId === responderCa ? r.status : { type: "unknown" };
      return { certId, status, thisUpdate, nextUpdate };
    });
    const der = await responder.builder.build({ producedAt: now, responses, nonce });
    // A multi-CertID answer is counted once, by its first answered certificate.
    count(outcomeOf(resolved.find((r) => r !== null)!.statusKey), "nonce");
    return { status: "successful", der, thisUpdate, nextUpdate, cacheable: false };
  }

  function invalidate(caId: string, serialHex?: string | undefined): void {
    // Bumped before dropping: an answer being signed now must not come back.
    generations.set(caId, (generations.get(caId) ?? 0) + 1);
    const dropped = serialHex === undefined ? cache.clearCa(caId) : cache.clearSerial(caId, serialHex);
    logger.debug({ caId, serialHex, dropped }, "OCSP answers invalidated after a revocation");
  }

  return {
    async respond(requestDer) {
      const parsed = parseOcspRequest(requestDer);
      if (!parsed.ok) {
        count("malformed", "none");
        return refusal("malformedRequest", parsed.problem);
      }
      const { certIds, nonce } = parsed.value;
      try {
        if (nonce === undefined && certIds.length === 1) return await respondCached(certIds[0]!);
        return await respondFresh(certIds, nonce);
      } catch (err) {
        count("error", "none");
        throw asServiceError(err);
      }
    },

    async revoked(caId, serialHex) {
      invalidate(caId, serialHex);
      await notifyRevocation(pool, caId, serialHex);
    },

    invalidate,

    invalidateAll() {
      globalGeneration++;
      cache.clear();
    },

    cacheState: () => ({ entries: cache.size, capacity: cache.capacity }),

    caCacheState(caId) {
      const { entries, oldestThisUpdate } = cache.caState(caId);
      const seen = stats.get(caId);
      return { entries, hits: seen?.hits ?? 0, misses: seen?.misses ?? 0, oldestThisUpdate };
    },
  };
}

function outcomeOf(statusKey: string): OcspOutcome {
  const type = statusKey.split(":", 1)[0];
  return type === "good" || type === "revoked" ? type : "unknown";
}

function refusal(status: OcspErrorStatus, problem?: OcspRequestProblem): OcspAnswer {
  return { status, der: ocspErrorResponse(status), cacheable: false, problem };
}

/** Postgres out of reach is "try later" (RFC 6960 §4.2.1 tryLater); everything else unexpected is internal. */
function asServiceError(err: unknown): ChanceryError {
  if (isChanceryError(err)) return err;
  if (
    err instanceof ConnectionError ||
    err instanceof StatementTimeoutError ||
    err instanceof StatementCancelledError ||
    err instanceof BackendTerminatedError ||
    err instanceof BackendTerminatedUnexpectedlyError ||
    err instanceof IdleTransactionTimeoutError
  )
    return new ChanceryError("unavailable", "the certificate status store is unavailable", { cause: err });
  return new ChanceryError("internal", "OCSP response failed", { cause: err });
}
