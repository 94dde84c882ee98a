import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { ChanceryError } from "../core/errors.ts";
import type { Role as CoreRole } from "../core/identity/role.ts";
import type { TotpService } from "../core/identity/totp-service.ts";
import type { User as CoreUser } from "../core/identity/user.ts";
import type { UserService as CoreUserService, UpdateUserInput } from "../core/identity/user-service.ts";
import {
  EnrollTotpResponseSchema,
  ListUsersResponseSchema,
  Role,
  type User,
  UserSchema,
  type UserService,
} from "../gen/chancery/admin/v1/user_pb.js";
import { idFromName, timestamp } from "./conversions.ts";
import { actorOf, requireRole } from "./principal.ts";

const caCollection = "certificateAuthorities";

/** chancery.admin.v1.UserService: admins manage accounts; anyone reads their own. */
export function createUserAdmin(deps: { users: CoreUserService; totp: TotpService }): ServiceImpl<typeof UserService> {
  const { users, totp } = deps;
  const withTotp = async (user: CoreUser) => toProto(user, await totp.isEnrolled(user.id));
  return {
    async createUser(request, context) {
      const by = actorOf(context, requireRole(context, "admin"));
      const user = request.user;
      if (!user) throw new ChanceryError("invalid_argument", "user is required");
      return withTotp(
        await users.create(
          {
            username: user.username,
            displayName: user.displayName,
            email: user.email,
            role: user.role === Role.UNSPECIFIED ? undefined : roleFromProto(user.role),
            disabled: user.disabled,
            apiAccess: user.apiAccess,
            allowedSubnets: user.allowedSubnets,
            assignedCaIds: user.assignedCertificateAuthorities.map((n) =>
              idFromName(n, caCollection, "assigned_certificate_authorities"),
            ),
          },
          by,
        ),
      );
    },

    async getUser(request, context) {
      requireRole(context, "admin");
      return withTotp(await users.get(idFromName(request.name, "users")));
    },

    async listUsers(request, context) {
      requireRole(context, "admin");
      const page = await users.list({ pageSize: request.pageSize, pageToken: request.pageToken || undefined });
      return create(ListUsersResponseSchema, {
        users: await Promise.all(page.users.map((user) => withTotp(user))),
        nextPageToken: page.nextPageToken,
      });
    },

    async updateUser(request, context) {
      const by = actorOf(context, requireRole(context, "admin"));
      const user = request.user;
      if (!user) throw new ChanceryError("invalid_argument", "user is required");
      if (request.updateMask.length === 0)
        throw new ChanceryError("invalid_argument", "update_mask must name the fields to change (AIP-134)");
      const changes: UpdateUserInput = {};
      for (const path of request.updateMask) {
        switch (path) {
          case "display_name":
            changes.displayName = user.displayName;
            break;
          case "email":
            changes.email = user.email;
            break;
          case "role":
            changes.role = roleFromProto(user.role);
            break;
          case "disabled":
            changes.disabled = user.disabled;
            break;
          case "api_access":
            changes.apiAccess = user.apiAccess;
            break;
          case "allowed_subnets":
            changes.allowedSubnets = user.allowedSubnets;
            break;
          case "assigned_certificate_authorities":
            changes.assignedCaIds = user.assignedCertificateAuthorities.map((n) =>
              idFromName(n, caCollection, "assigned_certificate_authorities"),
            );
            break;
          default:
            throw new ChanceryError("invalid_argument", `update_mask: "${path}" is not a field that can be updated`);
        }
      }
      return withTotp(await users.update(idFromName(user.name, "users", "user.name"), changes, by));
    },

    async getCurrentUser(_request, context) {
      const principal = requireRole(context, "user");
      return withTotp(await users.get(principal.userId));
    },

    async enrollTotp(_request, context) {
      const principal = requireRole(context, "user");
      const enrollment = await totp.enroll(principal.userId, principal.username, actorOf(context, principal));
      return create(EnrollTotpResponseSchema, { uri: enrollment.uri, secretBase32: enrollment.secretBase32 });
    },

    async confirmTotp(request, context) {
      const principal = requireRole(context, "user");
      await totp.confirm(principal.userId, request.code, actorOf(context, principal));
      return withTotp(await users.get(principal.userId));
    },

    async resetTotp(request, context) {
      const by = actorOf(context, requireRole(context, "admin"));
      const id = idFromName(request.name, "users");
      await totp.reset(id, by);
      return withTotp(await users.get(id));
    },
  };
}

function roleFromProto(role: Role): CoreRole {
  switch (role) {
    case Role.USER:
      return "user";
    case Role.OPERATOR:
      return "operator";
    case Role.ADMIN:
      return "admin";
    default:
      throw new ChanceryError("invalid_argument", "role must be ROLE_USER, ROLE_OPERATOR or ROLE_ADMIN");
  }
}

const roleToProto: Record<CoreRole, Role> = { user: Role.USER, operator: Role.OPERATOR, admin: Role.ADMIN };

function toProto(user: CoreUser, totpEnrolled = false): User {
  return create(UserSchema, {
    name: `users/${user.id}`,
    username: user.username,
    displayName: user.displayName,
    email: user.email,
    role: roleToProto[user.role],
    disabled: user.disabled,
    apiAccess: user.apiAccess,
    allowedSubnets: [...user.allowedSubnets],
    assignedCertificateAuthorities: user.assignedCaIds.map((id) => `${caCollection}/${id}`),
    createTime: timestamp(user.createTime),
    updateTime: timestamp(user.updateTime),
    totpEnrolled,
  });
}
