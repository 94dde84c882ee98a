import type { Role } from "./role.ts";

/** A person or service account of the gateway, as the rest of the gateway sees it. */
export interface User {
  readonly id: string;
  /** Unique sign-in name, 1-64 characters of [a-z0-9._@-]. */
  readonly username: string;
  readonly displayName: string;
  /** Empty when not given. */
  readonly email: string;
  readonly role: Role;
  /** Disabled users cannot authenticate. */
  readonly disabled: boolean;
  /** Personal access tokens are refused until this is on. */
  readonly apiAccess: boolean;
  /** Canonical CIDR blocks the user's calls must come from; empty means anywhere. */
  readonly allowedSubnets: readonly string[];
  /** Ids of the CAs an operator may use, sorted. */
  readonly assignedCaIds: readonly string[];
  readonly createTime: Date;
  readonly updateTime: Date;
}
