import { create } from "@bufbuild/protobuf";
import { type Duration, EmptySchema } from "@bufbuild/protobuf/wkt";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { ChanceryError } from "../core/errors.ts";
import type { TokenEnrollmentInfo } from "../core/identity/token-enrollment.ts";
import type { TokenService as CoreTokenService, TokenInfo } from "../core/identity/token-service.ts";
import {
  CreateTokenEnrollmentResponseSchema,
  CreateTokenResponseSchema,
  type PersonalAccessToken,
  PersonalAccessTokenSchema,
  RevokeTokenResponseSchema,
  type TokenEnrollment,
  TokenEnrollmentSchema,
  type TokenService,
} from "../gen/chancery/admin/v1/token_pb.js";
import { idFromName, timestamp } from "./conversions.ts";
import { peerAddressKey } from "./peer-address.ts";
import { actorOf, type Principal, requireRole } from "./principal.ts";

/**
 * chancery.admin.v1.TokenService: each user makes and replaces their own
 * token; reading or revoking someone else's is for admins, and so are
 * enrollment codes, except redeeming one, which needs no token at all
 * (authentication.ts lets that one RPC through).
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

  /** The user of a "users/{id}/tokenEnrollment" name. */
  function enrollmentOwner(name: string): string {
    const match = /^users\/([^/]+)\/tokenEnrollment$/.exec(name);
    if (!match)
      throw new ChanceryError("invalid_argument", `name must look like "users/{id}/tokenEnrollment", got "${name}"`);
    return match[1]!;
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

    async createTokenEnrollment(request, context) {
      const by = actorOf(context, requireRole(context, "admin"));
      const userId = idFromName(request.parent, "users", "parent");
      const made = await tokens.createEnrollment(userId, by, { ttlMs: ttlMs(request.ttl) });
      return create(CreateTokenEnrollmentResponseSchema, {
        enrollment: enrollmentToProto(made.enrollment),
        code: made.code,
      });
    },

    async getTokenEnrollment(request, context) {
      requireRole(context, "admin");
      return enrollmentToProto(await tokens.getEnrollment(enrollmentOwner(request.name)));
    },

    async deleteTokenEnrollment(request, context) {
      const by = actorOf(context, requireRole(context, "admin"));
      await tokens.revokeEnrollment(enrollmentOwner(request.name), by);
      return create(EmptySchema, {});
    },

    async redeemTokenEnrollment(request, context) {
      // No principal: the code is the credential, and the core checks it
      // against the caller's address as the authenticator checks a token.
      const made = await tokens.redeemEnrollment(request.code, context.values.get(peerAddressKey));
      return create(CreateTokenResponseSchema, { token: toProto(made.token), secret: made.secret });
    },
  };
}

/** Unset means the default; otherwise whole seconds (the core checks the range). */
function ttlMs(ttl: Duration | undefined): number | undefined {
  if (!ttl) return undefined;
  if (ttl.nanos !== 0 || ttl.seconds <= 0n || ttl.seconds > BigInt(Math.floor(Number.MAX_SAFE_INTEGER / 1000)))
    throw new ChanceryError("invalid_argument", "ttl must be a positive whole number of seconds");
  return Number(ttl.seconds) * 1000;
}

function toProto(token: TokenInfo): PersonalAccessToken {
  return create(PersonalAccessTokenSchema, {
    name: `users/${token.userId}/token`,
    prefix: token.prefix,
    createTime: timestamp(token.createTime),
    lastUsedTime: timestamp(token.lastUsedTime),
  });
}

function enrollmentToProto(enrollment: TokenEnrollmentInfo): TokenEnrollment {
  return create(TokenEnrollmentSchema, {
    name: `users/${enrollment.userId}/tokenEnrollment`,
    prefix: enrollment.prefix,
    // Audit actors of users are "user:{id}"; anything else (a system actor) is shown as it is.
    creator: enrollment.createdBy.startsWith("user:")
      ? `users/${enrollment.createdBy.slice("user:".length)}`
      : enrollment.createdBy,
    createTime: timestamp(enrollment.createTime),
    expireTime: timestamp(enrollment.expireTime),
  });
}
