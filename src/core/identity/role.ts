/**
 * Roles, least to most privileged (proto chancery.admin.v1.Role without
 * ROLE_UNSPECIFIED). Each includes what the ones before it may do.
 */
export const roles = ["user", "operator", "admin"] as const;

export type Role = (typeof roles)[number];

export function isRole(value: unknown): value is Role {
  return typeof value === "string" && (roles as readonly string[]).includes(value);
}

/** True when `role` may do what `needed` may: atLeast("admin", "operator") is true. */
export function atLeast(role: Role, needed: Role): boolean {
  return roles.indexOf(role) >= roles.indexOf(needed);
}
