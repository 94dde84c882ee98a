import { create, type JsonObject } from "@bufbuild/protobuf";
import { type Timestamp, timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import type { SealedAuditEvent } from "../core/audit/audit-event.ts";
import type { AuditEventFilter, AuditLog } from "../core/audit/audit-log.ts";
import {
  type AuditEvent,
  AuditEventSchema,
  type AuditService,
  ListAuditEventsResponseSchema,
  type AuditEventFilter as ProtoFilter,
  VerifyAuditChainResponseSchema,
} from "../gen/chancery/admin/v1/audit_pb.js";
import { pageSize } from "./conversions.ts";
import { decodePageToken, encodePageToken } from "./page-token.ts";
import { requireRole } from "./principal.ts";

const exportBatch = 1000;

/** chancery.admin.v1.AuditService: admins read, export and verify the audit chain. */
export function createAuditAdmin(deps: { audit: AuditLog }): ServiceImpl<typeof AuditService> {
  const { audit } = deps;
  return {
    async listAuditEvents(request, context) {
      requireRole(context, "admin");
      const limit = pageSize(request.pageSize);
      const cursor = request.pageToken ? decodePageToken("audit-events", request.pageToken) : undefined;
      const events = await audit.find(filterFromProto(request.filter), { order: "newest", cursor, limit: limit + 1 });
      const page = events.slice(0, limit);
      return create(ListAuditEventsResponseSchema, {
        auditEvents: page.map(toProto),
        nextPageToken: events.length > limit ? encodePageToken("audit-events", page[page.length - 1]!.seq) : "",
      });
    },

    async *exportAuditEvents(request, context) {
      requireRole(context, "admin");
      const filter = filterFromProto(request.filter);
      let cursor: bigint | undefined;
      // Pages of events, oldest first, until none are left or the client goes away.
      while (!context.signal.aborted) {
        const events = await audit.find(filter, { order: "oldest", cursor, limit: exportBatch });
        for (const event of events) yield toProto(event);
        if (events.length < exportBatch) return;
        cursor = events[events.length - 1]!.seq;
      }
    },

    async verifyAuditChain(_request, context) {
      requireRole(context, "admin");
      const report = await audit.verify();
      return create(VerifyAuditChainResponseSchema, {
        intact: report.ok,
        checkedEvents: BigInt(report.checked),
        brokenAtSequence: report.ok ? 0n : report.brokenAtSeq,
        reason: report.ok ? "" : report.reason,
      });
    },
  };
}

function filterFromProto(filter: ProtoFilter | undefined): AuditEventFilter {
  if (!filter) return {};
  const date = (t: Timestamp | undefined) => (t ? timestampDate(t) : undefined);
  return {
    actor: filter.actor || undefined,
    action: filter.action || undefined,
    target: filter.target || undefined,
    from: date(filter.startTime),
    to: date(filter.endTime),
  };
}

function toProto(event: SealedAuditEvent): AuditEvent {
  return create(AuditEventSchema, {
    sequence: event.seq,
    occurTime: timestampFromDate(event.occurredAt),
    actor: event.actor,
    action: event.action,
    target: event.target,
    sourceIp: event.sourceIp ?? "",
    details: event.details as JsonObject,
    previousHash: event.prevHash.toString("hex"),
    hash: event.hash.toString("hex"),
  });
}
