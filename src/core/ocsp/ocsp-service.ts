import { createHash } from "node:crypto";
import type { Logger } from "pino";
import {
  BackendTerminatedError,
  BackendTerminatedUnexpectedlyError,
  type CommonQueryMethods,
  ConnectionError,
  type DatabasePool,
  IdleTransactionTimeoutError,
  StatementCancelledError,
  StatementTimeoutError,
} from "slonik";
import type { Metrics } from "../../ops/metrics.ts";
import {
  findPresignCandidate,
  findStoredOcspResponse,
  markOcspPresigned,
  type NewStoredOcspResponse,
  type OcspPresignCandidateRow,
  type StoredOcspResponseRow,
  upsertStoredOcspResponses,
} from "../../store/ocsp-response-store.ts";
import { notifyRevocation } from "../../store/ocsp-revocation-channel.ts";
import { findCertificateStatus } from "../../store/ocsp-status-store.ts";
import type { CaService } from "../ca/ca-service.ts";
import type { Clock } from "../clock.ts";
import { ChanceryError, isChanceryError } from "../errors.ts";
import { revocationReasonName } from "../revocation/revocation-reason.ts";
import { type CertId, type CertIdHashAlgorithm, certIdHashAlgorithms, encodeCertId } from "./cert-id.ts";
import { certIdFor, createIssuerIndex, type IssuerIndex, issuerHashes } from "./issuer-hashes.ts";
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
type OcspSource = "cache" | "revalidated" | "stored" | "signed" | "nonce" | "none";

/** Signs and stores the canonical responses (one per CertID hash algorithm) of certificates of one CA. */
export type OcspPresignBatch = (
  db: CommonQueryMethods,
  certificates: readonly OcspPresignCandidateRow[],
) => Promise<void>;

export interface OcspService {
  /**
   * Answers one DER OCSPRequest (RFC 6960, RFC 9919 profile): good, revoked
   * (time, reason) or unknown per CertID; unauthorized when no CertID names
   * a CA we serve; malformedRequest for anything unparsable. Throws
   * ChanceryError unavailable when Postgres cannot be reached and internal
   * for anything else; the front end answers those with tryLater and
   * internalError.
   */
  respond(requestDer: Uint8Array, requestKey?: string | undefined): Promise<OcspAnswer>;
  /**
   * The pre-signed answer of a request answered before, found by its request
   * key alone (no parsing, no CertID encoding), or undefined: then call
   * respond(der, requestKey), which makes the key find the answer next time
   * if the request is one for the pre-signed path (one CertID, no nonce).
   * The key is the front end's, derived from the request as it arrived (a GET
   * path, a POST body); it must stand for exactly one request DER. Answers
   * are checked as respond() checks a cached one (refresh time, max cache
   * age), and invalidation drops them the same way.
   */
  cached(requestKey: string): OcspAnswer | undefined;
  /**
   * A certificate of the CA was revoked here (after the commit): drop that
   * certificate's cached answers now, re-sign its stored responses (a
   * failure is logged: readers then sign on demand), then tell the other
   * replicas (NOTIFY "caId:serialHex"), which find the revoked rows.
   */
  revoked(caId: string, serialHex: string): Promise<void>;
  /**
   * Loads what signing the CA's stored responses needs (issuer hashes, the
   * current responder) outside any transaction, for the pre-signer: the
   * returned function signs both canonical CertIDs of each certificate and
   * writes the rows through `db` (its transaction, under its lock).
   */
  presignerFor(caId: string): Promise<OcspPresignBatch>;
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
  /** The status as a stored response records it; absent for unknown (never stored). */
  readonly stored?: StoredStatus | undefined;
}

interface StoredStatus {
  readonly status: "good" | "revoked";
  readonly revokedAt: Date | null;
  readonly revocationReason: number | null;
}

const second = 1000;
/** Stored responses per certificate: one per CertID hash algorithm. */
const hashAlgorithmCount = Object.keys(certIdHashAlgorithms).length;
const dayMs = 86_400_000;
/** A miss for an issuer reloads the CA list at most this often (new CAs show up quickly; floods cost nothing). */
const indexMissReloadMs = 5 * second;
/** The CA list is reloaded this often regardless (a CA made on another replica). */
const indexMaxAgeMs = 60 * second;

export function createOcspService(deps: {
  pool: DatabasePool;
  cas: Pick<CaService, "list" | "get">;
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
  /** A cache hit: figures for the admin API and the metric. */
  const hit = (entry: CachedOcspResponse) => {
    statsOf(entry.caId).hits++;
    count(outcomeOf(entry.statusKey), "cache");
  };
  /** An entry still answered from memory at `nowMs`: before its refresh time and recently checked. */
  const fresh = (entry: CachedOcspResponse, nowMs: number) =>
    nowMs < entry.refreshAtMs && nowMs - entry.checkedAtMs < maxCacheAgeMs;

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
    return { ...certificateStatusOf(row), caId: row.ca_id };
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

  /** One CertID, no nonce: the pre-signed path, cached under `key` (the CertID DER as the client sent it). */
  async function respondCached(certId: CertId, key: string): Promise<OcspAnswer> {
    const nowMs = clock.now().getTime();
    const entry = cache.get(key);
    if (entry && fresh(entry, nowMs)) {
      hit(entry);
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
      const keep = (answer: CachedOcspResponse) => {
        if (generation === generationOf(caIds)) cache.set(key, answer);
        else cache.delete(key);
      };
      // Stored rows carry our canonical CertID, so they answer only a request that sent exactly that.
      const storable = resolved.stored !== undefined && isCanonical(certId);
      if (storable) {
        const row = await findStoredOcspResponse(pool, resolved.caId, certId.serialHex, certId.hashAlgorithm);
        // Signed here or on another replica, maybe by a responder since replaced: still valid until
        // its nextUpdate (ours outlive their responses), but re-signed from its refresh time on.
        if (row && storedStatusKey(row) === resolved.statusKey && now.getTime() < row.refresh_at) {
          const stored = fromRow(resolved.caId, certId.serialHex, row, resolved.statusKey, now);
          keep(stored);
          count(outcomeOf(resolved.statusKey), "stored");
          return cachedAnswer(stored);
        }
      }
      const responder = await responders.current(resolved.caId);
      const fresh = await sign(resolved.caId, certId, resolved, responder, now);
      keep(fresh);
      if (storable) {
        // Best effort: the answer is good whether or not other replicas get to re-use it.
        await upsertStoredOcspResponses(pool, [
          toRow(resolved.caId, certId.hashAlgorithm, resolved.stored!, fresh, responder, now),
        ]).catch((err) => logger.warn({ err, caId: resolved.caId }, "OCSP response not stored"));
      }
      count(outcomeOf(resolved.statusKey), "signed");
      return cachedAnswer(fresh);
    })().finally(() => signing.delete(key));
    signing.set(key, work);
    return work;
  }

  async function sign(
    caId: string,
    certId: CertId,
    resolved: Pick<Resolved, "status" | "statusKey">,
    responder: LoadedResponder,
    now: Date,
  ): Promise<CachedOcspResponse> {
    const { thisUpdate, nextUpdate } = window(responder, now);
    const der = await responder.builder.build({
      producedAt: now,
      responses: [{ certId, status: resolved.status, thisUpdate, nextUpdate }],
    });
    return {
      caId,
      serialHex: certId.serialHex,
      der,
      thisUpdate,
      nextUpdate,
      sha256: createHash("sha256").update(der).digest("hex"),
      refreshAtMs: refreshAt(thisUpdate, nextUpdate),
      statusKey: resolved.statusKey,
      checkedAtMs: now.getTime(),
    };
  }

  function refreshAt(thisUpdate: Date, nextUpdate: Date): number {
    return Math.floor(thisUpdate.getTime() + (nextUpdate.getTime() - thisUpdate.getTime()) * refreshFraction);
  }

  async function presignerFor(caId: string): Promise<OcspPresignBatch> {
    const ca = await deps.cas.get(caId);
    if (!ca.certificateDer)
      throw new ChanceryError("failed_precondition", `CA ${caId} has no certificate to answer OCSP for`);
    const hashes = issuerHashes(ca.certificateDer);
    const responder = await responders.current(caId);
    return async (db, certificates) => {
      const now = clock.now();
      const rows: NewStoredOcspResponse[] = [];
      // A few signatures at a time: they run on libuv's thread pool, which a whole batch would flood.
      const parallel = 16;
      const work = certificates.flatMap((certificate) =>
        (Object.keys(certIdHashAlgorithms) as CertIdHashAlgorithm[]).map((algorithm) => ({ certificate, algorithm })),
      );
      for (let i = 0; i < work.length; i += parallel) {
        const signed = await Promise.all(
          work.slice(i, i + parallel).map(async ({ certificate, algorithm }) => {
            const resolved = certificateStatusOf(certificate);
            const certId = certIdFor(hashes, algorithm, serialContentOf(certificate.serial_hex));
            const answer = await sign(caId, certId, resolved, responder, now);
            return toRow(caId, algorithm, resolved.stored, answer, responder, now);
          }),
        );
        rows.push(...signed);
      }
      const written = await upsertStoredOcspResponses(db, rows);
      // Not due again until the refresh time, for certificates whose every
      // form was stored. One the store refused (it holds a newer or a
      // revoked row) stays due: the next batch reads its status again.
      const storedForms = new Map<string, number>();
      for (const row of written) storedForms.set(row.serial_hex, (storedForms.get(row.serial_hex) ?? 0) + 1);
      const refreshAt = new Map(rows.map((row) => [row.serialHex, row.refreshAt]));
      await markOcspPresigned(
        db,
        certificates.flatMap((certificate) =>
          certificate.revision !== null && storedForms.get(certificate.serial_hex) === hashAlgorithmCount
            ? [
                {
                  serialHex: certificate.serial_hex,
                  revision: certificate.revision,
                  refreshAt: refreshAt.get(certificate.serial_hex)!,
                },
              ]
            : [],
        ),
      );
    };
  }

  /**
   * After a revocation here: the certificate's stored responses say revoked
   * before any replica is told. The revocation made it due in its own
   * transaction (migration 0020), so if this fails or the process dies
   * first, the next pre-signing pass on any replica signs it.
   */
  async function resignRevoked(caId: string, serialHex: string): Promise<void> {
    const candidate = await findPresignCandidate(pool, caId, serialHex);
    if (!candidate) return;
    const presign = await presignerFor(caId);
    await presign(pool, [candidate]);
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
    async respond(requestDer, requestKey) {
      const parsed = parseOcspRequest(requestDer);
      if (!parsed.ok) {
        count("malformed", "none");
        return refusal("malformedRequest", parsed.problem);
      }
      const { certIds, nonce } = parsed.value;
      try {
        if (nonce === undefined && certIds.length === 1) {
          const key = Buffer.from(certIds[0]!.der).toString("latin1");
          const answer = await respondCached(certIds[0]!, key);
          // Only a request that parsed, for one CertID and without a nonce, gets an alias; a nonce
          // request or a malformed one never does, so they never skip the parser.
          if (requestKey !== undefined && answer.cacheable) cache.alias(requestKey, key);
          return answer;
        }
        return await respondFresh(certIds, nonce);
      } catch (err) {
        count("error", "none");
        throw asServiceError(err);
      }
    },

    async revoked(caId, serialHex) {
      invalidate(caId, serialHex);
      try {
        await resignRevoked(caId, serialHex);
      } catch (err) {
        // Readers find the row's status stale and sign anew: slower, never wrong.
        logger.error({ err, caId, serialHex }, "OCSP responses of a revoked certificate not re-signed");
      }
      // The row is written (or its failure logged) first, so notified replicas read the revoked response.
      await notifyRevocation(pool, caId, serialHex);
    },

    cached(requestKey) {
      const nowMs = clock.now().getTime();
      const entry = cache.getByAlias(requestKey, nowMs);
      // Not fresh: respond() re-checks (or re-signs) and the alias then finds the new entry.
      if (entry === undefined || !fresh(entry, nowMs)) return undefined;
      hit(entry);
      return cachedAnswer(entry);
    },

    presignerFor,

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

/** A certificate's status as OCSP says it, and as a stored response records it. */
function certificateStatusOf(row: {
  status: "valid" | "revoked";
  revoked_at: number | null;
  revocation_reason: number | null;
}): Omit<Resolved, "caId"> & { stored: StoredStatus } {
  if (row.status === "valid")
    return {
      status: { type: "good" },
      statusKey: "good",
      stored: { status: "good", revokedAt: null, revocationReason: null },
    };
  const revocationTime = new Date(row.revoked_at ?? 0);
  const code = row.revocation_reason ?? 0;
  return {
    status: { type: "revoked", revocationTime, reason: revocationReasonName(code) },
    statusKey: `revoked:${revocationTime.getTime()}:${code}`,
    stored: { status: "revoked", revokedAt: revocationTime, revocationReason: code },
  };
}

function storedStatusKey(row: StoredOcspResponseRow): string {
  return row.status === "good" ? "good" : `revoked:${row.revoked_at ?? 0}:${row.revocation_reason ?? 0}`;
}

function fromRow(
  caId: string,
  serialHex: string,
  row: StoredOcspResponseRow,
  statusKey: string,
  now: Date,
): CachedOcspResponse {
  return {
    caId,
    serialHex,
    der: new Uint8Array(row.der),
    thisUpdate: new Date(row.this_update),
    nextUpdate: new Date(row.next_update),
    sha256: row.sha256,
    refreshAtMs: row.refresh_at,
    statusKey,
    checkedAtMs: now.getTime(),
  };
}

function toRow(
  caId: string,
  hashAlgorithm: CertIdHashAlgorithm,
  stored: StoredStatus,
  answer: CachedOcspResponse,
  responder: LoadedResponder,
  now: Date,
): NewStoredOcspResponse {
  return {
    caId,
    serialHex: answer.serialHex,
    hashAlgorithm,
    status: stored.status,
    revokedAt: stored.revokedAt,
    revocationReason: stored.revocationReason,
    der: answer.der,
    sha256: answer.sha256,
    thisUpdate: answer.thisUpdate,
    nextUpdate: answer.nextUpdate,
    refreshAt: new Date(answer.refreshAtMs),
    responderSerialHex: responder.serialHex,
    signedAt: now,
  };
}

/** Whether a request's CertID is byte for byte our canonical one (NULL parameters, minimal serial). */
function isCanonical(certId: CertId): boolean {
  try {
    return Buffer.from(encodeCertId(certId).der).equals(Buffer.from(certId.der));
  } catch {
    return false;
  }
}

/** INTEGER content octets of a stored serial (lower-case hex, no sign octet): a 00 first when the top bit is set. */
function serialContentOf(serialHex: string): Uint8Array {
  const magnitude = Buffer.from(serialHex.length % 2 ? `0${serialHex}` : serialHex, "hex");
  return (magnitude[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.of(0), magnitude]) : magnitude;
}

/** "good", "revoked:<ms>:<reason>" or "unknown" (Resolved.statusKey) as a metric outcome; on every cache hit, so no split. */
function outcomeOf(statusKey: string): OcspOutcome {
  if (statusKey === "good") return "good";
  return statusKey.startsWith("revoked:") ? "revoked" : "unknown";
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
