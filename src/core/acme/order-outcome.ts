import type { CommonQueryMethods } from "slonik";
import { updateAcmeOrder } from "../../store/acme-order-store.ts";
import type { AuditLog } from "../audit/audit-log.ts";
import type { ProblemDocument } from "./acme-problem.ts";

/** How an order ends (RFC 8555 §7.1.6): valid with its certificate, or invalid with a problem. */
export type AcmeOrderOutcome =
  | { readonly status: "valid"; readonly certificateSerialHex: string }
  | { readonly status: "invalid"; readonly error: ProblemDocument };

/**
 * Records an order's final state and its audit event in the caller's
 * transaction: every path that ends an order (finalize, a decided approval,
 * expiry, a failed or deactivated authorization) goes through here, so the
 * row and the audit trail always say the same thing.
 */
export async function recordAcmeOrderOutcome(
  tx: CommonQueryMethods,
  audit: AuditLog,
  input: { orderId: string; outcome: AcmeOrderOutcome; actor: string; sourceIp?: string | undefined; now: Date },
): Promise<void> {
  const { orderId, outcome } = input;
  if (outcome.status === "valid")
    await updateAcmeOrder(
      tx,
      orderId,
      { status: "valid", certificateSerialHex: outcome.certificateSerialHex },
      input.now,
    );
  else
    await updateAcmeOrder(
      tx,
      orderId,
      { status: "invalid", error: outcome.error as unknown as Record<string, unknown> },
      input.now,
    );
  await audit.appendInTransaction(tx, [
    {
      actor: input.actor,
      action: `acme.order.${outcome.status}`,
      target: `acme-order:${orderId}`,
      sourceIp: input.sourceIp,
      details:
        outcome.status === "valid"
          ? { certificate: outcome.certificateSerialHex }
          : { problem: outcome.error.type, detail: outcome.error.detail },
    },
  ]);
}
