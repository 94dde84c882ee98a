import { randomUUID } from "node:crypto";
import type { CommonQueryMethods, DatabasePool } from "slonik";
import { z } from "zod";
import { deleteEnrollment, deleteToken } from "../../store/token-store.ts";
import { isUniqueViolation } from "../../store/unique-violation.ts";
import {
  findMissingCaIds,
  findUserById,
  findUserByUsername,
  insertUser,
  listUsersByCreation,
  listUsersByUsername,
  lockActiveAdminIds,
  lockUser,
  replaceUserCaAssignments,
  type UserFieldChanges,
  type UserRow,
  updateUserFields,
} from "../../store/user-store.ts";
import type { Actor } from "../actor.ts";
import type { AuditDetail, AuditEventInput } from "../audit/audit-event.ts";
import type { AuditLog } from "../audit/audit-log.ts";
import type { Clock } from "../clock.ts";
import { ChanceryError } from "../errors.ts";
import { keysetPage } from "../page-cursor.ts";
import { uuidPattern } from "../uuid-pattern.ts";
import { isRole, type Role } from "./role.ts";
import { normalizeSubnet } from "./subnet.ts";
import type { User } from "./user.ts";

export interface CreateUserInput {
  username: string;
  displayName?: string | undefined;
  email?: string | undefined;
  /** Defaults to "user", the least privileged role. */
  role?: Role | undefined;
  disabled?: boolean | undefined;
  /** Defaults to off: an admin turns it on deliberately. */
  apiAccess?: boolean | undefined;
  allowedSubnets?: readonly string[] | undefined;
  assignedCaIds?: readonly string[] | undefined;
}

/** The fields to replace; undefined ones keep their value (the RPC layer maps update_mask onto this). */
export interface UpdateUserInput {
  displayName?: string | undefined;
  email?: string | undefined;
  role?: Role | undefined;
  disabled?: boolean | undefined;
  apiAccess?: boolean | undefined;
  allowedSubnets?: readonly string[] | undefined;
  assignedCaIds?: readonly string[] | undefined;
}

export type UserOrder = "username" | "create_time";

export interface ListUsersOptions {
  /** 1-1000; 0 or unset means 100, more than 1000 means 1000 (AIP-158). */
  pageSize?: number | undefined;
  /** From a previous page's nextPageToken, with the same orderBy. */
  pageToken?: string | undefined;
  /** Default "username". */
  orderBy?: UserOrder | undefined;
}

export interface UserPage {
  users: User[];
  /** Opaque; empty when this is the last page. */
  nextPageToken: string;
}

export interface UserService {
  create(input: CreateUserInput, by: Actor): Promise<User>;
  /** Creates the user inside the caller's transaction (bootstrap); a taken username may surface at commit. */
  createInTransaction(tx: CommonQueryMethods, input: CreateUserInput, by: Actor): Promise<User>;
  get(id: string): Promise<User>;
  getByUsername(username: string): Promise<User>;
  list(options?: ListUsersOptions): Promise<UserPage>;
  /**
   * Replaces the given fields. Disabling a user or turning API access off
   * revokes their token in the same transaction. Removing the last enabled
   * admin with API access is refused, so the gateway cannot lock itself out.
   */
  update(id: string, changes: UpdateUserInput, by: Actor): Promise<User>;
}

export const defaultPageSize = 100;
export const maxPageSize = 1000;
const maxSubnets = 256;
const maxAssignedCas = 1000;

const usernamePattern = /^[a-z0-9._@-]{1,64}$/;

/**
 * Users of the admin plane. Every change is audited in its own transaction
 * with the actor and source IP; tokens are the token service's business,
 * except that a change which takes API use away revokes the token with it.
 */
export function createUserService(deps: { pool: DatabasePool; audit: AuditLog; clock: Clock }): UserService {
  const { pool, audit, clock } = deps;

  async function createInTransaction(tx: CommonQueryMethods, input: CreateUserInput, by: Actor): Promise<User> {
    const username = checkUsername(input.username);
    const role = checkRole(input.role ?? "user");
    const displayName = checkDisplayName(input.displayName ?? "");
    const email = checkEmail(input.email ?? "");
    const disabled = checkBoolean(input.disabled ?? false, "disabled");
    const apiAccess = checkBoolean(input.apiAccess ?? false, "apiAccess");
    const allowedSubnets = checkSubnets(input.allowedSubnets ?? []);
    const assignedCaIds = await checkCaIds(tx, input.assignedCaIds ?? []);
    if (await findUserByUsername(tx, username)) throw usernameTaken(username);
    const id = randomUUID();
    const now = clock.now();
    await insertUser(tx, {
      id,
      username,
      displayName,
      email,
      role,
      disabled,
      apiAccess,
      allowedSubnets,
      createdAt: now,
    });
    await replaceUserCaAssignments(tx, id, assignedCaIds);
    await audit.appendInTransaction(tx, [
      {
        ...by,
        action: "user.create",
        target: `user:${id}`,
        details: { username, displayName, email, role, disabled, apiAccess, allowedSubnets, assignedCaIds },
      },
    ]);
    return toUser(await mustFind(tx, id));
  }

  const service: UserService = {
    async create(input, by) {
      try {
        return await pool.transaction((tx) => createInTransaction(tx, input, by));
      } catch (err) {
        // Two creates of one name at once: the second loses at the unique index.
        if (isUniqueViolation(err)) throw usernameTaken(input.username);
        throw err;
      }
    },

    createInTransaction,

    async get(id) {
      return toUser(await mustFind(pool, id));
    },

    async getByUsername(username) {
      const row = await findUserByUsername(pool, username);
      if (!row) throw new ChanceryError("not_found", `no user named "${username}"`);
      return toUser(row);
    },

    async list(options = {}) {
      const pageSize = checkPageSize(options.pageSize);
      const orderBy = options.orderBy ?? "username";
      if (orderBy !== "username" && orderBy !== "create_time")
        throw new ChanceryError("invalid_argument", `orderBy must be "username" or "create_time", not "${orderBy}"`);
      const cursor = options.pageToken ? decodePageToken(options.pageToken, orderBy) : null;
      // One row more than asked tells whether another page follows.
      if (orderBy === "username") {
        const rows = await listUsersByUsername(pool, cursor?.o === "username" ? cursor.u : null, pageSize + 1);
        const { shown, nextPageToken } = keysetPage(rows, pageSize, (last) =>
          encodePageToken({ o: "username", u: last.username }),
        );
        return { users: shown.map(toUser), nextPageToken };
      }
      const after = cursor?.o === "create_time" ? { createdAt: cursor.t, id: cursor.i } : null;
      const rows = await listUsersByCreation(pool, after, pageSize + 1);
      const { shown, nextPageToken } = keysetPage(rows, pageSize, (last) =>
        encodePageToken({ o: "create_time", t: last.cursor_time, i: last.id }),
      );
      return { users: shown.map(toUser), nextPageToken };
    },

    async update(id, changes, by) {
      checkId(id);
      // Validate everything before taking any lock.
      const wanted: UserFieldChanges = {};
      if (changes.displayName !== undefined) wanted.displayName = checkDisplayName(changes.displayName);
      if (changes.email !== undefined) wanted.email = checkEmail(changes.email);
      if (changes.role !== undefined) wanted.role = checkRole(changes.role);
      if (changes.disabled !== undefined) wanted.disabled = checkBoolean(changes.disabled, "disabled");
      if (changes.apiAccess !== undefined) wanted.apiAccess = checkBoolean(changes.apiAccess, "apiAccess");
      if (changes.allowedSubnets !== undefined) wanted.allowedSubnets = checkSubnets(changes.allowedSubnets);
      const touchesAdmins =
        wanted.role !== undefined || wanted.disabled !== undefined || wanted.apiAccess !== undefined;

      return pool.transaction(async (tx) => {
        // Admin rows first, then the user: every transaction that takes both
        // takes them in this order, so two of them cannot deadlock.
        const activeAdmins = touchesAdmins ? await lockActiveAdminIds(tx) : [];
        const before = await lockUser(tx, id);
        if (!before) throw new ChanceryError("not_found", `no user with id ${id}`);
        const caIds = changes.assignedCaIds === undefined ? undefined : await checkCaIds(tx, changes.assignedCaIds);

        const set: UserFieldChanges = {};
        const diff: Record<string, AuditDetail> = {};
        const note = <K extends keyof UserFieldChanges>(field: K, from: UserFieldChanges[K] & AuditDetail) => {
          const to = wanted[field];
          if (to === undefined || sameValue(from, to)) return;
          set[field] = to;
          diff[field] = { from, to: to as AuditDetail };
        };
        note("displayName", before.display_name);
        note("email", before.email);
        note("role", before.role);
        note("disabled", before.disabled);
        note("apiAccess", before.api_access);
        note("allowedSubnets", before.allowed_subnets);
        const caChange = caIds !== undefined && !sameValue(before.assigned_ca_ids, caIds);
        if (caChange) diff["assignedCaIds"] = { from: before.assigned_ca_ids, to: caIds };
        if (Object.keys(diff).length === 0) return toUser(before);

        const after = {
          role: set.role ?? before.role,
          disabled: set.disabled ?? before.disabled,
          apiAccess: set.apiAccess ?? before.api_access,
        };
        const wasActiveAdmin = activeAdmins.includes(id);
        const isActiveAdmin = after.role === "admin" && !after.disabled && after.apiAccess;
        if (wasActiveAdmin && !isActiveAdmin && activeAdmins.length === 1)
          throw new ChanceryError(
            "failed_precondition",
            `"${before.username}" is the last enabled admin with API access; make another admin first`,
          );

        await updateUserFields(tx, id, set, clock.now());
        if (caChange) await replaceUserCaAssignments(tx, id, caIds);
        const events: AuditEventInput[] = [
          { ...by, action: "user.update", target: `user:${id}`, details: { username: before.username, changes: diff } },
        ];
        // Taking API use away takes the token and any enrollment code with it, in this transaction.
        const revokeReason =
          set.disabled === true ? "user_disabled" : set.apiAccess === false ? "api_access_off" : null;
        if (revokeReason) {
          const removed = await deleteToken(tx, id);
          if (removed)
            events.push({
              ...by,
              action: "token.revoke",
              target: `user:${id}`,
              details: { username: before.username, prefix: removed.prefix, reason: revokeReason },
            });
          const code = await deleteEnrollment(tx, id);
          if (code)
            events.push({
              ...by,
              action: "token.enrollment.revoke",
              target: `user:${id}`,
              details: { username: before.username, prefix: code.prefix, reason: revokeReason },
            });
        }
        await audit.appendInTransaction(tx, events);
        return toUser(await mustFind(tx, id));
      });
    },
  };
  return service;
}

async function mustFind(db: CommonQueryMethods, id: string): Promise<UserRow> {
  checkId(id);
  const row = await findUserById(db, id);
  if (!row) throw new ChanceryError("not_found", `no user with id ${id}`);
  return row;
}

function toUser(row: UserRow): User {
  return {
    id: row.id,
    username: row.username,
    displayName: row.display_name,
    email: row.email,
    role: row.role,
    disabled: row.disabled,
    apiAccess: row.api_access,
    allowedSubnets: row.allowed_subnets,
    assignedCaIds: row.assigned_ca_ids,
    createTime: new Date(row.created_at),
    updateTime: new Date(row.updated_at),
  };
}

function usernameTaken(username: string): ChanceryError {
  return new ChanceryError("already_exists", `a user named "${username}" already exists`);
}

function checkId(id: string): void {
  if (!uuidPattern.test(id)) throw new ChanceryError("not_found", `no user with id ${id}`);
}

function checkUsername(username: unknown): string {
  if (typeof username !== "string" || !usernamePattern.test(username))
    throw new ChanceryError(
      "invalid_argument",
      `username ${JSON.stringify(username)} must be 1-64 characters of lower-case letters, digits, ".", "_", "@" or "-"`,
    );
  return username;
}

function checkRole(role: unknown): Role {
  if (!isRole(role))
    throw new ChanceryError("invalid_argument", `role ${JSON.stringify(role)} must be "user", "operator" or "admin"`);
  return role;
}

function checkBoolean(value: unknown, field: string): boolean {
  if (typeof value !== "boolean") throw new ChanceryError("invalid_argument", `${field} must be true or false`);
  return value;
}

function checkDisplayName(value: unknown): string {
  if (typeof value !== "string" || value.length > 200 || /\p{Cc}/u.test(value))
    throw new ChanceryError(
      "invalid_argument",
      "displayName must be at most 200 characters, without control characters",
    );
  return value.trim();
}

function checkEmail(value: unknown): string {
  if (typeof value !== "string") throw new ChanceryError("invalid_argument", "email must be a string");
  const email = value.trim();
  if (email !== "" && (email.length > 254 || !/^[^\s@]+@[^\s@]+$/.test(email)))
    throw new ChanceryError("invalid_argument", `email "${email}" is not an address like name@example.com`);
  return email;
}

function checkSubnets(subnets: readonly string[]): string[] {
  if (!Array.isArray(subnets)) throw new ChanceryError("invalid_argument", "allowedSubnets must be a list of CIDRs");
  if (subnets.length > maxSubnets)
    throw new ChanceryError("invalid_argument", `allowedSubnets holds at most ${maxSubnets} entries`);
  const out: string[] = [];
  subnets.forEach((subnet, i) => {
    if (typeof subnet !== "string")
      throw new ChanceryError("invalid_argument", `allowedSubnets[${i}] must be a CIDR string`);
    const canonical = normalizeSubnet(subnet, `allowedSubnets[${i}]`);
    if (!out.includes(canonical)) out.push(canonical);
  });
  return out;
}

async function checkCaIds(db: CommonQueryMethods, caIds: readonly string[]): Promise<string[]> {
  if (!Array.isArray(caIds)) throw new ChanceryError("invalid_argument", "assignedCaIds must be a list of CA ids");
  if (caIds.length > maxAssignedCas)
    throw new ChanceryError("invalid_argument", `assignedCaIds holds at most ${maxAssignedCas} entries`);
  const ids: string[] = [];
  caIds.forEach((id, i) => {
    if (typeof id !== "string" || !uuidPattern.test(id))
      throw new ChanceryError("invalid_argument", `assignedCaIds[${i}]: ${JSON.stringify(id)} is not a CA id`);
    const lower = id.toLowerCase();
    if (!ids.includes(lower)) ids.push(lower);
  });
  const missing = await findMissingCaIds(db, ids);
  if (missing.length > 0)
    throw new ChanceryError("invalid_argument", `assignedCaIds: no CA with id ${missing.join(", ")}`);
  return ids.sort();
}

function checkPageSize(pageSize: number | undefined): number {
  if (pageSize === undefined || pageSize === 0) return defaultPageSize;
  if (!Number.isInteger(pageSize) || pageSize < 0)
    throw new ChanceryError("invalid_argument", `pageSize must be a whole number from 0 to ${maxPageSize}`);
  return Math.min(pageSize, maxPageSize);
}

function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

// The page token is the last row's sort key, base64url JSON. It is opaque to
// clients but not secret: forging one only moves where a listing the caller
// may already read starts.
const pageCursor = z.discriminatedUnion("o", [
  z.object({ o: z.literal("username"), u: z.string().regex(usernamePattern) }).strict(),
  z
    .object({
      o: z.literal("create_time"),
      t: z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/),
      i: z.string().regex(uuidPattern),
    })
    .strict(),
]);

type PageCursor = z.infer<typeof pageCursor>;

function encodePageToken(cursor: PageCursor): string {
  return Buffer.from(JSON.stringify(cursor), "utf8").toString("base64url");
}

function decodePageToken(token: string, orderBy: UserOrder): PageCursor {
  let parsed: z.SafeParseReturnType<unknown, PageCursor> | undefined;
  try {
    parsed = pageCursor.safeParse(JSON.parse(Buffer.from(token, "base64url").toString("utf8")));
  } catch {
    parsed = undefined;
  }
  if (!parsed?.success) throw new ChanceryError("invalid_argument", "pageToken is not one this service returned");
  if (parsed.data.o !== orderBy)
    throw new ChanceryError("invalid_argument", `pageToken belongs to a listing ordered by ${parsed.data.o}`);
  return parsed.data;
}
