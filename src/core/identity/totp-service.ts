import { randomBytes } from "node:crypto";
import { Secret, TOTP } from "otpauth";
import type { DatabasePool } from "slonik";
import { clearTotp, consumeTotpStep, findTotp, storeTotpSecret } from "../../store/totp-store.ts";
import type { Actor } from "../actor.ts";
import type { AuditLog } from "../audit/audit-log.ts";
import type { KeyEncryption } from "../ca/key-encryption.ts";
import type { Clock } from "../clock.ts";
import { ChanceryError } from "../errors.ts";

export interface TotpEnrollment {
  /** otpauth://totp/... for authenticator apps (a QR code of it). */
  readonly uri: string;
  /** The same secret in base32, for typing in by hand. */
  readonly secretBase32: string;
}

export interface TotpService {
  /** A new secret for the user, unconfirmed until confirm() sees a valid code from it. */
  enroll(userId: string, username: string, by: Actor): Promise<TotpEnrollment>;
  confirm(userId: string, code: string, by: Actor): Promise<void>;
  /** Admin reset (lost device): the user must enroll again. */
  reset(userId: string, by: Actor): Promise<void>;
  /** Throws permission_denied unless `code` is a valid, not-yet-used code of a confirmed enrollment. */
  verify(userId: string, code: string | undefined, purpose: string): Promise<void>;
  isEnrolled(userId: string): Promise<boolean>;
}

/** RFC 6238 defaults every authenticator app understands: SHA-1, 6 digits, 30 s. */
const period = 30;
const digits = 6;
/** One step either side absorbs clock skew between phone and server (RFC 6238 §5.2). */
const window = 1;

/**
 * TOTP second factor (RFC 6238). Secrets are sealed with the KEK, bound to
 * the user; a code is accepted once (its time step is recorded with a
 * conditional UPDATE, so two replicas cannot both accept it).
 */
export function createTotpService(deps: {
  pool: DatabasePool;
  audit: AuditLog;
  keyEncryption: KeyEncryption;
  clock: Clock;
  issuer?: string;
}): TotpService {
  const { pool, audit, keyEncryption, clock } = deps;
  const issuer = deps.issuer ?? "Chancery";
  const binding = (userId: string) => `chancery/totp/${userId}`;

  async function openSecret(userId: string): Promise<{ secret: Secret; confirmed: boolean }> {
    const row = await findTotp(pool, userId);
    if (!row) throw new ChanceryError("not_found", `no user with id ${userId}`);
    if (!row.totp_secret_sealed) throw new ChanceryError("failed_precondition", "no TOTP enrollment: enroll first");
    const raw = keyEncryption.open(row.totp_secret_sealed, binding(userId));
    return {
      secret: new Secret({ buffer: raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.length) }),
      confirmed: row.totp_confirmed,
    };
  }

  /** The time step a code belongs to, or undefined when it matches none in the window. */
  function stepOf(secret: Secret, code: string | undefined): bigint | undefined {
    if (!code || !/^\d{6}$/.test(code)) return undefined;
    const timestamp = clock.now().getTime();
    const delta = TOTP.validate({ token: code, secret, digits, period, timestamp, window });
    if (delta === null) return undefined;
    return BigInt(TOTP.counter({ period, timestamp }) + delta);
  }

  async function consume(userId: string, secret: Secret, code: string | undefined): Promise<boolean> {
    const step = stepOf(secret, code);
    if (step === undefined) return false;
    return pool.transaction((tx) => consumeTotpStep(tx, userId, step));
  }

  return {
    async enroll(userId, username, by) {
      const raw = randomBytes(20); // 160 bits: RFC 4226 §4 recommends a 160-bit shared secret.
      const secret = new Secret({ buffer: raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.length) });
      await pool.transaction(async (tx) => {
        const existing = await findTotp(tx, userId);
        if (!existing) throw new ChanceryError("not_found", `no user with id ${userId}`);
        if (existing.totp_confirmed)
          throw new ChanceryError("failed_precondition", "TOTP is already enrolled; an admin must reset it first");
        await storeTotpSecret(tx, userId, keyEncryption.seal(raw, binding(userId)));
        await audit.appendInTransaction(tx, [{ ...by, action: "totp.enroll", target: `user:${userId}` }]);
      });
      raw.fill(0);
      const totp = new TOTP({ issuer, label: username, secret, digits, period });
      return { uri: totp.toString(), secretBase32: secret.base32 };
    },

    async confirm(userId, code, by) {
      const { secret, confirmed } = await openSecret(userId);
      if (confirmed) throw new ChanceryError("failed_precondition", "TOTP is already confirmed");
      if (!(await consume(userId, secret, code)))
        throw new ChanceryError("invalid_argument", "the code does not match: check the authenticator app's clock");
      await audit.append([{ ...by, action: "totp.confirm", target: `user:${userId}` }]);
    },

    async reset(userId, by) {
      await pool.transaction(async (tx) => {
        if (!(await findTotp(tx, userId))) throw new ChanceryError("not_found", `no user with id ${userId}`);
        await clearTotp(tx, userId);
        await audit.appendInTransaction(tx, [{ ...by, action: "totp.reset", target: `user:${userId}` }]);
      });
    },

    async verify(userId, code, purpose) {
      const row = await findTotp(pool, userId);
      if (!row?.totp_secret_sealed || !row.totp_confirmed)
        throw new ChanceryError(
          "permission_denied",
          `${purpose} needs a TOTP code, and this account has no confirmed TOTP`,
        );
      if (!code) throw new ChanceryError("permission_denied", `${purpose} needs a TOTP code (chancery-otp header)`);
      const { secret } = await openSecret(userId);
      if (!(await consume(userId, secret, code)))
        throw new ChanceryError("permission_denied", `${purpose}: the TOTP code is wrong or was already used`);
    },

    async isEnrolled(userId) {
      const row = await findTotp(pool, userId);
      return Boolean(row?.totp_secret_sealed && row.totp_confirmed);
    },
  };
}
