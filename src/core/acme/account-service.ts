import { randomUUID } from "node:crypto";
import type { JWK } from "jose";
import type { CommonQueryMethods, DatabasePool } from "slonik";
import {
  findAcmeAccount,
  findAcmeAccountByThumbprint,
  insertAcmeAccount,
  lockAcmeAccount,
  updateAcmeAccount,
} from "../../store/acme-account-store.ts";
import type { AuditLog } from "../audit/audit-log.ts";
import type { Clock } from "../clock.ts";
import { type AcmeAccount, accountActor, toAcmeAccount } from "./acme-account.ts";
import { parseContacts } from "./acme-contacts.ts";
import { AcmeProblem } from "./acme-problem.ts";
import type { AcmeDirectory } from "./acme-types.ts";
import type { RateLimiter } from "./rate-limiter.ts";

/** What the account service needs of the EAB keys (eab-key-service.ts). */
export interface EabKeyBinder {
  /** Marks the key bound to the account; false when it was bound (or revoked) meanwhile. */
  bind(tx: CommonQueryMethods, keyId: string, accountId: string): Promise<boolean>;
}

export interface NewAccountInput {
  readonly directory: AcmeDirectory;
  readonly jwk: JWK;
  readonly thumbprint: string;
  /** The newAccount payload (RFC 8555 §7.3). */
  readonly payload: Record<string, unknown>;
  /**
   * Verifies the payload's externalAccountBinding (a front-end matter: it is
   * a JWS) and returns its key id, or null when there is none. Called only
   * when an account is to be created: an existing account's key gets its
   * account back (RFC 8555 §7.3.1) even though its EAB key is used up.
   */
  readonly externalAccountKeyId: () => Promise<string | null>;
  readonly sourceIp: string | undefined;
}

export interface AcmeAccountService {
  /** RFC 8555 §7.3: the account of this key, created unless it exists; `created` false = the existing one. */
  newAccount(input: NewAccountInput): Promise<{ account: AcmeAccount; created: boolean }>;
  get(id: string): Promise<AcmeAccount | null>;
  /** RFC 8555 §7.3.2 / §7.3.6: contact update, ToS agreement, deactivation. */
  update(account: AcmeAccount, payload: Record<string, unknown>, sourceIp: string | undefined): Promise<AcmeAccount>;
  /**
   * RFC 8555 §7.3.5: moves the account to the new key in one transaction.
   * `conflict` is the account that already has the new key (409 Conflict).
   */
  changeKey(
    account: AcmeAccount,
    newKey: { jwk: JWK; thumbprint: string },
    sourceIp: string | undefined,
  ): Promise<{ account: AcmeAccount } | { conflict: string }>;
}

const hourMs = 3_600_000;

export function createAcmeAccountService(deps: {
  pool: DatabasePool;
  audit: AuditLog;
  clock: Clock;
  rateLimiter: RateLimiter;
  eabKeys: EabKeyBinder;
}): AcmeAccountService {
  const { pool, audit, clock } = deps;

  return {
    async newAccount({ directory, jwk, thumbprint, payload, sourceIp, ...input }) {
      const existing = await findAcmeAccountByThumbprint(pool, directory.id, thumbprint);
      if (existing) {
        // RFC 8555 §7.3.6: once deactivated, requests authorized by the account's key are refused, and a
        // newAccount signed with it is one (Boulder and Pebble refuse it too). 401 as in jws.ts.
        if (existing.status !== "valid")
          throw new AcmeProblem("unauthorized", `the account of this key is ${existing.status}`, { status: 401 });
        return { account: toAcmeAccount(existing), created: false };
      }
      if (payload["onlyReturnExisting"] === true)
        throw new AcmeProblem("accountDoesNotExist", "no account exists for this key in this directory");
      const contacts = parseContacts(payload["contact"]);
      const agreed = payload["termsOfServiceAgreed"];
      if (agreed !== undefined && typeof agreed !== "boolean")
        throw new AcmeProblem("malformed", "termsOfServiceAgreed must be a boolean");
      if (directory.termsOfServiceUrl && agreed !== true)
        throw new AcmeProblem("malformed", `you must agree to the terms of service at ${directory.termsOfServiceUrl}`);
      const externalAccountKeyId = await input.externalAccountKeyId();
      if (directory.externalAccountRequired && !externalAccountKeyId)
        throw new AcmeProblem(
          "externalAccountRequired",
          "this directory requires an external account binding (RFC 8555 §7.3.4); ask the CA operator for a key id and HMAC key",
        );
      if (sourceIp) {
        const limit = await deps.rateLimiter.consume(`new-account-ip:${directory.id}:${sourceIp}`, {
          limit: directory.rateLimits.newAccountsPerIpPerHour,
          windowMs: hourMs,
        });
        if (!limit.allowed)
          throw new AcmeProblem("rateLimited", "too many new accounts from this address; retry later", {
            retryAfterSeconds: limit.retryAfterSeconds,
          });
      }
      const id = randomUUID();
      const now = clock.now();
      const created = await pool.transaction(async (tx) => {
        const inserted = await insertAcmeAccount(tx, {
          id,
          directoryId: directory.id,
          jwk: jwk as Record<string, unknown>,
          thumbprint,
          contacts,
          tosAgreedAt: agreed === true ? now : null,
          eabKeyId: externalAccountKeyId,
          createdIp: sourceIp ?? null,
          now,
        });
        if (!inserted) return false;
        // RFC 8555 §7.3.4: a key binds one account; a concurrent newAccount with the same key id loses here.
        if (externalAccountKeyId && !(await deps.eabKeys.bind(tx, externalAccountKeyId, id)))
          throw new AcmeProblem("unauthorized", "the external account binding key is already used, revoked or expired");
        await audit.appendInTransaction(tx, [
          {
            actor: accountActor(id),
            action: "acme.account.create",
            target: `acme-account:${id}`,
            sourceIp,
            details: {
              directory: directory.name,
              thumbprint,
              contacts,
              externalAccountKeyId,
              termsOfServiceAgreed: agreed === true,
            },
          },
        ]);
        return true;
      });
      // Lost a race with the same key: RFC 8555 §7.3.1 answers with the account that exists.
      const row = created
        ? await findAcmeAccount(pool, id)
        : await findAcmeAccountByThumbprint(pool, directory.id, thumbprint);
      if (!row) throw new AcmeProblem("serverInternal", "the account could not be read back");
      return { account: toAcmeAccount(row), created };
    },

    async get(id) {
      const row = await findAcmeAccount(pool, id);
      return row ? toAcmeAccount(row) : null;
    },

    async update(account, payload, sourceIp) {
      const status = payload["status"];
      if (status !== undefined && status !== "deactivated")
        throw new AcmeProblem("malformed", 'an account can only be updated to status "deactivated" (RFC 8555 §7.3.6)');
      const contacts = payload["contact"] === undefined ? undefined : parseContacts(payload["contact"]);
      const agreed = payload["termsOfServiceAgreed"] === true && !account.termsOfServiceAgreed;
      if (status === undefined && contacts === undefined && !agreed) return account;
      const now = clock.now();
      const row = await pool.transaction(async (tx) => {
        const locked = await lockAcmeAccount(tx, account.id);
        if (locked?.status !== "valid") throw new AcmeProblem("unauthorized", `account is ${locked?.status ?? "gone"}`);
        await updateAcmeAccount(
          tx,
          account.id,
          {
            contacts,
            status: status === "deactivated" ? "deactivated" : undefined,
            tosAgreedAt: agreed ? now : undefined,
          },
          now,
        );
        await audit.appendInTransaction(tx, [
          {
            actor: accountActor(account.id),
            action: status === "deactivated" ? "acme.account.deactivate" : "acme.account.update",
            target: `acme-account:${account.id}`,
            sourceIp,
            details: { ...(contacts ? { contacts } : {}), ...(agreed ? { termsOfServiceAgreed: true } : {}) },
          },
        ]);
        return findAcmeAccount(tx, account.id);
      });
      return toAcmeAccount(row!);
    },

    async changeKey(account, newKey, sourceIp) {
      const now = clock.now();
      return pool.transaction(async (tx) => {
        const locked = await lockAcmeAccount(tx, account.id);
        if (locked?.status !== "valid") throw new AcmeProblem("unauthorized", `account is ${locked?.status ?? "gone"}`);
        // The old key must still be the account's key: a concurrent rollover wins once.
        if (locked.jwk_thumbprint !== account.thumbprint)
          throw new AcmeProblem("unauthorized", "the account key changed meanwhile; sign with the current key");
        const holder = await findAcmeAccountByThumbprint(tx, account.directoryId, newKey.thumbprint);
        if (holder) return { conflict: holder.id };
        await updateAcmeAccount(
          tx,
          account.id,
          { jwk: { jwk: newKey.jwk as Record<string, unknown>, thumbprint: newKey.thumbprint } },
          now,
        );
        await audit.appendInTransaction(tx, [
          {
            actor: accountActor(account.id),
            action: "acme.account.key_change",
            target: `acme-account:${account.id}`,
            sourceIp,
            details: { oldThumbprint: account.thumbprint, newThumbprint: newKey.thumbprint },
          },
        ]);
        const row = await findAcmeAccount(tx, account.id);
        return { account: toAcmeAccount(row!) };
      });
    },
  };
}
