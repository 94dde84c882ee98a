import { type CommonQueryMethods, sql } from "slonik";
import { z } from "zod";

const userRow = z.object({
  id: z.string(),
  username: z.string(),
  display_name: z.string(),
  email: z.string(),
  role: z.enum(["user", "operator", "admin"]),
  disabled: z.boolean(),
  api_access: z.boolean(),
  allowed_subnets: z.array(z.string()),
  assigned_ca_ids: z.array(z.string()),
  created_at: z.number(),
  updated_at: z.number(),
});

export type UserRow = z.infer<typeof userRow>;

const userPageRow = userRow.extend({ cursor_time: z.string() });

export type UserPageRow = z.infer<typeof userPageRow>;

const columns = sql.fragment`users.id, users.username, users.display_name, users.email, users.role, users.disabled,
  users.api_access, users.allowed_subnets::text[] AS allowed_subnets,
  ARRAY(SELECT a.ca_id::text FROM user_ca_assignments a WHERE a.user_id = users.id ORDER BY a.ca_id) AS assigned_ca_ids,
  users.created_at, users.updated_at`;

export interface NewUserRow {
  id: string;
  username: string;
  displayName: string;
  email: string;
  role: "user" | "operator" | "admin";
  disabled: boolean;
  apiAccess: boolean;
  allowedSubnets: string[];
  createdAt: Date;
}

/** Inserts the user; a taken username surfaces as a unique violation (see unique-violation.ts). */
export async function insertUser(tx: CommonQueryMethods, user: NewUserRow): Promise<void> {
  await tx.query(sql.unsafe`
    INSERT INTO users (id, username, display_name, email, role, disabled, api_access, allowed_subnets, created_at,
      updated_at)
    VALUES (${user.id}, ${user.username}, ${user.displayName}, ${user.email}, ${user.role}, ${user.disabled},
      ${user.apiAccess}, ${sql.array(user.allowedSubnets, "cidr")}, ${sql.timestamp(user.createdAt)},
      ${sql.timestamp(user.createdAt)})`);
}

export async function findUserById(db: CommonQueryMethods, id: string): Promise<UserRow | null> {
  return db.maybeOne(sql.type(userRow)`SELECT ${columns} FROM users WHERE users.id = ${id}`);
}

export async function findUserByUsername(db: CommonQueryMethods, username: string): Promise<UserRow | null> {
  return db.maybeOne(sql.type(userRow)`SELECT ${columns} FROM users WHERE users.username = ${username}`);
}

/** Locks the user row for the rest of the transaction: changes to one user (and its token) serialise. */
export async function lockUser(tx: CommonQueryMethods, id: string): Promise<UserRow | null> {
  return tx.maybeOne(sql.type(userRow)`SELECT ${columns} FROM users WHERE users.id = ${id} FOR UPDATE OF users`);
}

/** Up to `limit` users after `afterUsername` (exclusive; null for the first page), by username. */
export async function listUsersByUsername(
  db: CommonQueryMethods,
  afterUsername: string | null,
  limit: number,
): Promise<readonly UserRow[]> {
  const after = afterUsername === null ? sql.fragment`TRUE` : sql.fragment`users.username > ${afterUsername}`;
  return db.any(sql.type(userRow)`SELECT ${columns} FROM users WHERE ${after} ORDER BY users.username LIMIT ${limit}`);
}

/**
 * Up to `limit` users after the (created_at, id) position `after` (exclusive;
 * null for the first page), oldest first. Each row carries `cursor_time`,
 * its created_at as UTC text at full (microsecond) precision, for the next
 * page's position, so rows written outside the core cannot be skipped or
 * repeated by a rounding of their time.
 */
export async function listUsersByCreation(
  db: CommonQueryMethods,
  after: { createdAt: string; id: string } | null,
  limit: number,
): Promise<readonly UserPageRow[]> {
  const where =
    after === null
      ? sql.fragment`TRUE`
      : sql.fragment`(users.created_at, users.id) > (${after.createdAt}::timestamptz, ${after.id}::uuid)`;
  return db.any(sql.type(userPageRow)`
    SELECT ${columns},
      to_char(users.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS cursor_time
    FROM users WHERE ${where} ORDER BY users.created_at, users.id LIMIT ${limit}`);
}

export interface UserFieldChanges {
  displayName?: string;
  email?: string;
  role?: "user" | "operator" | "admin";
  disabled?: boolean;
  apiAccess?: boolean;
  allowedSubnets?: string[];
}

/** Sets the given fields (and updated_at); fields left undefined keep their value. */
export async function updateUserFields(
  tx: CommonQueryMethods,
  id: string,
  changes: UserFieldChanges,
  updatedAt: Date,
): Promise<void> {
  const sets = [sql.fragment`updated_at = ${sql.timestamp(updatedAt)}`];
  if (changes.displayName !== undefined) sets.push(sql.fragment`display_name = ${changes.displayName}`);
  if (changes.email !== undefined) sets.push(sql.fragment`email = ${changes.email}`);
  if (changes.role !== undefined) sets.push(sql.fragment`role = ${changes.role}`);
  if (changes.disabled !== undefined) sets.push(sql.fragment`disabled = ${changes.disabled}`);
  if (changes.apiAccess !== undefined) sets.push(sql.fragment`api_access = ${changes.apiAccess}`);
  if (changes.allowedSubnets !== undefined)
    sets.push(sql.fragment`allowed_subnets = ${sql.array(changes.allowedSubnets, "cidr")}`);
  await tx.query(sql.unsafe`UPDATE users SET ${sql.join(sets, sql.fragment`, `)} WHERE id = ${id}`);
}

/** Makes the user's CA assignments exactly `caIds`. */
export async function replaceUserCaAssignments(tx: CommonQueryMethods, userId: string, caIds: string[]): Promise<void> {
  await tx.query(sql.unsafe`
    DELETE FROM user_ca_assignments WHERE user_id = ${userId} AND ca_id <> ALL(${sql.array(caIds, "uuid")})`);
  if (caIds.length === 0) return;
  await tx.query(sql.unsafe`
    INSERT INTO user_ca_assignments (user_id, ca_id)
    SELECT ${userId}, ca_id FROM unnest(${sql.array(caIds, "uuid")}) AS t(ca_id)
    ON CONFLICT (user_id, ca_id) DO NOTHING`);
}

/** Those of `caIds` (UUIDs) that name no CA. */
export async function findMissingCaIds(db: CommonQueryMethods, caIds: string[]): Promise<string[]> {
  if (caIds.length === 0) return [];
  const rows = await db.anyFirst(sql.type(z.object({ id: z.string() }))`
    SELECT t.id::text AS id FROM unnest(${sql.array(caIds, "uuid")}) AS t(id)
    WHERE NOT EXISTS (SELECT 1 FROM certificate_authorities c WHERE c.id = t.id)
    ORDER BY t.id`);
  return [...rows];
}

/** Transaction advisory lock key ("chancadm") serialising first-admin creation (core/identity/bootstrap-admin.ts). */
const firstAdminLockKey = 0x6368616e6361646dn;

/** Holds the first-admin lock until the transaction ends; concurrent bootstraps queue here. */
export async function lockFirstAdminCreation(tx: CommonQueryMethods): Promise<void> {
  await tx.query(sql.unsafe`SELECT pg_advisory_xact_lock(${firstAdminLockKey.toString()}::bigint)`);
}

export async function countAdmins(db: CommonQueryMethods): Promise<number> {
  return db.oneFirst(sql.type(z.object({ n: z.number() }))`SELECT count(*)::int AS n FROM users WHERE role = 'admin'`);
}

/**
 * Locks and returns the ids of admins who can use the API (enabled, with
 * API access). Two transactions that each remove one of the last two such
 * admins queue here, and the second sees only what the first left.
 */
export async function lockActiveAdminIds(tx: CommonQueryMethods): Promise<string[]> {
  const rows = await tx.anyFirst(sql.type(z.object({ id: z.string() }))`
    SELECT id FROM users WHERE role = 'admin' AND NOT disabled AND api_access ORDER BY id FOR UPDATE`);
  return [...rows];
}
