import { createPrivateKey, randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { DatabasePool } from "slonik";
import { findScepEndpointById } from "../../store/scep-endpoint-store.ts";
import {
  findNewestScepRaCertificate,
  findUnexpiredScepRaCertificates,
  insertScepRaCertificate,
  lockScepRaEndpoint,
  pruneExpiredScepRaCertificates,
  type ScepRaCertificateRow,
} from "../../store/scep-ra-certificate-store.ts";
import { type Actor, systemActor } from "../actor.ts";
import type { AuditLog } from "../audit/audit-log.ts";
import type { CaService } from "../ca/ca-service.ts";
import type { KeyEncryption } from "../ca/key-encryption.ts";
import type { Clock } from "../clock.ts";
import { ChanceryError } from "../errors.ts";
import { defaultRaLifetimeSeconds, generateRa, maxRaLifetimeSeconds, minRaLifetimeSeconds } from "./ra-certificate.ts";
import type { ScepEndpoint, ScepRaCredential, ScepRaService } from "./scep-types.ts";

export interface ScepRaOptions {
  /** RA certificate lifetime (default a year), capped at the CA's notAfter. */
  lifetimeSeconds?: number | undefined;
  /** Make the next RA certificate when less than this fraction of the lifetime is left (default 1/3). */
  renewBeforeFraction?: number | undefined;
}

const dayMs = 86_400_000;

/** RA keys are sealed under the KEK bound to their own row id, so a blob copied to another row does not open. */
export function raSealBinding(raCertificateId: string): string {
  return `chancery/scep-ra-key/${raCertificateId}`;
}

/** What current() keeps per endpoint: the credential, and what decides when it is due. */
interface CurrentEntry {
  readonly credential: ScepRaCredential;
  readonly caId: string;
  readonly caNotAfter: Date | null;
}

/**
 * RA keys and certificates of SCEP endpoints (RFC 8894 §2.1). Like the OCSP
 * responder service: rows in Postgres so every replica answers GetCACert
 * with the same certificate and can open any envelope; made under an
 * advisory lock per endpoint; the CA key signs the RA certificate and
 * nothing else here. current() runs on every SCEP request, so what it
 * returns is kept opened in memory until it is due.
 */
export function createScepRaService(deps: {
  pool: DatabasePool;
  cas: Pick<CaService, "get" | "signer">;
  audit: AuditLog;
  keyEncryption: KeyEncryption;
  clock: Clock;
  logger: Logger;
  options?: ScepRaOptions | undefined;
}): ScepRaService {
  const { pool, clock, logger, keyEncryption } = deps;
  const lifetimeSeconds = deps.options?.lifetimeSeconds ?? defaultRaLifetimeSeconds;
  const renewBeforeFraction = deps.options?.renewBeforeFraction ?? 1 / 3;
  if (
    !Number.isInteger(lifetimeSeconds) ||
    lifetimeSeconds < minRaLifetimeSeconds ||
    lifetimeSeconds > maxRaLifetimeSeconds
  )
    throw new ChanceryError(
      "invalid_argument",
      `SCEP RA certificate lifetime must be ${minRaLifetimeSeconds} to ${maxRaLifetimeSeconds} seconds`,
    );
  if (!(renewBeforeFraction > 0 && renewBeforeFraction < 1))
    throw new ChanceryError("invalid_argument", "SCEP RA renewal fraction must be between 0 and 1");
  const renewBeforeMs = Math.floor(lifetimeSeconds * 1000 * renewBeforeFraction);

  const current = new Map<string, CurrentEntry>();
  /** Opened credentials by row id, per endpoint: opening costs an AES-GCM open and an RSA key parse. */
  const opened = new Map<string, Map<string, ScepRaCredential>>();
  const inFlight = new Map<string, Promise<CurrentEntry>>();

  /**
   * Whether a certificate is still the one to use. Due at renewal, unless
   * the CA itself expires first: a new one could not outlive the CA (its
   * notAfter is capped there), so rotating would only repeat on every call.
   */
  function fresh(notAfter: Date, caNotAfter: Date | null, nowMs: number): boolean {
    const notAfterMs = notAfter.getTime();
    if (notAfterMs <= nowMs) return false;
    if (notAfterMs - nowMs >= renewBeforeMs) return true;
    return caNotAfter !== null && notAfterMs >= caNotAfter.getTime();
  }

  function open(row: ScepRaCertificateRow): ScepRaCredential {
    let byId = opened.get(row.endpoint_id);
    const known = byId?.get(row.id);
    if (known) return known;
    const pkcs8 = keyEncryption.open(row.sealed_private_key, raSealBinding(row.id));
    let credential: ScepRaCredential;
    try {
      credential = {
        id: row.id,
        endpointId: row.endpoint_id,
        serialHex: row.serial_hex,
        certificateDer: row.certificate_der,
        privateKey: createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" }),
        notBefore: new Date(row.not_before),
        notAfter: new Date(row.not_after),
      };
    } finally {
      pkcs8.fill(0);
    }
    if (!byId) {
      byId = new Map();
      opened.set(row.endpoint_id, byId);
    }
    byId.set(row.id, credential);
    return credential;
  }

  /**
   * The endpoint's RA credential from its CA as stored now (the caller's
   * endpoint may be a moment old): the newest fresh one, or a new one.
   * `rotation` forces a new one and names who asked.
   */
  async function resolve(endpoint: ScepEndpoint, rotation: Actor | null): Promise<CurrentEntry> {
    const stored = await findScepEndpointById(pool, endpoint.id);
    if (!stored) throw new ChanceryError("not_found", `no SCEP endpoint with id ${endpoint.id}`);
    const caId = stored.ca_id;
    const ca = await deps.cas.get(caId);
    if (!ca.certificateDer || ca.status === "pending")
      throw new ChanceryError(
        "failed_precondition",
        `CA ${ca.name} has no certificate and cannot issue an RA certificate`,
      );
    const entry = (row: ScepRaCertificateRow): CurrentEntry => ({
      credential: open(row),
      caId,
      caNotAfter: ca.notAfter,
    });
    if (!rotation) {
      const newest = await findNewestScepRaCertificate(pool, endpoint.id, caId, clock.now());
      if (newest && fresh(new Date(newest.not_after), ca.notAfter, clock.now().getTime())) return entry(newest);
    }
    if (ca.status !== "active")
      throw new ChanceryError(
        "failed_precondition",
        `CA ${ca.name} is ${ca.status} and cannot issue an RA certificate`,
      );

    // Everything that needs another pool connection is read before the
    // transaction: it holds one connection while it waits for the lock.
    const caSigner = await deps.cas.signer(caId);
    const caCertificateDer = ca.certificateDer;
    const row = await pool.transaction(async (tx) => {
      await lockScepRaEndpoint(tx, endpoint.id);
      // Read again under the lock: another replica may have just made one.
      const now = clock.now();
      const again = await findNewestScepRaCertificate(tx, endpoint.id, caId, now);
      if (!rotation && again && fresh(new Date(again.not_after), ca.notAfter, now.getTime())) return again;

      const id = randomUUID();
      const generated = await generateRa({
        issuerCertificateDer: caCertificateDer,
        issuerSigner: caSigner,
        endpointName: stored.name,
        now,
        lifetimeSeconds,
      });
      const { certificate } = generated;
      let sealed: Buffer;
      try {
        sealed = keyEncryption.seal(generated.privateKeyPkcs8, raSealBinding(id));
      } finally {
        generated.privateKeyPkcs8.fill(0);
      }
      const created: ScepRaCertificateRow = {
        id,
        endpoint_id: endpoint.id,
        ca_id: caId,
        serial_hex: certificate.serialHex,
        certificate_der: Buffer.from(certificate.der),
        sealed_private_key: sealed,
        not_before: certificate.notBefore.getTime(),
        not_after: certificate.notAfter.getTime(),
      };
      await insertScepRaCertificate(tx, {
        id,
        endpointId: endpoint.id,
        caId,
        serialHex: created.serial_hex,
        certificateDer: created.certificate_der,
        sealedPrivateKey: sealed,
        notBefore: certificate.notBefore,
        notAfter: certificate.notAfter,
        createdAt: now,
      });
      // Expired for a day: no device can still be encrypting to them.
      const pruned = await pruneExpiredScepRaCertificates(tx, endpoint.id, new Date(now.getTime() - dayMs));
      await deps.audit.appendInTransaction(tx, [
        {
          ...(rotation ?? systemActor),
          action: rotation ? "scep.ra.rotate" : "scep.ra.create",
          target: `scep-endpoint:${endpoint.id}`,
          details: {
            raCertificateId: id,
            serial: certificate.serialHex,
            caId,
            notBefore: certificate.notBefore.toISOString(),
            notAfter: certificate.notAfter.toISOString(),
            ...(again ? { replaces: again.serial_hex } : {}),
            ...(pruned > 0 ? { prunedExpired: pruned } : {}),
          },
        },
      ]);
      logger.info(
        {
          endpointId: endpoint.id,
          endpoint: stored.name,
          raSerial: certificate.serialHex,
          notAfter: certificate.notAfter.toISOString(),
        },
        rotation ? "SCEP RA certificate rotated" : "SCEP RA certificate created",
      );
      return created;
    });
    return entry(row);
  }

  /** Keeps `next` as the endpoint's current credential unless a later one is already kept for the same CA. */
  function remember(endpointId: string, next: CurrentEntry, force: boolean): void {
    const previous = current.get(endpointId);
    if (
      force ||
      !previous ||
      previous.caId !== next.caId ||
      previous.credential.notAfter.getTime() <= next.credential.notAfter.getTime()
    )
      current.set(endpointId, next);
  }

  const service: ScepRaService = {
    current(endpoint) {
      const cached = current.get(endpoint.id);
      if (
        cached &&
        cached.caId === endpoint.caId &&
        fresh(cached.credential.notAfter, cached.caNotAfter, clock.now().getTime())
      )
        return Promise.resolve(cached.credential);
      // One resolution per endpoint and CA at a time within this process.
      const key = `${endpoint.id}/${endpoint.caId}`;
      let pending = inFlight.get(key);
      if (!pending) {
        pending = resolve(endpoint, null)
          .then((entry) => {
            remember(endpoint.id, entry, false);
            return entry;
          })
          .finally(() => inFlight.delete(key));
        inFlight.set(key, pending);
      }
      return pending.then((entry) => entry.credential);
    },

    async valid(endpoint) {
      // Through current() first: it makes one when there is none, or rotates a due one.
      await service.current(endpoint);
      const rows = await findUnexpiredScepRaCertificates(pool, endpoint.id, clock.now());
      const credentials = rows.map(open);
      // Forget opened keys of rows that expired or were pruned.
      const byId = opened.get(endpoint.id);
      if (byId) {
        const live = new Set(rows.map((row) => row.id));
        for (const id of byId.keys()) if (!live.has(id)) byId.delete(id);
      }
      return credentials;
    },

    async rotate(endpoint, by) {
      const entry = await resolve(endpoint, by);
      remember(endpoint.id, entry, true);
      return entry.credential;
    },
  };
  return service;
}
