import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { DatabasePool } from "slonik";
import {
  findNewestOcspResponder,
  insertOcspResponder,
  lockOcspResponderIssuer,
  type OcspResponderRow,
  pruneExpiredOcspResponders,
} from "../../store/ocsp-responder-store.ts";
import { systemActor } from "../actor.ts";
import type { AuditLog } from "../audit/audit-log.ts";
import type { CaService } from "../ca/ca-service.ts";
import type { KeyEncryption } from "../ca/key-encryption.ts";
import { createSoftwareSigner } from "../ca/software-signer.ts";
import type { Clock } from "../clock.ts";
import { ChanceryError } from "../errors.ts";
import { createOcspResponseBuilder, type OcspResponseBuilder } from "./ocsp-response.ts";
import { generateResponder, maxResponderLifetimeSeconds } from "./responder-certificate.ts";

/** A CA's delegated responder, loaded and ready to sign. */
export interface LoadedResponder {
  readonly id: string;
  readonly caId: string;
  readonly serialHex: string;
  readonly certificateDer: Buffer;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly builder: OcspResponseBuilder;
}

export interface OcspResponderOptions {
  /** Responder certificate lifetime (default 7 days; at most 30, maxResponderLifetimeSeconds). */
  lifetimeSeconds?: number | undefined;
  /** Make the next responder when less than this fraction of the lifetime is left (default 1/3). */
  renewBeforeFraction?: number | undefined;
}

export interface OcspResponderService {
  /**
   * The CA's current responder: loaded from Postgres (so every replica
   * signs with the same one), created when the CA has none or the newest
   * is due for renewal. Creation is serialised per CA across replicas by an
   * advisory lock and audited as ocsp.responder.create; the CA key signs
   * the responder certificate and nothing else here.
   */
  current(caId: string): Promise<LoadedResponder>;
  /**
   * Like current(), but treats a responder as due `aheadMs` earlier: the
   * background rotation (responder-rotation.ts) calls it so the next
   * responder exists before any request finds the current one due, and no
   * request pays for a key generation and a CA signature.
   */
  rotateIfDue(caId: string, aheadMs: number): Promise<LoadedResponder>;
  /** Configured lifetime, in ms: callers keep response windows well inside it. */
  readonly lifetimeMs: number;
  /** The renewal margin, in ms: a current responder has at least this much validity left (CA lifetime permitting). */
  readonly renewBeforeMs: number;
}

const dayMs = 86_400_000;

/** Responder keys are sealed under the KEK bound to their own id, so a blob copied to another row does not open. */
function sealBinding(responderId: string): string {
  return `chancery/ocsp-responder-key/${responderId}`;
}

export function createOcspResponderService(deps: {
  pool: DatabasePool;
  cas: Pick<CaService, "get" | "signer">;
  audit: AuditLog;
  keyEncryption: KeyEncryption;
  clock: Clock;
  logger: Logger;
  options?: OcspResponderOptions | undefined;
}): OcspResponderService {
  const { pool, clock, logger, keyEncryption } = deps;
  const lifetimeSeconds = deps.options?.lifetimeSeconds ?? 7 * 86_400;
  const renewBeforeFraction = deps.options?.renewBeforeFraction ?? 1 / 3;
  if (!Number.isInteger(lifetimeSeconds) || lifetimeSeconds < 3600 || lifetimeSeconds > maxResponderLifetimeSeconds)
    throw new ChanceryError(
      "invalid_argument",
      `OCSP responder lifetime must be 3600 to ${maxResponderLifetimeSeconds} seconds`,
    );
  if (!(renewBeforeFraction > 0 && renewBeforeFraction < 1))
    throw new ChanceryError("invalid_argument", "OCSP responder renewal fraction must be between 0 and 1");
  const lifetimeMs = lifetimeSeconds * 1000;
  const renewBeforeMs = Math.floor(lifetimeMs * renewBeforeFraction);

  const loaded = new Map<string, LoadedResponder>();
  const inFlight = new Map<string, Promise<LoadedResponder>>();

  /**
   * Whether a responder is still the one to use. Due at renewal, unless the
   * CA itself expires first: a new responder could not outlive the CA (its
   * notAfter is capped there), so rotating would only repeat on every call.
   */
  function fresh(responder: { notAfter: Date }, caNotAfter: Date | null, nowMs: number, aheadMs = 0): boolean {
    const notAfterMs = responder.notAfter.getTime();
    if (notAfterMs <= nowMs) return false;
    if (notAfterMs - nowMs >= renewBeforeMs + aheadMs) return true;
    return caNotAfter !== null && notAfterMs >= caNotAfter.getTime();
  }

  function load(row: OcspResponderRow): LoadedResponder {
    const pkcs8 = keyEncryption.open(row.sealed_private_key, sealBinding(row.id));
    let builder: OcspResponseBuilder;
    try {
      builder = createOcspResponseBuilder({ signer: createSoftwareSigner(pkcs8), certificateDer: row.certificate_der });
    } finally {
      pkcs8.fill(0);
    }
    return {
      id: row.id,
      caId: row.ca_id,
      serialHex: row.serial_hex,
      certificateDer: row.certificate_der,
      notBefore: new Date(row.not_before),
      notAfter: new Date(row.not_after),
      builder,
    };
  }

  async function resolve(caId: string, aheadMs: number): Promise<LoadedResponder> {
    const ca = await deps.cas.get(caId);
    if (!ca.certificateDer || ca.status === "pending")
      throw new ChanceryError("failed_precondition", `CA ${caId} has no certificate and cannot delegate OCSP signing`);
    const newest = await findNewestOcspResponder(pool, caId, clock.now());
    if (newest && fresh({ notAfter: new Date(newest.not_after) }, ca.notAfter, clock.now().getTime(), aheadMs))
      return load(newest);

    // Everything that needs another pool connection is read before the
    // transaction: it holds one connection while it waits for the lock.
    const caSigner = await deps.cas.signer(caId);
    const caCertificateDer = ca.certificateDer;
    const row = await pool.transaction(async (tx) => {
      await lockOcspResponderIssuer(tx, caId);
      // Read again under the lock: another replica may have just made one.
      const now = clock.now();
      const again = await findNewestOcspResponder(tx, caId, now);
      if (again && fresh({ notAfter: new Date(again.not_after) }, ca.notAfter, now.getTime(), aheadMs)) return again;

      const id = randomUUID();
      const generated = await generateResponder({
        issuerCertificateDer: caCertificateDer,
        issuerSigner: caSigner,
        now,
        lifetimeSeconds,
      });
      const { certificate } = generated;
      const created: OcspResponderRow = {
        id,
        ca_id: caId,
        serial_hex: certificate.serialHex,
        certificate_der: Buffer.from(certificate.der),
        sealed_private_key: keyEncryption.seal(generated.privateKeyPkcs8, sealBinding(id)),
        not_before: certificate.notBefore.getTime(),
        not_after: certificate.notAfter.getTime(),
      };
      generated.privateKeyPkcs8.fill(0);
      await insertOcspResponder(tx, {
        id,
        caId,
        serialHex: created.serial_hex,
        certificateDer: created.certificate_der,
        sealedPrivateKey: created.sealed_private_key,
        notBefore: certificate.notBefore,
        notAfter: certificate.notAfter,
        createdAt: now,
      });
      // Expired for a day: whatever they signed expired with them.
      await pruneExpiredOcspResponders(tx, caId, new Date(now.getTime() - dayMs));
      await deps.audit.appendInTransaction(tx, [
        {
          ...systemActor,
          action: "ocsp.responder.create",
          target: `ca:${caId}`,
          details: {
            responderId: id,
            serial: certificate.serialHex,
            notBefore: certificate.notBefore.toISOString(),
            notAfter: certificate.notAfter.toISOString(),
            ...(again ? { replaces: again.serial_hex } : {}),
          },
        },
      ]);
      logger.info(
        { caId, responderSerial: certificate.serialHex, notAfter: certificate.notAfter.toISOString() },
        "OCSP responder certificate created",
      );
      return created;
    });
    return load(row);
  }

  function currentWithin(caId: string, aheadMs: number): Promise<LoadedResponder> {
    const cached = loaded.get(caId);
    // The CA's notAfter is not at hand here; a responder capped by an
    // expiring CA re-checks Postgres on each call, which is one probe.
    if (cached && fresh(cached, null, clock.now().getTime(), aheadMs)) return Promise.resolve(cached);
    // One resolution per CA at a time; a rotation pass joining a request's
    // resolution (or the reverse) re-checks on its next pass.
    const pending = inFlight.get(caId);
    if (pending) return pending;
    const promise = resolve(caId, aheadMs)
      .then((responder) => {
        const previous = loaded.get(caId);
        if (!previous || previous.notAfter.getTime() <= responder.notAfter.getTime()) loaded.set(caId, responder);
        return responder;
      })
      .finally(() => inFlight.delete(caId));
    inFlight.set(caId, promise);
    return promise;
  }

  return {
    lifetimeMs,
    renewBeforeMs,
    current: (caId) => currentWithin(caId, 0),
    rotateIfDue(caId, aheadMs) {
      if (!(aheadMs >= 0 && aheadMs < lifetimeMs - renewBeforeMs))
        throw new ChanceryError(
          "invalid_argument",
          "the rotation lead must be shorter than the responder's fresh time",
        );
      return currentWithin(caId, aheadMs);
    },
  };
}
