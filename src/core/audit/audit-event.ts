/** A JSON value that survives a round trip through Postgres jsonb unchanged. */
export type AuditDetail = string | boolean | number | null | AuditDetail[] | { [key: string]: AuditDetail };

/** One state change, as a caller describes it. */
export interface AuditEventInput {
  /** Who did it: "user:<id>", "acme-account:<id>", "system", "bootstrap", ... */
  actor: string;
  /** Dotted verb, e.g. "certificate.issue", "ca.create", "certificate.revoke". */
  action: string;
  /** What it was done to, e.g. "certificate:<serial>", "ca:<id>". */
  target: string;
  sourceIp?: string | undefined;
  details?: Record<string, AuditDetail>;
  /** Defaults to the clock's now when the event is sealed. */
  occurredAt?: Date;
}

/** An event as it stands in the chain. */
export interface SealedAuditEvent {
  seq: bigint;
  occurredAt: Date;
  actor: string;
  action: string;
  target: string;
  sourceIp: string | null;
  details: Record<string, AuditDetail>;
  prevHash: Buffer;
  hash: Buffer;
}
