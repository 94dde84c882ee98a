import { create } from "@bufbuild/protobuf";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { ChanceryError } from "../core/errors.ts";
import type { TokenService as CoreTokenService, TokenInfo } from "../core/identity/token-service.ts";
import {
  CreateTokenResponseSchema,
  type PersonalAccessToken,
  PersonalAccessTokenSchema,
  RevokeTokenResponseSchema,
  type TokenService,
} from "../gen/chancery/admin/v1/token_pb.js";
import { timestamp } from "./conversions.ts";
import { actorOf, type Principal, requireRole } from "./principal.ts";

/**
 * chancery.admin.v1.TokenService: each user makes and replaces their own
 * token; reading or revoking someone else's is for admins.
 */
export function createTokenAdmin(deps: { tokens: CoreTokenService }): ServiceImpl<typeof TokenService> {
  const { tokens } = deps;

  /** The user a "users/{id}/token" name points at; empty means the caller. */
  function owner(context: HandlerContext, principal: Principal, name: string): string {
    if (name === "") return principal.userId;
    const match = /^users\/([^/]+)\/token$/.exec(name);
    if (!match) throw new ChanceryError("invalid_argument", `name must look like "users/{id}/token", got "${name}"`);
    const userId = match[1]!;
    if (userId !== principal.userId) requireRole(context, "admin");
    return userId;
  }

  return {
    async createToken(_request, context) {
      const principal = requireRole(context, "user");
      const made = await tokens.create(principal.userId, actorOf(context, principal));
      return create(CreateTokenResponseSchema, { token: toProto(made.token), secret: made.secret });
    },

    async regenerateToken(_request, context) {
      const principal = requireRole(context, "user");
      const made = await tokens.regenerate(principal.userId, actorOf(context, principal));
      return create(CreateTokenResponseSchema, { token: toProto(made.token), secret: made.secret });
    },

    async getToken(request, context) {
      const principal = requireRole(context, "user");
      return toProto(await tokens.get(owner(context, principal, request.name)));
    },

    async revokeToken(request, context) {
      const principal = requireRole(context, "user");
      await tokens.revoke(owner(context, principal, request.name), actorOf(context, principal));
      return create(RevokeTokenResponseSchema, {});
    },
  };
}

function toProto(token: TokenInfo): PersonalAccessToken {
  return create(PersonalAccessTokenSchema, {
    name: `users/${token.userId}/token`,
    prefix: token.prefix,
    createTime: timestamp(token.createTime),
    lastUsedTime: timestamp(token.lastUsedTime),
  });
}
