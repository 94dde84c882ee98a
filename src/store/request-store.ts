import { type CommonQueryMethods, sql } from "slonik";
import { z } from "zod";
import { stringValueTypes } from "../core/x509/string-value-type.ts";

const statuses = ["pending", "issued", "rejected", "applied", "failed"] as const;
export type RequestStatus = (typeof statuses)[number];

const kinds = ["certificate", "profile_change", "profile_deletion"] as const;
export type RequestKindColumn = (typeof kinds)[number];

const sanRow = z.union([
  z.object({ type: z.enum(["dns", "ip", "email", "uri"]), value: z.string() }),
  // An otherName SAN keeps the OID registry id it was asked by (e.g. "upn").
  z.object({ type: z.literal("otherName"), name: z.string(), value: z.string() }),
]);

const approvalRow = z.object({ approver_id: z.string(), approved_at: z.number() });

const protocols = ["acme", "scep", "est"] as const;
export type RequestProtocolColumn = (typeof protocols)[number];

const subjectAttributeRow = z.object({
  type: z.string(),
  value: z.string(),
  valueType: z.enum(stringValueTypes).optional(),
});

const requestRow = z.object({
  id: z.string(),
  kind: z.enum(kinds),
  /** Null for a request a protocol front end submitted (see migrations/0017). */
  requester_id: z.string().nullable(),
  protocol_requester: z.string().nullable(),
  source_protocol: z.enum(protocols).nullable(),
  source_ip: z.string().nullable(),
  not_before: z.number().nullable(),
  not_after: z.number().nullable(),
  subject: z.array(subjectAttributeRow).nullable(),
  status: z.enum(statuses),
  free_form: z.boolean(),
  common_name: z.string().nullable(),
  sans: z.array(sanRow),
  key_algorithm: z.string().nullable(),
  csr_der: z.instanceof(Buffer).nullable(),
  comment: z.string(),
  ca_id: z.string().nullable(),
  profile_name: z.string().nullable(),
  required_approvals: z.number().nullable(),
  certificate_serial_hex: z.string().nullable(),
  has_server_key: z.boolean(),
  certificate_der: z.instanceof(Buffer).nullable(),
  rejection_reason: z.string().nullable(),
  rejected_by: z.string().nullable(),
  /** Profile changes: the proposal (see migrations/0009); the core parses it. */
  payload: z.unknown(),
  failure_reason: z.string().nullable(),
  approvals: z.array(approvalRow),
  created_at: z.number(),
  updated_at: z.number(),
});

export type RequestRow = z.infer<typeof requestRow>;

const requestPageRow = requestRow.extend({ cursor_time: z.string() });

export type RequestPageRow = z.infer<typeof requestPageRow>;

// The sealed key is left out on purpose: only findSealedRequestKey reads it.
const columns = sql.fragment`requests.id, requests.kind, requests.requester_id, requests.protocol_requester,
  requests.source_protocol, requests.source_ip, requests.not_before, requests.not_after, requests.subject,
  requests.status, requests.free_form,
  requests.common_name, requests.sans, requests.key_algorithm, requests.csr_der, requests.comment, requests.ca_id,
  requests.profile_name, requests.required_approvals, requests.certificate_serial_hex,
  requests.sealed_private_key IS NOT NULL AS has_server_key,
  (SELECT c.der FROM certificates c WHERE c.serial_hex = requests.certificate_serial_hex) AS certificate_der,
  requests.rejection_reason, requests.rejected_by, requests.payload, requests.failure_reason,
  COALESCE((
    SELECT json_agg(json_build_object('approver_id', a.approver_id,
      'approved_at', (extract(epoch FROM a.approved_at) * 1000)::bigint) ORDER BY a.approved_at, a.approver_id)
    FROM request_approvals a WHERE a.request_id = requests.id), '[]'::json) AS approvals,
  requests.created_at, requests.updated_at`;

export interface NewRequestRow {
  id: string;
  kind: RequestKindColumn;
  requesterId: string;
  freeForm: boolean;
  commonName: string | null;
  sans: ReadonlyArray<{ type: string; value: string; name?: string }>;
  keyAlgorithm: string | null;
  csrDer: Uint8Array | null;
  comment: string;
  /** Profile changes: the profile changed, and the approvals its rule asks for now. */
  profileName: string | null;
  requiredApprovals: number | null;
  /** Profile changes only (JSON). */
  payload: unknown;
  createdAt: Date;
}

export async function insertRequest(tx: CommonQueryMethods, row: NewRequestRow): Promise<void> {
  await tx.query(sql.unsafe`
    INSERT INTO requests (id, kind, requester_id, status, free_form, common_name, sans, key_algorithm, csr_der,
      comment, profile_name, required_approvals, payload, created_at, updated_at)
    VALUES (${row.id}, ${row.kind}, ${row.requesterId}, 'pending', ${row.freeForm}, ${row.commonName},
      ${sql.jsonb(row.sans.map(sanJson))}, ${row.keyAlgorithm},
      ${row.csrDer ? sql.binary(Buffer.from(row.csrDer)) : null}, ${row.comment}, ${row.profileName},
      ${row.requiredApprovals}, ${row.payload === null || row.payload === undefined ? null : sql.jsonb(row.payload as never)},
      ${sql.timestamp(row.createdAt)}, ${sql.timestamp(row.createdAt)})`);
}

/** A certificate request from a protocol front end: CSR, CA and profile are fixed now (see migrations/0017). */
export interface NewProtocolRequestRow {
  id: string;
  protocolRequester: string;
  sourceProtocol: RequestProtocolColumn;
  sourceIp: string | null;
  caId: string;
  profileName: string;
  requiredApprovals: number;
  csrDer: Uint8Array;
  /** Null: the CSR's subject. */
  subject: ReadonlyArray<{ type: string; value: string; valueType?: string | undefined }> | null;
  /** For approvers to read: the common name the certificate is to carry. */
  commonName: string | null;
  sans: ReadonlyArray<{ type: string; value: string; name?: string }>;
  notBefore: Date | null;
  notAfter: Date | null;
  createdAt: Date;
}

export async function insertProtocolRequest(tx: CommonQueryMethods, row: NewProtocolRequestRow): Promise<void> {
  const subject =
    row.subject === null
      ? null
      : sql.jsonb(
          row.subject.map((a) =>
            a.valueType === undefined
              ? { type: a.type, value: a.value }
              : { type: a.type, value: a.value, valueType: a.valueType },
          ),
        );
  await tx.query(sql.unsafe`
    INSERT INTO requests (id, kind, requester_id, protocol_requester, source_protocol, source_ip, status, free_form,
      common_name, sans, csr_der, subject, not_before, not_after, ca_id, profile_name, required_approvals,
      created_at, updated_at)
    VALUES (${row.id}, 'certificate', NULL, ${row.protocolRequester}, ${row.sourceProtocol}, ${row.sourceIp},
      'pending', FALSE, ${row.commonName}, ${sql.jsonb(row.sans.map(sanJson))},
      ${sql.binary(Buffer.from(row.csrDer))}, ${subject},
      ${row.notBefore ? sql.timestamp(row.notBefore) : null}, ${row.notAfter ? sql.timestamp(row.notAfter) : null},
      ${row.caId}, ${row.profileName}, ${row.requiredApprovals},
      ${sql.timestamp(row.createdAt)}, ${sql.timestamp(row.createdAt)})`);
}

export async function findRequestById(db: CommonQueryMethods, id: string): Promise<RequestRow | null> {
  return db.maybeOne(sql.type(requestRow)`SELECT ${columns} FROM requests WHERE requests.id = ${id}`);
}

/**
 * Locks the request row for the rest of the transaction: approvals,
 * rejections and the issuance they lead to serialise per request, so two
 * approvers at the same moment cannot both issue.
 */
export async function lockRequestById(tx: CommonQueryMethods, id: string): Promise<RequestRow | null> {
  return tx.maybeOne(sql.type(requestRow)`SELECT ${columns} FROM requests WHERE requests.id = ${id} FOR UPDATE`);
}

/** Which requests a listing or count covers; the core decides which applies to a caller. */
export type RequestScope =
  | { readonly kind: "all" }
  | { readonly kind: "own"; readonly userId: string }
  /** Own requests, certificate requests with no CA chosen yet, and certificate requests through one of these CAs. */
  | { readonly kind: "own-unassigned-or-cas"; readonly userId: string; readonly caIds: readonly string[] };

function scopeCondition(scope: RequestScope) {
  switch (scope.kind) {
    case "all":
      return sql.fragment`TRUE`;
    case "own":
      return sql.fragment`requests.requester_id = ${scope.userId}`;
    case "own-unassigned-or-cas":
      return sql.fragment`(requests.requester_id = ${scope.userId} OR (requests.kind = 'certificate'
        AND (requests.ca_id IS NULL OR requests.ca_id = ANY(${sql.array([...scope.caIds], "uuid")}))))`;
  }
}

/**
 * Up to `limit` requests in `scope` (and `status` and `kind`, when given) after the
 * (created_at, id) position `after` (exclusive; null for the first page),
 * oldest first. `cursor_time` is created_at as UTC text at microsecond
 * precision, for the next page's position.
 */
export async function listRequests(
  db: CommonQueryMethods,
  options: {
    scope: RequestScope;
    status: RequestStatus | null;
    kind: RequestKindColumn | null;
    after: { createdAt: string; id: string } | null;
    limit: number;
  },
): Promise<readonly RequestPageRow[]> {
  const conditions = [scopeCondition(options.scope)];
  if (options.status !== null) conditions.push(sql.fragment`requests.status = ${options.status}`);
  if (options.kind !== null) conditions.push(sql.fragment`requests.kind = ${options.kind}`);
  if (options.after !== null)
    conditions.push(
      sql.fragment`(requests.created_at, requests.id) > (${options.after.createdAt}::timestamptz, ${options.after.id}::uuid)`,
    );
  return db.any(sql.type(requestPageRow)`
    SELECT ${columns},
      to_char(requests.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS cursor_time
    FROM requests WHERE ${sql.join(conditions, sql.fragment` AND `)}
    ORDER BY requests.created_at, requests.id LIMIT ${options.limit}`);
}

export async function countRequestsByStatus(
  db: CommonQueryMethods,
  scope: RequestScope,
): Promise<Record<RequestStatus, number>> {
  const rows = await db.any(sql.type(z.object({ status: z.enum(statuses), n: z.number() }))`
    SELECT requests.status, count(*)::int AS n FROM requests WHERE ${scopeCondition(scope)} GROUP BY requests.status`);
  const counts: Record<RequestStatus, number> = { pending: 0, issued: 0, rejected: 0, applied: 0, failed: 0 };
  for (const row of rows) counts[row.status] = row.n;
  return counts;
}

export async function insertApproval(
  tx: CommonQueryMethods,
  /** requesterId: the request's requester_id, null for a protocol request (the database checks which). */
  approval: { requestId: string; requesterId: string | null; approverId: string; approvedAt: Date },
): Promise<void> {
  await tx.query(sql.unsafe`
    INSERT INTO request_approvals (request_id, requester_id, from_protocol, approver_id, approved_at)
    VALUES (${approval.requestId}, ${approval.requesterId}, ${approval.requesterId === null}, ${approval.approverId},
      ${sql.timestamp(approval.approvedAt)})`);
}

/** What the first approver fixes: CA, profile and, for a free-form request, the content. */
export interface RequestChoice {
  caId: string;
  profileName: string;
  requiredApprovals: number;
  commonName: string | null;
  sans: ReadonlyArray<{ type: string; value: string; name?: string }>;
  keyAlgorithm: string | null;
  csrDer: Uint8Array | null;
}

export async function updateRequestChoice(
  tx: CommonQueryMethods,
  id: string,
  choice: RequestChoice,
  updatedAt: Date,
): Promise<void> {
  await tx.query(sql.unsafe`
    UPDATE requests SET ca_id = ${choice.caId}, profile_name = ${choice.profileName},
      required_approvals = ${choice.requiredApprovals}, common_name = ${choice.commonName},
      sans = ${sql.jsonb(choice.sans.map(sanJson))},
      key_algorithm = ${choice.keyAlgorithm},
      csr_der = ${choice.csrDer ? sql.binary(Buffer.from(choice.csrDer)) : null},
      updated_at = ${sql.timestamp(updatedAt)}
    WHERE id = ${id}`);
}

export async function markRequestIssued(
  tx: CommonQueryMethods,
  id: string,
  fields: { serialHex: string; sealedPrivateKey: Buffer | null; updatedAt: Date },
): Promise<void> {
  await tx.query(sql.unsafe`
    UPDATE requests SET status = 'issued', certificate_serial_hex = ${fields.serialHex},
      sealed_private_key = ${fields.sealedPrivateKey ? sql.binary(fields.sealedPrivateKey) : null},
      updated_at = ${sql.timestamp(fields.updatedAt)}
    WHERE id = ${id} AND status = 'pending'`);
}

export async function markRequestRejected(
  tx: CommonQueryMethods,
  id: string,
  fields: { reason: string; rejectedBy: string; updatedAt: Date },
): Promise<void> {
  await tx.query(sql.unsafe`
    UPDATE requests SET status = 'rejected', rejection_reason = ${fields.reason}, rejected_by = ${fields.rejectedBy},
      updated_at = ${sql.timestamp(fields.updatedAt)}
    WHERE id = ${id} AND status = 'pending'`);
}

/** A profile change's approvals as its profile's rule says now (it may have changed since submission). */
export async function updateRequiredApprovals(
  tx: CommonQueryMethods,
  id: string,
  requiredApprovals: number,
  updatedAt: Date,
): Promise<void> {
  await tx.query(sql.unsafe`
    UPDATE requests SET required_approvals = ${requiredApprovals}, updated_at = ${sql.timestamp(updatedAt)}
    WHERE id = ${id}`);
}

export async function markRequestApplied(tx: CommonQueryMethods, id: string, updatedAt: Date): Promise<void> {
  await tx.query(sql.unsafe`
    UPDATE requests SET status = 'applied', updated_at = ${sql.timestamp(updatedAt)}
    WHERE id = ${id} AND status = 'pending'`);
}

export async function markRequestFailed(
  tx: CommonQueryMethods,
  id: string,
  fields: { reason: string; updatedAt: Date },
): Promise<void> {
  await tx.query(sql.unsafe`
    UPDATE requests SET status = 'failed', failure_reason = ${fields.reason},
      updated_at = ${sql.timestamp(fields.updatedAt)}
    WHERE id = ${id} AND status = 'pending'`);
}

/** The sealed PKCS#8 of a server-generated key (open it with the KEK), or null. */
export async function findSealedRequestKey(db: CommonQueryMethods, id: string): Promise<Buffer | null> {
  const row = await db.maybeOne(sql.type(z.object({ sealed_private_key: z.instanceof(Buffer).nullable() }))`
    SELECT sealed_private_key FROM requests WHERE id = ${id}`);
  return row?.sealed_private_key ?? null;
}

function sanJson(san: { type: string; value: string; name?: string }): { type: string; value: string; name?: string } {
  return san.name === undefined
    ? { type: san.type, value: san.value }
    : { type: san.type, name: san.name, value: san.value };
}
