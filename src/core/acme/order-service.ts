import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { DatabasePool } from "slonik";
import {
  acmeOrderAuthorizationIds,
  findAcmeOrder,
  findLiveAcmeOrderReplacing,
  insertAcmeOrder,
  listAcmeOrderIds,
  lockAcmeOrder,
  updateAcmeOrder,
} from "../../store/acme-order-store.ts";
import { isUniqueViolation } from "../../store/unique-violation.ts";
import type { AuditLog } from "../audit/audit-log.ts";
import type { Clock } from "../clock.ts";
import { isChanceryError } from "../errors.ts";
import type { IssuanceService } from "../issuance/issuance-service.ts";
import type { ProfileService } from "../profiles/profile-service.ts";
import { readCertificate } from "../x509/parse-certificate.ts";
import { type AcmeAccount, accountActor } from "./acme-account.ts";
import type { AcmeAuthorization } from "./acme-authorization.ts";
import { identifierKey, identifierSetHash, parseIdentifiers, subjectAltNamesOf } from "./acme-identifiers.ts";
import { type AcmeOrder, toAcmeOrder } from "./acme-order.ts";
import { AcmeProblem, acmeErrorTypeOf, type ProblemDocument, problemDocument } from "./acme-problem.ts";
import type { AcmeDirectory, AcmeIdentifier } from "./acme-types.ts";
import type { AcmeAuthorizationService } from "./authorization-service.ts";
import { checkFinalizeCsr } from "./finalize-csr.ts";
import { type AcmeOrderOutcome, recordAcmeOrderOutcome } from "./order-outcome.ts";
import type { RateLimiter } from "./rate-limiter.ts";
import { authorityKeyIdentifierOf, parseAriCertId } from "./renewal-info.ts";
import type { CaaChecker } from "./validation/challenge-validator.ts";

/** What orders need of the approval queue (src/core/requests/). */
export interface ProtocolApprovalQueue {
  submitFromProtocol(input: {
    caId: string;
    profileName: string;
    csrDer: Uint8Array;
    approved: { sans: ReturnType<typeof subjectAltNamesOf> };
    validity?: { notBefore?: Date | undefined; notAfter?: Date | undefined } | undefined;
    requester: string;
    sourceProtocol: "acme";
    sourceIp?: string | undefined;
  }): Promise<{ id: string }>;
  getProtocolRequest(
    id: string,
  ): Promise<{ state: string; certificateSerialHex: string | null; rejectionReason: string | null }>;
}

export interface AcmeOrderService {
  /** RFC 8555 §7.4 newOrder. */
  newOrder(
    account: AcmeAccount,
    directory: AcmeDirectory,
    payload: Record<string, unknown>,
    sourceIp: string | undefined,
  ): Promise<AcmeOrder>;
  /** The account's order with its status brought up to date (null when absent or another account's). */
  get(account: AcmeAccount, id: string): Promise<AcmeOrder | null>;
  /** RFC 8555 §7.1.2.1: a page of the account's order ids, newest first, and the cursor of the next page. */
  list(account: AcmeAccount, cursor: string | undefined): Promise<{ orderIds: string[]; next: string | null }>;
  /** RFC 8555 §7.4 finalize: issues now, or queues for approval (the order stays processing). */
  finalize(
    account: AcmeAccount,
    directory: AcmeDirectory,
    id: string,
    payload: Record<string, unknown>,
    sourceIp: string | undefined,
  ): Promise<AcmeOrder>;
}

const pageSize = 50;
const hourMs = 3_600_000;
const weekMs = 7 * 24 * hourMs;

export function createAcmeOrderService(deps: {
  pool: DatabasePool;
  audit: AuditLog;
  clock: Clock;
  logger: Logger;
  profiles: ProfileService;
  issuance: IssuanceService;
  approvals: ProtocolApprovalQueue;
  authorizations: AcmeAuthorizationService;
  rateLimiter: RateLimiter;
  caa: CaaChecker;
  /** Lifetime of a new order. */
  orderLifetimeMs: number;
}): AcmeOrderService {
  const { pool, audit, clock, logger } = deps;

  async function load(id: string): Promise<AcmeOrder | null> {
    const row = await findAcmeOrder(pool, id);
    return row ? toAcmeOrder(row, await acmeOrderAuthorizationIds(pool, id)) : null;
  }

  /** Moves an order on from what its authorizations, expiry and approval request say now (RFC 8555 §7.1.6). */
  async function refresh(order: AcmeOrder): Promise<AcmeOrder> {
    const now = clock.now();
    let next: AcmeOrderOutcome | { status: "ready" } | undefined;
    if (order.status === "pending" || order.status === "ready") {
      const authorizations = await deps.authorizations.getMany(order.authorizationIds);
      const failed = authorizations.filter((a) => a.status !== "valid" && a.status !== "pending");
      if (order.expiresAt.getTime() <= now.getTime())
        next = { status: "invalid", error: problemDocument("malformed", "the order expired before it was finalized") };
      else if (failed.length > 0) next = { status: "invalid", error: authorizationFailure(failed) };
      else if (order.status === "pending" && authorizations.every((a) => a.status === "valid"))
        next = { status: "ready" };
    } else if (order.status === "processing" && order.requestId) {
      const request = await deps.approvals.getProtocolRequest(order.requestId);
      if (request.state === "issued" && request.certificateSerialHex)
        next = { status: "valid", certificateSerialHex: request.certificateSerialHex };
      else if (request.state === "rejected" || request.state === "failed")
        next = {
          status: "invalid",
          error: problemDocument(
            "unauthorized",
            `the certificate request was rejected by an operator${request.rejectionReason ? `: ${request.rejectionReason}` : ""}`,
          ),
        };
    }
    if (!next) return order;
    const change = next;
    await pool.transaction(async (tx) => {
      const locked = await lockAcmeOrder(tx, order.id);
      // Another request moved it meanwhile: its reading wins.
      if (!locked || locked.status !== order.status) return;
      if (change.status === "ready") await updateAcmeOrder(tx, order.id, { status: "ready" }, now);
      else
        await recordAcmeOrderOutcome(tx, audit, {
          orderId: order.id,
          outcome: change,
          actor: accountActor(order.accountId),
          now,
        });
    });
    return (await load(order.id))!;
  }

  async function checkReplaces(
    account: AcmeAccount,
    value: unknown,
    identifiers: readonly AcmeIdentifier[],
  ): Promise<{ certId: string; serialHex: string } | null> {
    if (value === undefined) return null;
    const parsed = typeof value === "string" ? parseAriCertId(value) : null;
    if (!parsed || typeof value !== "string")
      throw new AcmeProblem(
        "malformed",
        'replaces must be an ARI certID: base64url(AKI keyIdentifier) "." base64url(serial) (RFC 9773 §4.1)',
      );
    let record: Awaited<ReturnType<IssuanceService["get"]>>;
    try {
      record = await deps.issuance.get(parsed.serialHex);
    } catch (err) {
      if (isChanceryError(err, "not_found"))
        throw new AcmeProblem("malformed", "replaces names a certificate this CA did not issue");
      throw err;
    }
    const certificate = readCertificate(record.der);
    const aki = authorityKeyIdentifierOf(certificate);
    if (!aki || !Buffer.from(aki).equals(parsed.keyIdentifier))
      throw new AcmeProblem("malformed", "replaces names a certificate this CA did not issue");
    // RFC 9773 §5: only the account that holds the certificate may say it is replaced.
    if (record.requester !== accountActor(account.id))
      throw new AcmeProblem("unauthorized", "replaces names a certificate issued to another account");
    const sans = new Set(record.sans.map((san) => `${san.type}:${san.value}`));
    if (!identifiers.some((id) => sans.has(identifierKey(id))))
      throw new AcmeProblem("malformed", "the order shares no identifier with the certificate it replaces");
    return { certId: value, serialHex: parsed.serialHex };
  }

  function parseValidity(payload: Record<string, unknown>): { notBefore: Date | null; notAfter: Date | null } {
    const read = (field: "notBefore" | "notAfter"): Date | null => {
      const value = payload[field];
      if (value === undefined) return null;
      // RFC 8555 §7.1.3: RFC 3339 date-time.
      if (typeof value !== "string" || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i.test(value))
        throw new AcmeProblem("malformed", `${field} must be an RFC 3339 date-time`);
      const date = new Date(value);
      if (Number.isNaN(date.getTime())) throw new AcmeProblem("malformed", `${field} is not a valid date`);
      return date;
    };
    const notBefore = read("notBefore");
    const notAfter = read("notAfter");
    const now = clock.now().getTime();
    if (notAfter && notAfter.getTime() <= now) throw new AcmeProblem("malformed", "notAfter is in the past");
    if (notBefore && notAfter && notAfter <= notBefore)
      throw new AcmeProblem("malformed", "notAfter must be after notBefore");
    if (notBefore && notBefore.getTime() > now + deps.orderLifetimeMs)
      throw new AcmeProblem("malformed", "notBefore is later than this order can wait for");
    return { notBefore, notAfter };
  }

  return {
    async newOrder(account, directory, payload, sourceIp) {
      const identifiers = parseIdentifiers(payload["identifiers"], { allowWildcard: true });
      const profileField = payload["profile"];
      if (profileField !== undefined && typeof profileField !== "string")
        throw new AcmeProblem("malformed", "profile must be a string");
      const profileName = profileField ?? directory.defaultProfile;
      if (!directory.allowedProfiles.includes(profileName))
        throw new AcmeProblem(
          "invalidProfile",
          `profile "${profileName.slice(0, 64)}" is not offered by this directory (offered: ${directory.allowedProfiles.join(", ")})`,
        );
      const { notBefore, notAfter } = parseValidity(payload);
      if (notBefore || notAfter) {
        const { profile } = await deps.profiles.get(profileName);
        const start = (notBefore ?? clock.now()).getTime();
        if (notAfter && notAfter.getTime() - start > profile.validity.max * 1000)
          throw new AcmeProblem(
            "malformed",
            `notAfter is beyond what profile "${profileName}" allows (${Math.floor(profile.validity.max / 86_400)} days at most)`,
          );
      }
      const replaces = await checkReplaces(account, payload["replaces"], identifiers);
      const setHash = identifierSetHash(identifiers);
      for (const [key, limit, windowMs, what] of [
        [
          `orders-account:${directory.id}:${account.id}`,
          directory.rateLimits.ordersPerAccountPerHour,
          hourMs,
          "new orders for this account",
        ],
        [
          `orders-set:${directory.id}:${setHash}`,
          directory.rateLimits.ordersPerIdentifierSetPerWeek,
          weekMs,
          "orders for this exact set of identifiers",
        ],
      ] as const) {
        const decision = await deps.rateLimiter.consume(key, { limit, windowMs });
        if (!decision.allowed)
          throw new AcmeProblem("rateLimited", `too many ${what}; retry later`, {
            retryAfterSeconds: decision.retryAfterSeconds,
          });
      }
      const now = clock.now();
      const expiresAt = new Date(now.getTime() + deps.orderLifetimeMs);
      const id = randomUUID();
      const insert = () =>
        pool.transaction(async (tx) => {
          const authorizations = [];
          for (const identifier of identifiers)
            authorizations.push(
              await deps.authorizations.authorizationFor(tx, {
                account,
                directory,
                identifier,
                orderExpiresAt: expiresAt,
              }),
            );
          await insertAcmeOrder(tx, {
            id,
            accountId: account.id,
            status: authorizations.every((a) => a.status === "valid") ? "ready" : "pending",
            identifiers,
            identifierSetHash: setHash,
            profileName,
            notBefore,
            notAfter,
            expiresAt,
            replacesCertId: replaces?.certId ?? null,
            replacesSerialHex: replaces?.serialHex ?? null,
            authorizationIds: [...new Set(authorizations.map((a) => a.id))],
            now,
          });
          await audit.appendInTransaction(tx, [
            {
              actor: accountActor(account.id),
              action: "acme.order.create",
              target: `acme-order:${id}`,
              sourceIp,
              details: {
                directory: directory.name,
                identifiers: identifiers.map(identifierKey),
                profile: profileName,
                ...(replaces ? { replaces: replaces.serialHex } : {}),
              },
            },
          ]);
        });
      try {
        await insert();
      } catch (err) {
        // RFC 9773 §5: one live order per replaced certificate (acme_orders_replaces_once).
        if (!isUniqueViolation(err) || !replaces) throw err;
        // The order holding it may be dead without anyone having read it (expired, failed authorization):
        // bring it up to date once, and try again only if that freed the certificate.
        const holderId = await findLiveAcmeOrderReplacing(pool, replaces.serialHex);
        const holder = holderId ? await load(holderId) : null;
        const current = holder ? await refresh(holder) : null;
        if (current && current.status !== "invalid")
          throw new AcmeProblem("alreadyReplaced", "the certificate named in replaces already has a replacement order");
        try {
          await insert();
        } catch (retryErr) {
          if (isUniqueViolation(retryErr))
            throw new AcmeProblem(
              "alreadyReplaced",
              "the certificate named in replaces already has a replacement order",
            );
          throw retryErr;
        }
      }
      return (await load(id))!;
    },

    async get(account, id) {
      const order = await load(id);
      if (!order || order.accountId !== account.id) return null;
      return refresh(order);
    },

    async list(account, cursor) {
      let after: { createdAt: number; id: string } | null = null;
      if (cursor) {
        const match = /^(\d{1,15})\.([0-9a-f-]{36})$/.exec(cursor);
        if (!match) throw new AcmeProblem("malformed", "bad orders page cursor");
        after = { createdAt: Number(match[1]), id: match[2]! };
      }
      const rows = await listAcmeOrderIds(pool, account.id, after, pageSize + 1);
      const page = rows.slice(0, pageSize);
      const last = page[page.length - 1];
      return {
        orderIds: page.map((r) => r.id),
        next: rows.length > pageSize && last ? `${last.created_at}.${last.id}` : null,
      };
    },

    async finalize(account, directory, id, payload, sourceIp) {
      const current = await this.get(account, id);
      if (!current) throw new AcmeProblem("malformed", "no such order", { status: 404 });
      if (current.status !== "ready")
        throw new AcmeProblem(
          "orderNotReady",
          current.status === "pending"
            ? "the order's authorizations are not all valid yet"
            : `the order is ${current.status}; only a ready order can be finalized`,
        );
      const csrDer = checkFinalizeCsr(payload["csr"], current.identifiers, account.jwk);
      if (directory.caaCheck) await checkCaa(account, directory, current);
      const stored = await deps.profiles.get(current.profileName);
      const now = clock.now();
      // Claim the order: of two concurrent finalize calls, one moves it to processing, the other is refused.
      await pool.transaction(async (tx) => {
        const locked = await lockAcmeOrder(tx, id);
        if (locked?.status !== "ready")
          throw new AcmeProblem(
            "orderNotReady",
            `the order is ${locked?.status ?? "gone"}; only a ready order can be finalized`,
          );
        await updateAcmeOrder(tx, id, { status: "processing" }, now);
        await audit.appendInTransaction(tx, [
          {
            actor: accountActor(account.id),
            action: "acme.order.finalize",
            target: `acme-order:${id}`,
            sourceIp,
            details: { profile: current.profileName, approvalRequired: stored.profile.requiresApproval.required },
          },
        ]);
      });
      const issuanceInput = {
        caId: directory.caId,
        profileName: current.profileName,
        csrDer,
        approved: { sans: subjectAltNamesOf(current.identifiers) },
        validity: { notBefore: current.notBefore ?? undefined, notAfter: current.notAfter ?? undefined },
        requester: accountActor(account.id),
        sourceProtocol: "acme" as const,
        sourceIp,
      };
      try {
        if (stored.profile.requiresApproval.required) {
          // The order stays processing (clients poll, Retry-After) until operators decide in the admin queue.
          const request = await deps.approvals.submitFromProtocol(issuanceInput);
          await pool.transaction(async (tx) => {
            await updateAcmeOrder(tx, id, { status: "processing", requestId: request.id }, clock.now());
          });
        } else {
          const issued = await deps.issuance.issue(issuanceInput);
          await pool.transaction((tx) =>
            recordAcmeOrderOutcome(tx, audit, {
              orderId: id,
              outcome: { status: "valid", certificateSerialHex: issued.serialHex },
              actor: accountActor(account.id),
              sourceIp,
              now: clock.now(),
            }),
          );
        }
      } catch (err) {
        const problem = issuanceProblem(err);
        if (!problem) logger.error({ err, orderId: id }, "ACME issuance failed");
        const document =
          problem ?? problemDocument("serverInternal", "the certificate could not be issued; try a new order later");
        await pool.transaction((tx) =>
          recordAcmeOrderOutcome(tx, audit, {
            orderId: id,
            outcome: { status: "invalid", error: document },
            actor: accountActor(account.id),
            sourceIp,
            now: clock.now(),
          }),
        );
        if (problem) throw new AcmeProblem(acmeErrorTypeOf(problem), problem.detail, { status: problem.status ?? 400 });
        throw err;
      }
      return (await load(id))!;
    },
  };

  async function checkCaa(account: AcmeAccount, directory: AcmeDirectory, order: AcmeOrder): Promise<void> {
    const authorizations = await deps.authorizations.getMany(order.authorizationIds);
    const problems: ProblemDocument[] = [];
    for (const authorization of authorizations) {
      if (authorization.identifier.type !== "dns") continue; // RFC 8659 §3: CAA is for domain names.
      const method = authorization.trusted
        ? "eab-trusted"
        : (authorization.challenges.find((c) => c.status === "valid")?.type ?? "unknown");
      const problem = await deps.caa.check({
        domain: authorization.identifier.value,
        wildcard: authorization.wildcard,
        accountUri: account.id,
        validationMethod: method,
        caaIdentities: directory.caaIdentities,
      });
      if (problem) problems.push(problem);
    }
    if (problems.length === 1) {
      const only = problems[0]!;
      throw new AcmeProblem(acmeErrorTypeOf(only), only.detail, {
        ...(only.identifier ? { identifier: only.identifier } : {}),
        subproblems: problems,
      });
    }
    if (problems.length > 1)
      throw new AcmeProblem("caa", "CAA records forbid issuance for several identifiers; see subproblems", {
        subproblems: problems,
      });
  }
}

function authorizationFailure(failed: readonly AcmeAuthorization[]): ProblemDocument {
  const subproblems = failed.map((a) =>
    problemDocument(
      "unauthorized",
      `authorization for ${a.identifier.value} is ${a.status}` +
        (a.challenges.find((c) => c.error)?.error?.detail
          ? `: ${a.challenges.find((c) => c.error)!.error!.detail}`
          : ""),
      { identifier: a.identifier },
    ),
  );
  return problemDocument("unauthorized", subproblems.map((p) => p.detail).join("; "), { subproblems });
}

/** A core refusal of the CSR or the content, as the order's error; null for anything unexpected. */
function issuanceProblem(err: unknown): ProblemDocument | null {
  if (err instanceof AcmeProblem) return err.toDocument();
  if (isChanceryError(err, "bad_csr")) return problemDocument("badCSR", err.message);
  if (isChanceryError(err, "policy_violation")) return problemDocument("rejectedIdentifier", err.message);
  if (isChanceryError(err, "invalid_argument")) return problemDocument("badCSR", err.message);
  if (isChanceryError(err, "failed_precondition")) return problemDocument("unauthorized", err.message, { status: 403 });
  return null;
}
