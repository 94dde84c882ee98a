import { createHash } from "node:crypto";
import type { AuditDetail } from "./audit-event.ts";

export const genesisHash = Buffer.alloc(32);

/**
 * hash(n) = SHA-256("chancery-audit-v1" || prev_hash || seq || canonical JSON
 * of the event). Including seq and prev_hash makes a deleted, reordered or
 * edited row break every later link; the canonical JSON (sorted keys,
 * millisecond ISO time) is what Postgres' jsonb hands back unchanged, so the
 * verifier recomputes the exact bytes from the stored columns.
 */
export function auditEventHash(
  prevHash: Uint8Array,
  event: {
    seq: bigint;
    occurredAt: Date;
    actor: string;
    action: string;
    target: string;
    sourceIp: string | null;
    details: Record<string, AuditDetail>;
  },
): Buffer {
  const seq = Buffer.alloc(8);
  seq.writeBigUInt64BE(event.seq);
  const body = canonicalJson({
    actor: event.actor,
    action: event.action,
    target: event.target,
    sourceIp: event.sourceIp,
    occurredAt: event.occurredAt.toISOString(),
    details: event.details,
  });
  return createHash("sha256").update("chancery-audit-v1").update(prevHash).update(seq).update(body).digest();
}

export function canonicalJson(value: AuditDetail | undefined): string {
  if (value === null || value === undefined) return "null";
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (typeof value === "object") {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`).join(",")}}`;
  }
  return JSON.stringify(value);
}
