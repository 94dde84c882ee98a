import { type CommonQueryMethods, sql } from "slonik";
import { z } from "zod";

const statusRow = z.object({
  ca_id: z.string(),
  status: z.enum(["valid", "revoked"]),
  revoked_at: z.number().nullable(),
  revocation_reason: z.number().nullable(),
});

export type CertificateStatusRow = z.infer<typeof statusRow>;

/**
 * The revocation state of the certificate with this serial issued by one of
 * `caIds` (the CAs an OCSP CertID's issuer hashes match), or null when none
 * of them issued it. One probe of the unique serial_hex index.
 */
export async function findCertificateStatus(
  db: CommonQueryMethods,
  caIds: readonly string[],
  serialHex: string,
): Promise<CertificateStatusRow | null> {
  return db.maybeOne(sql.type(statusRow)`
    SELECT ca_id, status, revoked_at, revocation_reason FROM certificates
    WHERE serial_hex = ${serialHex} AND ca_id = ANY(${sql.array(caIds, "uuid")})`);
}
