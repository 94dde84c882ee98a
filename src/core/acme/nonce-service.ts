import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { DatabasePool } from "slonik";
import { deleteRedeemedNoncesExpiredBefore, recordRedeemedNonce } from "../../store/acme-nonce-store.ts";
import type { Clock } from "../clock.ts";
import { ChanceryError } from "../errors.ts";

/** RFC 8555 §6.5 anti-replay nonces, single use across every replica (docs/decisions/0008-acme-nonces.md). */
export interface NonceService {
  /** A fresh nonce for a Replay-Nonce header. Writes nothing. */
  mint(): string;
  /**
   * Uses `nonce` up. False when it is malformed, was not minted with our key,
   * has expired, or was already redeemed here or on another replica. A
   * database failure throws ChanceryError "unavailable" (not a false: the
   * client's nonce was not at fault).
   */
  redeem(nonce: string): Promise<boolean>;
  /** Deletes redemption records of nonces that can no longer be redeemed anyway; returns how many. */
  purgeExpired(): Promise<number>;
}

export interface NonceServiceDeps {
  pool: DatabasePool;
  clock: Clock;
  /** 32 bytes derived from the KEK, the same on every replica, so any replica checks any replica's nonce. */
  key: Uint8Array;
  lifetimeMs: number;
}

// Layout: 16 random bytes (RFC 8555 §6.5: unpredictable) | issue time, ms since
// the epoch, uint64 big-endian | HMAC-SHA256 over both, truncated to 18 bytes
// (144 bits, far beyond what an online forger can try). 42 bytes is a multiple
// of 3, so the base64url form has no padding bits: one nonce, one spelling.
const randomLength = 16;
const timeLength = 8;
const macLength = 18;
const bodyLength = randomLength + timeLength;
const nonceBytes = bodyLength + macLength;
/** The base64url length of a nonce (56 characters). */
export const nonceLength = (nonceBytes / 3) * 4;
const nonceSyntax = /^[A-Za-z0-9_-]+$/;
// Domain separation, so the derived key cannot be made to MAC anything else we might sign with it.
const macContext = Buffer.from("chancery acme nonce v1\0", "ascii");

/**
 * How far in the future a nonce's issue time may be: replicas' clocks differ
 * a little. The same margin delays the purge of redemption records, so a
 * replica whose clock lags by less than it still finds the record of a nonce
 * it would consider unexpired.
 */
const clockSkewMs = 5 * 60_000;

export function createNonceService(deps: NonceServiceDeps): NonceService {
  if (deps.key.length !== 32) throw new Error("the ACME nonce key must be 32 bytes");
  if (!Number.isSafeInteger(deps.lifetimeMs) || deps.lifetimeMs <= 0)
    throw new Error("the ACME nonce lifetime must be a positive number of milliseconds");
  const key = Buffer.from(deps.key);

  function mac(body: Buffer): Buffer {
    return createHmac("sha256", key).update(macContext).update(body).digest().subarray(0, macLength);
  }

  /** The nonce's issue time in ms when it is one of ours and still within its lifetime; null otherwise. */
  function check(nonce: string, nowMs: number): number | null {
    if (typeof nonce !== "string" || nonce.length !== nonceLength || !nonceSyntax.test(nonce)) return null;
    const bytes = Buffer.from(nonce, "base64url");
    if (bytes.length !== nonceBytes || bytes.toString("base64url") !== nonce) return null;
    const body = bytes.subarray(0, bodyLength);
    if (!timingSafeEqual(mac(body), bytes.subarray(bodyLength))) return null;
    const issuedMs = Number(bytes.readBigUInt64BE(randomLength));
    if (issuedMs + deps.lifetimeMs <= nowMs || issuedMs > nowMs + clockSkewMs) return null;
    return issuedMs;
  }

  return {
    mint() {
      const body = Buffer.alloc(bodyLength);
      randomBytes(randomLength).copy(body, 0);
      body.writeBigUInt64BE(BigInt(Math.max(0, deps.clock.now().getTime())), randomLength);
      return Buffer.concat([body, mac(body)]).toString("base64url");
    },

    async redeem(nonce) {
      const issuedMs = check(nonce, deps.clock.now().getTime());
      if (issuedMs === null) return false;
      try {
        // RFC 8555 §6.5: single use across replicas; the row lives until the nonce would have expired.
        return await recordRedeemedNonce(deps.pool, nonce, new Date(issuedMs + deps.lifetimeMs));
      } catch (err) {
        throw new ChanceryError("unavailable", "cannot check the nonce right now; retry later", { cause: err });
      }
    },

    async purgeExpired() {
      return deleteRedeemedNoncesExpiredBefore(deps.pool, new Date(deps.clock.now().getTime() - clockSkewMs));
    },
  };
}
