import type { DatabasePool } from "slonik";
import { countAdmins, lockFirstAdminCreation } from "../../store/user-store.ts";
import type { Actor } from "../actor.ts";
import { ChanceryError } from "../errors.ts";
import type { NewToken, TokenService } from "./token-service.ts";
import type { User } from "./user.ts";
import type { UserService } from "./user-service.ts";

export const bootstrapAdminActor: Actor = { actor: "bootstrap" };

/**
 * Creates the first admin, with API access and a personal access token,
 * in one transaction: either all of it exists afterwards or none of it.
 * Refused (failed_precondition) once any admin exists, disabled or not:
 * later admins are made through the admin API by an admin. Two runs at the
 * same moment queue on an advisory lock, and the second finds the first's
 * admin. The token's secret is in the result, to be shown once.
 */
export async function bootstrapAdmin(
  deps: { pool: DatabasePool; users: UserService; tokens: TokenService },
  input: { username: string; displayName?: string | undefined; email?: string | undefined },
  by: Actor = bootstrapAdminActor,
): Promise<{ user: User; token: NewToken }> {
  return deps.pool.transaction(async (tx) => {
    await lockFirstAdminCreation(tx);
    const admins = await countAdmins(tx);
    if (admins > 0)
      throw new ChanceryError(
        "failed_precondition",
        `an admin user already exists (${admins}); bootstrap only creates the first one, add others through the admin API`,
      );
    const user = await deps.users.createInTransaction(
      tx,
      { username: input.username, displayName: input.displayName, email: input.email, role: "admin", apiAccess: true },
      by,
    );
    const token = await deps.tokens.createInTransaction(tx, user.id, by);
    return { user, token };
  });
}
