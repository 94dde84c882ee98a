import { createContextKey, type HandlerContext } from "@connectrpc/connect";
import { ChanceryError } from "../core/errors.ts";
import { peerAddressKey } from "./peer-address.ts";

export type Role = "user" | "operator" | "admin";

/** Who the authenticated caller is, as the authentication interceptor found it. */
export interface Principal {
  readonly userId: string;
  readonly username: string;
  readonly role: Role;
  /** CA ids an operator may use. */
  readonly assignedCaIds: readonly string[];
}

export const principalKey = createContextKey<Principal | undefined>(undefined, { description: "authenticated caller" });

const rank: Record<Role, number> = { user: 1, operator: 2, admin: 3 };

/** The caller, or unauthenticated; and permission_denied when their role is below `atLeast`. */
export function requireRole(context: HandlerContext, atLeast: Role): Principal {
  const principal = context.values.get(principalKey);
  if (!principal) throw new ChanceryError("unauthenticated", "authentication required");
  if (rank[principal.role] < rank[atLeast])
    throw new ChanceryError("permission_denied", `this call needs the ${atLeast} role`);
  return principal;
}

/** Audit actor for the caller: "user:{id}" and the peer IP. */
export function actorOf(context: HandlerContext, principal: Principal): { actor: string; sourceIp: string } {
  return { actor: `user:${principal.userId}`, sourceIp: context.values.get(peerAddressKey) };
}

/** Operators act only through the CAs assigned to them; admins through any. */
export function canUseCa(principal: Principal, caId: string): boolean {
  return principal.role === "admin" || (principal.role === "operator" && principal.assignedCaIds.includes(caId));
}
