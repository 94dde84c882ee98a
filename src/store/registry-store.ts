import { type CommonQueryMethods, sql } from "slonik";
import { z } from "zod";

const objectIdentifierRow = z.object({
  id: z.string(),
  oid: z.string(),
  display_name: z.string(),
  value_type: z.string(),
  placement: z.string(),
  value_pattern: z.string().nullable(),
  created_at: z.number(),
  updated_at: z.number(),
});
export type ObjectIdentifierRow = z.infer<typeof objectIdentifierRow>;

const certificatePolicyRow = z.object({
  id: z.string(),
  oid: z.string(),
  display_name: z.string(),
  cps_uri: z.string().nullable(),
  user_notice: z.string().nullable(),
  created_at: z.number(),
  updated_at: z.number(),
});
export type CertificatePolicyRow = z.infer<typeof certificatePolicyRow>;

const oidColumns = sql.fragment`id, oid, display_name, value_type, placement, value_pattern, created_at, updated_at`;
const policyColumns = sql.fragment`id, oid, display_name, cps_uri, user_notice, created_at, updated_at`;

export async function listObjectIdentifierRows(db: CommonQueryMethods): Promise<readonly ObjectIdentifierRow[]> {
  return db.any(sql.type(objectIdentifierRow)`SELECT ${oidColumns} FROM object_identifiers ORDER BY id`);
}

/** The row, locked FOR UPDATE (change/delete) or FOR SHARE (a profile referencing it is being written). */
export async function lockObjectIdentifierRow(
  tx: CommonQueryMethods,
  id: string,
  mode: "update" | "share",
): Promise<ObjectIdentifierRow | null> {
  const lock = mode === "update" ? sql.fragment`FOR UPDATE` : sql.fragment`FOR SHARE`;
  return tx.maybeOne(
    sql.type(objectIdentifierRow)`SELECT ${oidColumns} FROM object_identifiers WHERE id = ${id} ${lock}`,
  );
}

export async function insertObjectIdentifierRow(
  tx: CommonQueryMethods,
  row: {
    id: string;
    oid: string;
    displayName: string;
    valueType: string;
    placement: string;
    valuePattern?: string | undefined;
  },
): Promise<void> {
  await tx.query(sql.unsafe`
    INSERT INTO object_identifiers (id, oid, display_name, value_type, placement, value_pattern)
    VALUES (${row.id}, ${row.oid}, ${row.displayName}, ${row.valueType}, ${row.placement}, ${row.valuePattern ?? null})`);
}

export async function updateObjectIdentifierRow(
  tx: CommonQueryMethods,
  id: string,
  change: { displayName: string; valuePattern: string | undefined },
): Promise<void> {
  await tx.query(sql.unsafe`
    UPDATE object_identifiers SET display_name = ${change.displayName}, value_pattern = ${change.valuePattern ?? null},
      updated_at = now()
    WHERE id = ${id}`);
}

export async function deleteObjectIdentifierRow(tx: CommonQueryMethods, id: string): Promise<void> {
  await tx.query(sql.unsafe`DELETE FROM object_identifiers WHERE id = ${id}`);
}

export async function listCertificatePolicyRows(db: CommonQueryMethods): Promise<readonly CertificatePolicyRow[]> {
  return db.any(sql.type(certificatePolicyRow)`SELECT ${policyColumns} FROM certificate_policies ORDER BY id`);
}

export async function lockCertificatePolicyRow(
  tx: CommonQueryMethods,
  id: string,
  mode: "update" | "share",
): Promise<CertificatePolicyRow | null> {
  const lock = mode === "update" ? sql.fragment`FOR UPDATE` : sql.fragment`FOR SHARE`;
  return tx.maybeOne(
    sql.type(certificatePolicyRow)`SELECT ${policyColumns} FROM certificate_policies WHERE id = ${id} ${lock}`,
  );
}

export async function insertCertificatePolicyRow(
  tx: CommonQueryMethods,
  row: { id: string; oid: string; displayName: string; cpsUri?: string | undefined; userNotice?: string | undefined },
): Promise<void> {
  await tx.query(sql.unsafe`
    INSERT INTO certificate_policies (id, oid, display_name, cps_uri, user_notice)
    VALUES (${row.id}, ${row.oid}, ${row.displayName}, ${row.cpsUri ?? null}, ${row.userNotice ?? null})`);
}

export async function updateCertificatePolicyRow(
  tx: CommonQueryMethods,
  id: string,
  change: { displayName: string; cpsUri: string | undefined; userNotice: string | undefined },
): Promise<void> {
  await tx.query(sql.unsafe`
    UPDATE certificate_policies SET display_name = ${change.displayName}, cps_uri = ${change.cpsUri ?? null},
      user_notice = ${change.userNotice ?? null}, updated_at = now()
    WHERE id = ${id}`);
}

export async function deleteCertificatePolicyRow(tx: CommonQueryMethods, id: string): Promise<void> {
  await tx.query(sql.unsafe`DELETE FROM certificate_policies WHERE id = ${id}`);
}
