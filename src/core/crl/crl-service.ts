import { createHash } from "node:crypto";
import type { Logger } from "pino";
import type { CommonQueryMethods, DatabasePool } from "slonik";
import type { Metrics } from "../../ops/metrics.ts";
import {
  type CrlStateRow,
  findCrlStates,
  findLatestCrl,
  findLatestCrlHeader,
  findRevokedEntries,
  insertCrl,
  lockCrlIssuer,
  pruneCrls,
} from "../../store/crl-store.ts";
import type { Actor } from "../actor.ts";
import type { AuditLog } from "../audit/audit-log.ts";
import type { CaService } from "../ca/ca-service.ts";
import type { Signer } from "../ca/signer.ts";
import type { Clock } from "../clock.ts";
import { ChanceryError } from "../errors.ts";
import type { CaUrls } from "../profiles/ca-urls.ts";
import { type RevocationReason, revocationReasonName } from "../revocation/revocation-reason.ts";
import { uuidPattern } from "../uuid-pattern.ts";
import { buildCrl, type RevokedEntry } from "./build-crl.ts";

/** A signed CRL as served: what an HTTP route needs for the body, ETag, Last-Modified and Expires. */
export interface CrlSnapshot {
  readonly caId: string;
  /** RFC 5280 §5.2.3 cRLNumber. */
  readonly number: bigint;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
  readonly entryCount: number;
  /** DER CertificateList; shared, never modify. */
  readonly der: Buffer;
  /** Lower-case hex SHA-256 of `der`: a strong ETag is `"${sha256}"`. */
  readonly sha256: string;
}

export type CrlRefreshOutcome =
  /** A new CRL was built (it was missing, due, or missing a revocation). */
  | { readonly status: "generated"; readonly crl: CrlSnapshot }
  /** The latest CRL is current; nothing was built. */
  | { readonly status: "current" }
  /** Another replica or caller holds the CA's CRL lock right now (only with wait: false). */
  | { readonly status: "busy" }
  /** The CA needs no CRL (pending, or expired). */
  | { readonly status: "not_applicable" };

export interface CrlService {
  /**
   * Builds, signs and stores the CA's next CRL now (the admin "regenerate"
   * call). Serialised per CA across replicas: the number is the stored
   * maximum + 1 and thisUpdate never goes back. Audited as crl.generate.
   */
  generate(caId: string, by: Actor): Promise<CrlSnapshot>;
  /**
   * Builds the next CRL only if it is needed: none yet, past the refresh
   * point (refreshFraction of the validity), or a revocation is not on it.
   * The check is repeated under the CA's lock, so replicas racing for the
   * same CA build it once. `wait: false` gives up ("busy") if the lock is held.
   */
  refresh(caId: string, by: Actor, options: { wait: boolean }): Promise<CrlRefreshOutcome>;
  /** IDs of the CAs whose CRL refresh() would build now (scheduler input; a hint, refresh re-checks). */
  dueCaIds(): Promise<string[]>;
  /**
   * The CA's newest CRL, or null if none was generated yet (or the id is
   * not a CA). Each call asks Postgres whether a newer number exists (one
   * index probe), so every replica serves the newest CRL; the bytes come
   * from an in-process cache while the number is unchanged.
   */
  latest(caId: string): Promise<CrlSnapshot | null>;
}

export interface CrlServiceOptions {
  /**
   * nextUpdate - thisUpdate, in ms. Default 24 h: the CA/B BRs §4.9.7 cap
   * it at 10 days for subscriber certificates (and ask for a new CRL at
   * least every 7 days); a relying party that cached a CRL only sees a
   * revocation after nextUpdate, so for an always-online CA the validity is
   * the worst-case delay, and 24 h matches the BRs' 24-hour revocation
   * deadline (§4.9.1.1) while leaving 12 h (refreshed at half) to ride out
   * an outage before a cached CRL expires. At most 366 days (§4.9.7's
   * 12 months for CA certificates).
   */
  validityMs?: number | undefined;
  /** Rebuild when this fraction of the validity has passed (default 0.5). */
  refreshFraction?: number | undefined;
  /** CRLs kept per CA; older ones are deleted (default 5). */
  keep?: number | undefined;
  /**
   * How long after a revoked certificate expires it stays listed (default
   * 7 days). RFC 5280 §3.3: an entry must appear on at least one CRL after
   * the certificate's expiry; it is also kept at least until the previous
   * CRL's thisUpdate, so that holds even after a long outage.
   */
  expiredRetentionMs?: number | undefined;
}

interface PreparedIssuer {
  readonly caId: string;
  readonly certificateDer: Buffer;
  readonly signer: Signer;
  /** The CRL's own URL, for the IDP; undefined for a root (no IDP). */
  readonly url: string | undefined;
}

const dayMs = 86_400_000;

/** Reason names by code, built once (revocationReasonName walks the table on every call). */
const reasonByCode: ReadonlyMap<number, RevocationReason> = new Map(
  Array.from({ length: 11 }, (_, code) => [code, revocationReasonName(code)] as const).filter(
    (pair): pair is readonly [number, RevocationReason] => pair[1] !== undefined,
  ),
);

/**
 * CRLs per CA (RFC 5280 §5): built from the certificates table's revocation
 * columns, signed by the CA key, stored in `crls` and served from there.
 * Generation runs in one transaction under a per-CA advisory lock; the
 * audit event is appended last so the audit chain head is locked only for
 * the insert and commit, not while signing.
 */
export function createCrlService(deps: {
  pool: DatabasePool;
  cas: Pick<CaService, "get" | "signer">;
  audit: AuditLog;
  clock: Clock;
  logger: Logger;
  /** The same URL builder issuance uses, so the IDP equals the certificates' CDP. */
  urlsFor: (caId: string) => CaUrls;
  metrics?: Pick<Metrics, "crlGenerations" | "crlNumber"> | undefined;
  options?: CrlServiceOptions | undefined;
}): CrlService {
  const { pool, clock, logger } = deps;
  const validityMs = deps.options?.validityMs ?? dayMs;
  const refreshFraction = deps.options?.refreshFraction ?? 0.5;
  const keep = deps.options?.keep ?? 5;
  const expiredRetentionMs = deps.options?.expiredRetentionMs ?? 7 * dayMs;
  if (!Number.isInteger(validityMs) || validityMs < 60_000 || validityMs > 366 * dayMs)
    throw new ChanceryError("invalid_argument", "CRL validity must be between 1 minute and 366 days");
  if (!(refreshFraction > 0 && refreshFraction < 1))
    throw new ChanceryError("invalid_argument", "CRL refresh fraction must be between 0 and 1");
  if (!Number.isInteger(keep) || keep < 1) throw new ChanceryError("invalid_argument", "keep at least one CRL");
  if (!Number.isInteger(expiredRetentionMs) || expiredRetentionMs < 0)
    throw new ChanceryError("invalid_argument", "expired-entry retention must be a non-negative number of ms");

  const cache = new Map<string, CrlSnapshot>();

  function needsRefresh(state: CrlStateRow, now: Date): boolean {
    if (state.crl_number === null || state.this_update === null || state.next_update === null) return true;
    if (state.stale) return true;
    const refreshAt = state.this_update + (state.next_update - state.this_update) * refreshFraction;
    return now.getTime() >= refreshAt;
  }

  /**
   * What signing needs from the CA, read before the transaction opens: the
   * transaction holds a pool connection while it waits for the CRL lock, so
   * nothing inside it may wait for another one (five callers on a pool of
   * five would otherwise deadlock until a timeout).
   */
  async function prepare(caId: string): Promise<PreparedIssuer | null> {
    const ca = await deps.cas.get(caId);
    if (!ca.certificateDer || ca.status === "pending") return null;
    return {
      caId,
      certificateDer: ca.certificateDer,
      signer: await deps.cas.signer(caId),
      // A self-signed root's CRL carries no IDP. Its scope is everything the
      // root issued, unpartitioned, so the IDP would guard against nothing
      // (RFC 5280 §5.2.5 makes it optional), and OpenSSL's full-chain check
      // (`verify -crl_check_all`, nginx ssl_crl) also looks the root itself
      // up in the root's CRL: the root has no CDP, so an IDP with a
      // distribution point puts the CRL out of scope ("different CRL scope",
      // openssl/openssl#12752) and every chain fails. Intermediates carry
      // the IDP, equal to the CDP their certificates and children carry.
      url: ca.kind === "root" ? undefined : deps.urlsFor(caId).crl,
    };
  }

  async function build(tx: CommonQueryMethods, issuer: PreparedIssuer, by: Actor): Promise<CrlSnapshot> {
    const { caId } = issuer;
    const previous = await findLatestCrlHeader(tx, caId);
    const nowMs = Math.floor(clock.now().getTime() / 1000) * 1000;
    // thisUpdate never goes back, even when this replica's clock is behind
    // the one that signed the previous CRL; equal is allowed (an ETag, not
    // Last-Modified, tells two CRLs of the same second apart).
    const thisUpdate = new Date(Math.max(nowMs, previous?.this_update ?? 0));
    const nextUpdate = new Date(thisUpdate.getTime() + validityMs);
    const number = (previous?.crl_number ?? 0n) + 1n;
    // RFC 5280 §3.3: keep an expired certificate's entry until it has been
    // on a CRL issued after its expiry: everything expiring since the
    // previous CRL stays, and retention adds a margin beyond that.
    const entriesSince = new Date(Math.min(thisUpdate.getTime() - expiredRetentionMs, previous?.this_update ?? 0));
    const revoked = await findRevokedEntries(tx, caId, entriesSince);
    const entries: RevokedEntry[] = new Array(revoked.length);
    for (let i = 0; i < revoked.length; i++) {
      const r = revoked[i]!;
      const reason = reasonByCode.get(r.reasonCode);
      // certificateHold (6) and removeFromCRL (8) are never written by revoke(); anything else is a hand edit.
      if (reason === undefined)
        throw new ChanceryError(
          "internal",
          `certificate ${r.serialHex} has an unknown revocation reason ${r.reasonCode}`,
        );
      entries[i] = { serialHex: r.serialHex, revokedAt: new Date(r.revokedAtSeconds * 1000), reason };
    }
    const started = performance.now();
    const der = Buffer.from(
      await buildCrl({
        issuerCertificateDer: issuer.certificateDer,
        signer: issuer.signer,
        crlNumber: number,
        thisUpdate,
        nextUpdate,
        distributionPointUrl: issuer.url,
        entries,
      }),
    );
    const sha256 = createHash("sha256").update(der).digest();
    await insertCrl(tx, {
      caId,
      crlNumber: number,
      thisUpdate,
      nextUpdate,
      entryCount: entries.length,
      entriesSince,
      der,
      sha256,
      createdAt: clock.now(),
    });
    await pruneCrls(tx, caId, number, keep);
    await deps.audit.appendInTransaction(tx, [
      {
        ...by,
        action: "crl.generate",
        target: `ca:${caId}`,
        details: {
          crlNumber: number.toString(),
          entries: entries.length,
          thisUpdate: thisUpdate.toISOString(),
          nextUpdate: nextUpdate.toISOString(),
          sha256: sha256.toString("hex"),
        },
      },
    ]);
    logger.debug(
      { caId, crlNumber: number.toString(), entries: entries.length, buildMs: performance.now() - started },
      "CRL generated",
    );
    return {
      caId,
      number,
      thisUpdate,
      nextUpdate,
      entryCount: entries.length,
      der,
      sha256: sha256.toString("hex"),
    };
  }

  /** Keeps the newest snapshot per CA only; a slower, older result never replaces a newer one. */
  function remember(crl: CrlSnapshot): CrlSnapshot {
    const cached = cache.get(crl.caId);
    if (!cached || cached.number < crl.number) {
      cache.set(crl.caId, crl);
      deps.metrics?.crlNumber.set({ ca: crl.caId }, Number(crl.number));
    }
    return crl;
  }

  /** After the commit: a rolled-back build is not counted. */
  function generated(crl: CrlSnapshot): CrlSnapshot {
    deps.metrics?.crlGenerations.inc({ ca: crl.caId });
    return remember(crl);
  }

  return {
    async generate(caId, by) {
      const issuer = await prepare(caId);
      if (!issuer)
        throw new ChanceryError("failed_precondition", `CA ${caId} has no certificate yet and cannot sign a CRL`);
      const crl = await pool.transaction(async (tx) => {
        await lockCrlIssuer(tx, caId, true);
        return build(tx, issuer, by);
      });
      return generated(crl);
    },

    async refresh(caId, by, options) {
      const issuer = await prepare(caId);
      if (!issuer) return { status: "not_applicable" };
      const outcome = await pool.transaction(async (tx): Promise<CrlRefreshOutcome> => {
        if (!(await lockCrlIssuer(tx, caId, options.wait))) return { status: "busy" };
        // Read after the lock: a CRL another replica committed meanwhile is seen here.
        const now = clock.now();
        const [state] = await findCrlStates(tx, { now, caId });
        if (!state) return { status: "not_applicable" };
        if (!needsRefresh(state, now)) return { status: "current" };
        return { status: "generated", crl: await build(tx, issuer, by) };
      });
      if (outcome.status === "generated") generated(outcome.crl);
      return outcome;
    },

    async dueCaIds() {
      const now = clock.now();
      const states = await findCrlStates(pool, { now });
      return states.filter((state) => needsRefresh(state, now)).map((state) => state.ca_id);
    },

    async latest(caId) {
      if (!uuidPattern.test(caId)) return null;
      const cached = cache.get(caId);
      const row = await findLatestCrl(pool, caId, cached?.number);
      if (!row) return cached ?? null;
      return remember({
        caId,
        number: row.crl_number,
        thisUpdate: new Date(row.this_update),
        nextUpdate: new Date(row.next_update),
        entryCount: row.entry_count,
        der: row.der,
        sha256: row.sha256.toString("hex"),
      });
    },
  };
}
