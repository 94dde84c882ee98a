import { type CommonQueryMethods, sql } from "slonik";
import { z } from "zod";

const caRow = z.object({
  id: z.string(),
  name: z.string(),
  kind: z.enum(["root", "intermediate"]),
  status: z.enum(["active", "pending", "disabled"]),
  parent_id: z.string().nullable(),
  key_algorithm: z.string(),
  sealed_private_key: z.instanceof(Buffer),
  public_key_spki: z.instanceof(Buffer),
  subject: z.string(),
  subject_key_id: z.instanceof(Buffer),
  certificate_der: z.instanceof(Buffer).nullable(),
  csr_der: z.instanceof(Buffer).nullable(),
  chain_der: z.array(z.instanceof(Buffer)),
  fingerprint_sha256: z.string().nullable(),
  not_before: z.number().nullable(),
  not_after: z.number().nullable(),
  otp_required: z.boolean(),
  allowed_profiles: z.array(z.string()),
  created_at: z.number(),
});

export type CaRow = z.infer<typeof caRow>;

const columns = sql.fragment`id, name, kind, status, parent_id, key_algorithm, sealed_private_key, public_key_spki,
  subject, subject_key_id, certificate_der, csr_der, chain_der, fingerprint_sha256, not_before, not_after, otp_required,
  allowed_profiles, created_at`;

export interface NewCaRow {
  id: string;
  name: string;
  kind: "root" | "intermediate";
  status: "active" | "pending";
  parentId: string | null;
  keyAlgorithm: string;
  sealedPrivateKey: Buffer;
  publicKeySpki: Buffer;
  subject: string;
  subjectKeyId: Buffer;
  certificateDer: Buffer | null;
  csrDer: Buffer | null;
  chainDer: Buffer[];
  fingerprintSha256: string | null;
  notBefore: Date | null;
  notAfter: Date | null;
}

export async function insertCa(tx: CommonQueryMethods, ca: NewCaRow): Promise<void> {
  await tx.query(sql.unsafe`
    INSERT INTO certificate_authorities (id, name, kind, status, parent_id, key_algorithm, sealed_private_key,
      public_key_spki, subject, subject_key_id, certificate_der, csr_der, chain_der, fingerprint_sha256,
      not_before, not_after)
    VALUES (${ca.id}, ${ca.name}, ${ca.kind}, ${ca.status}, ${ca.parentId}, ${ca.keyAlgorithm},
      ${sql.binary(ca.sealedPrivateKey)}, ${sql.binary(ca.publicKeySpki)}, ${ca.subject}, ${sql.binary(ca.subjectKeyId)},
      ${ca.certificateDer ? sql.binary(ca.certificateDer) : null}, ${ca.csrDer ? sql.binary(ca.csrDer) : null},
      ${sql.array(ca.chainDer, "bytea")}, ${ca.fingerprintSha256},
      ${ca.notBefore ? sql.timestamp(ca.notBefore) : null}, ${ca.notAfter ? sql.timestamp(ca.notAfter) : null})`);
}

export async function findCaById(db: CommonQueryMethods, id: string): Promise<CaRow | null> {
  return db.maybeOne(sql.type(caRow)`SELECT ${columns} FROM certificate_authorities WHERE id = ${id}`);
}

export async function findCaByName(db: CommonQueryMethods, name: string): Promise<CaRow | null> {
  return db.maybeOne(sql.type(caRow)`SELECT ${columns} FROM certificate_authorities WHERE name = ${name}`);
}

export async function findCaByFingerprint(db: CommonQueryMethods, fingerprint: string): Promise<CaRow | null> {
  return db.maybeOne(
    sql.type(caRow)`SELECT ${columns} FROM certificate_authorities WHERE fingerprint_sha256 = ${fingerprint}`,
  );
}

export async function listCas(db: CommonQueryMethods): Promise<readonly CaRow[]> {
  return db.any(sql.type(caRow)`SELECT ${columns} FROM certificate_authorities ORDER BY created_at, name`);
}

/** Locks the CA row for the rest of the transaction (state changes on one CA serialise). */
export async function lockCa(tx: CommonQueryMethods, id: string): Promise<CaRow | null> {
  return tx.maybeOne(sql.type(caRow)`SELECT ${columns} FROM certificate_authorities WHERE id = ${id} FOR UPDATE`);
}

/** Completes a pending (external-parent) CA with the certificate its parent signed. */
export async function activateCa(
  tx: CommonQueryMethods,
  id: string,
  fields: { certificateDer: Buffer; chainDer: Buffer[]; fingerprintSha256: string; notBefore: Date; notAfter: Date },
): Promise<void> {
  await tx.query(sql.unsafe`
    UPDATE certificate_authorities
    SET status = 'active', certificate_der = ${sql.binary(fields.certificateDer)},
      chain_der = ${sql.array(fields.chainDer, "bytea")}, fingerprint_sha256 = ${fields.fingerprintSha256},
      not_before = ${sql.timestamp(fields.notBefore)}, not_after = ${sql.timestamp(fields.notAfter)}, updated_at = now()
    WHERE id = ${id} AND status = 'pending'`);
}

export async function setCaStatus(tx: CommonQueryMethods, id: string, status: "active" | "disabled"): Promise<void> {
  await tx.query(
    sql.unsafe`UPDATE certificate_authorities SET status = ${status}, updated_at = now() WHERE id = ${id}`,
  );
}

export async function setCaOtpRequired(tx: CommonQueryMethods, id: string, required: boolean): Promise<void> {
  await tx.query(
    sql.unsafe`UPDATE certificate_authorities SET otp_required = ${required}, updated_at = now() WHERE id = ${id}`,
  );
}

export async function setCaAllowedProfiles(tx: CommonQueryMethods, id: string, profiles: string[]): Promise<void> {
  await tx.query(sql.unsafe`
    UPDATE certificate_authorities SET allowed_profiles = ${sql.array(profiles, "text")}, updated_at = now()
    WHERE id = ${id}`);
}

export async function countCas(db: CommonQueryMethods): Promise<number> {
  return db.oneFirst(sql.type(z.object({ n: z.number() }))`SELECT count(*)::int AS n FROM certificate_authorities`);
}
