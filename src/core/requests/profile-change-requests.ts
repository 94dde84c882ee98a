import { randomUUID } from "node:crypto";
import type { DatabasePool, DatabaseTransactionConnection } from "slonik";
import { z } from "zod";
import { profileHasCertificates } from "../../store/profile-store.ts";
import {
  insertApproval,
  insertRequest,
  markRequestApplied,
  markRequestFailed,
  type RequestRow,
  updateRequiredApprovals,
} from "../../store/request-store.ts";
import type { AuditDetail, AuditEventInput } from "../audit/audit-event.ts";
import type { AuditLog } from "../audit/audit-log.ts";
import type { Clock } from "../clock.ts";
import { ChanceryError, isChanceryError } from "../errors.ts";
import { type Profile, parseProfile } from "../profiles/profile-schema.ts";
import type { ProfileService, StoredProfile } from "../profiles/profile-service.ts";
import type {
  ApproveRequestInput,
  ProfileChangeProposal,
  RequestCaller,
  SubmitProfileChangeInput,
  SubmitProfileDeletionInput,
} from "./request.ts";
import { hasContent } from "./request-content.ts";

/** Runs `fn` outside the caller's transaction context (see request-service.ts, approve). */
export type Outside = <T>(fn: () => Promise<T>) => Promise<T>;

export interface ProfileChangeRequests {
  /** Admins only. Validates the proposal now, as UpdateProfile would; returns the new request's id. */
  submitChange(input: SubmitProfileChangeInput, comment: string, caller: RequestCaller): Promise<string>;
  /** Admins only; refused while certificates issued under the profile exist. Returns the new request's id. */
  submitDeletion(input: SubmitProfileDeletionInput, comment: string, caller: RequestCaller): Promise<string>;
  /**
   * One admin's approval of a profile change request, inside approve()'s
   * transaction with the request row locked and the queue's common checks
   * made (visible, not the requester's own, pending, not yet approved by the
   * caller). Returns null, or the failed_precondition to answer once the
   * transaction has committed the request as failed.
   */
  approveLocked(
    tx: DatabaseTransactionConnection,
    row: RequestRow,
    input: ApproveRequestInput,
    caller: RequestCaller,
    outside: Outside,
  ): Promise<ChanceryError | null>;
}

/** The stored proposal (requests.payload, see migrations/0009). */
const payloadSchema = z.object({
  base: z.unknown(),
  proposed: z.unknown().optional(),
  updateMask: z.array(z.string()).optional(),
});

/** The proposal of a profile change row; null for a certificate request. */
export function proposalOf(row: RequestRow): ProfileChangeProposal | null {
  if (row.kind === "certificate") return null;
  const payload = payloadSchema.parse(row.payload);
  const base = parseProfile(payload.base);
  if (row.kind === "profile_deletion") return { kind: "profile_deletion", base };
  return {
    kind: "profile_change",
    proposed: parseProfile(payload.proposed),
    updateMask: payload.updateMask ?? [],
    base,
  };
}

export const staleProposal = "the profile changed since this request was submitted";

/**
 * Whether two definitions are the same profile. Both are parsed profiles
 * (defaults filled in), compared as JSON with sorted keys so that neither
 * key order nor a schema default added since submission tells them apart.
 *
 * The stale check compares definitions rather than the row's updated_at:
 * what approvers approved is a change from one definition to another, and
 * updated_at is the writing transaction's start time at millisecond
 * precision as read back, so two edits could share it.
 */
export function sameDefinition(a: Profile, b: Profile): boolean {
  return canonicalJson(parseProfile(a)) === canonicalJson(parseProfile(b));
}

function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([x], [y]) => (x < y ? -1 : 1)))
      : v,
  );
}

/** Distinct approvals a change to this profile needs: its own rule, one when it has none. */
export function requiredApprovalsFor(profile: Profile): number {
  return profile.requiresApproval.required ? profile.requiresApproval.approvers : 1;
}

/**
 * Changing and deleting a profile through the approval queue.
 *
 * Only admins submit, approve and reject these (operators do not even see
 * them; the queue's scope keeps them to admins). A change records the whole
 * proposed definition and the one it was proposed against (`base`). Each
 * approval reads the profile's current rule for the number of distinct
 * approvers; the final approval applies the change through the profile
 * service inside the approval's transaction, under the profile row lock and
 * only while the profile still has the base definition, so the approval,
 * the change, the request's new state and their audit events commit
 * together or not at all.
 *
 * A change that cannot be applied (the profile changed or was deleted
 * meanwhile, certificates now exist under a profile to be deleted, the
 * proposal no longer validates) is final: the request is marked failed with
 * the reason, audited, and the approver gets failed_precondition. Approving
 * it again could never succeed (certificates are never removed; the base is
 * gone), so nothing is left pending. Other errors (the database) roll the
 * approval back whole, as for certificate requests.
 */
export function createProfileChangeRequests(deps: {
  pool: DatabasePool;
  audit: AuditLog;
  clock: Clock;
  profiles: ProfileService;
}): ProfileChangeRequests {
  const { pool, audit, clock, profiles } = deps;
  const actorOf = (caller: RequestCaller) => ({ actor: `user:${caller.userId}`, sourceIp: caller.sourceIp });

  async function insert(
    kind: "profile_change" | "profile_deletion",
    current: StoredProfile,
    payload: Record<string, unknown>,
    comment: string,
    caller: RequestCaller,
    details: Record<string, AuditDetail>,
  ): Promise<string> {
    const id = randomUUID();
    const now = clock.now();
    const name = current.profile.name;
    await pool.transaction(async (tx) => {
      await insertRequest(tx, {
        id,
        kind,
        requesterId: caller.userId,
        freeForm: false,
        commonName: null,
        sans: [],
        keyAlgorithm: null,
        csrDer: null,
        comment,
        profileName: name,
        requiredApprovals: requiredApprovalsFor(current.profile),
        payload,
        createdAt: now,
      });
      await audit.appendInTransaction(tx, [
        {
          ...actorOf(caller),
          action: "request.submit",
          target: `request:${id}`,
          occurredAt: now,
          details: { kind, profile: name, ...details },
        },
      ]);
    });
    return id;
  }

  async function fail(
    tx: DatabaseTransactionConnection,
    row: RequestRow,
    reason: string,
    caller: RequestCaller,
    now: Date,
  ): Promise<ChanceryError> {
    await markRequestFailed(tx, row.id, { reason, updatedAt: now });
    await audit.appendInTransaction(tx, [
      {
        ...actorOf(caller),
        action: "request.fail",
        target: `request:${row.id}`,
        occurredAt: now,
        details: { kind: row.kind, profile: row.profile_name, reason },
      },
    ]);
    return new ChanceryError(
      "failed_precondition",
      `${reason}; request requests/${row.id} is now failed (nothing was changed): submit a new one if still wanted`,
    );
  }

  return {
    async submitChange(input, comment, caller) {
      requireAdmin(caller, "submit profile changes");
      const current = await profiles.get(input.profileName);
      const proposed = await profiles.check(input.change(current.profile));
      if (proposed.name !== current.profile.name)
        throw new ChanceryError(
          "invalid_argument",
          `profile name cannot change (from "${current.profile.name}" to "${proposed.name}")`,
        );
      if (sameDefinition(proposed, current.profile))
        throw new ChanceryError(
          "invalid_argument",
          `the proposed profile is the same as profile "${current.profile.name}" as it stands: nothing to approve`,
        );
      const updateMask = [...input.updateMask];
      return insert("profile_change", current, { base: current.profile, proposed, updateMask }, comment, caller, {
        updateMask,
      });
    },

    async submitDeletion(input, comment, caller) {
      requireAdmin(caller, "submit profile deletions");
      const current = await profiles.get(input.profileName);
      // Certificates are never removed, so a deletion refused now could never be applied.
      if (await profileHasCertificates(pool, current.id))
        throw new ChanceryError(
          "failed_precondition",
          `profile "${current.profile.name}" cannot be deleted: certificates were issued under it`,
        );
      return insert("profile_deletion", current, { base: current.profile }, comment, caller, {});
    },

    async approveLocked(tx, row, input, caller, outside) {
      // Unreachable through the queue's scope (only admins see these), kept so the rule stands on its own.
      requireAdmin(caller, "approve profile changes");
      if (input.caId || input.profileName || hasContent(input.content))
        throw new ChanceryError(
          "invalid_argument",
          "a profile change takes no certificate_authority, profile or certificate content: approve it as it is",
        );
      const proposal = proposalOf(row)!;
      const name = row.profile_name!;
      const now = clock.now();
      const by = actorOf(caller);
      const target = `request:${row.id}`;

      // Nothing is recorded for an approval of a change that can no longer apply: the request fails instead.
      const current = await outside(() => profiles.get(name)).catch((err: unknown) => {
        if (isChanceryError(err, "not_found")) return null;
        throw err;
      });
      if (!current) return fail(tx, row, `profile "${name}" no longer exists`, caller, now);
      if (!sameDefinition(current.profile, proposal.base)) return fail(tx, row, staleProposal, caller, now);

      const required = requiredApprovalsFor(current.profile);
      const count = row.approvals.length + 1;
      await insertApproval(tx, {
        requestId: row.id,
        requesterId: row.requester_id,
        approverId: caller.userId,
        approvedAt: now,
      });
      await updateRequiredApprovals(tx, row.id, required, now);
      const approved: AuditEventInput = {
        ...by,
        action: "request.approve",
        target,
        occurredAt: now,
        details: { kind: row.kind, profile: name, approvals: count, requiredApprovals: required },
      };
      await audit.appendInTransaction(tx, [approved]);
      if (count < required) return null;

      // The final approval. The change runs in a savepoint: a refusal rolls back
      // only the change, and the request is then marked failed in this transaction.
      const request = `requests/${row.id}`;
      const unchanged = (locked: Profile) => {
        if (!sameDefinition(locked, proposal.base)) throw new ChanceryError("failed_precondition", staleProposal);
      };
      try {
        await tx.transaction(async (savepoint) => {
          if (proposal.kind === "profile_change")
            await profiles.updateInTransaction(
              savepoint,
              name,
              (locked) => {
                unchanged(locked);
                return proposal.proposed;
              },
              by,
              { request },
            );
          else await profiles.deleteInTransaction(savepoint, name, by, { check: unchanged, details: { request } });
        });
      } catch (err) {
        if (!isChanceryError(err) || !["invalid_argument", "failed_precondition", "not_found"].includes(err.code))
          throw err;
        const reason =
          err.code === "invalid_argument"
            ? `the proposed profile is no longer valid: ${err.message}`
            : err.code === "not_found"
              ? `profile "${name}" no longer exists`
              : err.message;
        return fail(tx, row, reason, caller, now);
      }
      await markRequestApplied(tx, row.id, now);
      await audit.appendInTransaction(tx, [
        {
          ...by,
          action: "request.apply",
          target,
          occurredAt: now,
          details: {
            kind: row.kind,
            profile: name,
            requester: `user:${row.requester_id}`,
            approvers: [...row.approvals.map((a) => a.approver_id), caller.userId],
          },
        },
      ]);
      return null;
    },
  };
}

function requireAdmin(caller: RequestCaller, what: string): void {
  if (caller.role !== "admin") throw new ChanceryError("permission_denied", `only admins ${what}`);
}
