import { type CommonQueryMethods, sql } from "slonik";
import { z } from "zod";

export interface NewCertificateRow {
  id: string;
  caId: string;
  profileId: string | null;
  serialHex: string;
  fingerprintSha256: string;
  subject: string;
  sans: Array<{ type: string; value: string }>;
  notBefore: Date;
  notAfter: Date;
  der: Buffer;
  requester: string;
  sourceProtocol: string;
  issuedAt: Date;
}

const certificateRow = z.object({
  id: z.string(),
  ca_id: z.string(),
  profile_id: z.string().nullable(),
  serial_hex: z.string(),
  fingerprint_sha256: z.string(),
  subject: z.string(),
  sans: z.array(z.object({ type: z.string(), value: z.string() })),
  not_before: z.number(),
  not_after: z.number(),
  der: z.instanceof(Buffer),
  requester: z.string(),
  source_protocol: z.string(),
  status: z.enum(["valid", "revoked"]),
  revoked_at: z.number().nullable(),
  revocation_reason: z.number().nullable(),
  issued_at: z.number(),
});

export type CertificateRow = z.infer<typeof certificateRow>;

const columns = sql.fragment`id, ca_id, profile_id, serial_hex, fingerprint_sha256, subject, sans, not_before, not_after,
  der, requester, source_protocol, status, revoked_at, revocation_reason, issued_at`;

/** One multi-row INSERT for a whole batch (the group-commit write path). */
export async function insertCertificates(tx: CommonQueryMethods, rows: NewCertificateRow[]): Promise<void> {
  if (rows.length === 0) return;
  await tx.query(sql.unsafe`
    INSERT INTO certificates (id, ca_id, profile_id, serial_hex, fingerprint_sha256, subject, sans, not_before,
      not_after, der, requester, source_protocol, issued_at)
    SELECT id, ca_id, profile_id, serial_hex, fingerprint_sha256, subject, sans::jsonb, not_before, not_after, der,
      requester, source_protocol, issued_at
    FROM ${sql.unnest(
      rows.map((r) => [
        r.id,
        r.caId,
        r.profileId,
        r.serialHex,
        r.fingerprintSha256,
        r.subject,
        JSON.stringify(r.sans),
        r.notBefore.toISOString(),
        r.notAfter.toISOString(),
        `\\x${r.der.toString("hex")}`,
        r.requester,
        r.sourceProtocol,
        r.issuedAt.toISOString(),
      ]),
      [
        "uuid",
        "uuid",
        "uuid",
        "text",
        "text",
        "text",
        "text",
        "timestamptz",
        "timestamptz",
        "bytea",
        "text",
        "text",
        "timestamptz",
      ],
    )} AS t(id, ca_id, profile_id, serial_hex, fingerprint_sha256, subject, sans, not_before, not_after, der,
      requester, source_protocol, issued_at)`);
}

export async function findCertificateBySerial(
  db: CommonQueryMethods,
  serialHex: string,
): Promise<CertificateRow | null> {
  return db.maybeOne(sql.type(certificateRow)`SELECT ${columns} FROM certificates WHERE serial_hex = ${serialHex}`);
}

export async function countCertificates(db: CommonQueryMethods): Promise<number> {
  return db.oneFirst(sql.type(z.object({ n: z.number() }))`SELECT count(*)::int AS n FROM certificates`);
}

/**
 * Marks a certificate revoked if it is still valid and returns the row as
 * it now stands; a certificate already revoked is returned unchanged (the
 * first revocation's time and reason stand).
 */
export async function revokeCertificateRow(
  tx: CommonQueryMethods,
  serialHex: string,
  fields: { reason: number; revokedAt: Date },
): Promise<{ row: CertificateRow; changed: boolean } | null> {
  const updated = await tx.maybeOne(sql.type(certificateRow)`
    UPDATE certificates SET status = 'revoked', revoked_at = ${sql.timestamp(fields.revokedAt)},
      revocation_reason = ${fields.reason}
    WHERE serial_hex = ${serialHex} AND status = 'valid'
    RETURNING ${columns}`);
  if (updated) return { row: updated, changed: true };
  const existing = await findCertificateBySerial(tx, serialHex);
  return existing ? { row: existing, changed: false } : null;
}
