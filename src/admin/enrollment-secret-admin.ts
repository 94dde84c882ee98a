import { create } from "@bufbuild/protobuf";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import type {
  EnrollmentSecretService as CoreEnrollmentSecretService,
  EnrollmentSecret,
  EnrollmentSecretScope,
} from "../core/enrollment-secrets/enrollment-secret-types.ts";
import { ChanceryError, isChanceryError } from "../core/errors.ts";
import {
  CreateEnrollmentSecretResponseSchema,
  type EnrollmentSecretService,
  ListEnrollmentSecretsResponseSchema,
} from "../gen/chancery/admin/v1/enrollment_secret_pb.js";
import { idFromName, pageSize } from "./conversions.ts";
import {
  scopeFromProto,
  secretCollection,
  secretErrorFields,
  secretInputFromProto,
  secretToProto,
} from "./enrollment-secret-conversions.ts";
import { actorOf, canUseCa, type Principal, requireRole } from "./principal.ts";
import { withApiFieldName } from "./scep-conversions.ts";

/**
 * chancery.admin.v1.EnrollmentSecretService: one-time enrollment secrets of
 * SCEP endpoints and EST labels, proto ↔ core. Admins, and operators
 * assigned the CA of the endpoint or label: MDM and provisioning tools mint
 * secrets with an operator token. A scope of another CA, and its secrets,
 * are not_found to an operator, as a CA or certificate they may not use is
 * in the other services; the whole list, unscoped, is for admins. Audit
 * happens in the core service.
 */
export function createEnrollmentSecretAdmin(deps: {
  secrets: CoreEnrollmentSecretService;
}): ServiceImpl<typeof EnrollmentSecretService> {
  const { secrets } = deps;

  /** The caller, when they may manage the secrets of `scope` (not_found otherwise, worded as for an unknown scope). */
  async function scopeCaller(context: HandlerContext, scope: EnrollmentSecretScope): Promise<Principal> {
    const principal = requireRole(context, "operator");
    const { caId } = await secrets.describe(scope);
    // The core's words for a scope that does not exist, so the answer does not tell that this one does.
    if (!canUseCa(principal, caId)) throw secrets.scopeNotFound(scope);
    return principal;
  }

  /** The secret `name` names, for a caller who may manage its scope's secrets (not_found otherwise). */
  async function namedSecret(
    context: HandlerContext,
    name: string,
  ): Promise<{ secret: EnrollmentSecret; principal: Principal }> {
    // The role before anything is read: a user learns nothing about which secrets exist.
    requireRole(context, "operator");
    const id = idFromName(name, secretCollection);
    const secret = await secrets.get(id);
    try {
      return { secret, principal: await scopeCaller(context, secret.scope) };
    } catch (err) {
      // Hidden as the secret itself, not as its scope: the caller named the secret.
      if (isChanceryError(err, "not_found")) throw new ChanceryError("not_found", `no enrollment secret with id ${id}`);
      throw err;
    }
  }

  return {
    async createEnrollmentSecret(request, context) {
      requireRole(context, "operator");
      const input = secretInputFromProto(request.enrollmentSecret, request.ttl);
      const principal = await scopeCaller(context, input.scope);
      let made: Awaited<ReturnType<CoreEnrollmentSecretService["mint"]>>;
      try {
        made = await secrets.mint(input, actorOf(context, principal));
      } catch (err) {
        throw withApiFieldName(err, secretErrorFields);
      }
      return create(CreateEnrollmentSecretResponseSchema, {
        enrollmentSecret: secretToProto(made.record),
        secret: made.secret,
      });
    },

    async getEnrollmentSecret(request, context) {
      return secretToProto((await namedSecret(context, request.name)).secret);
    },

    async listEnrollmentSecrets(request, context) {
      const principal = requireRole(context, "operator");
      const scope = scopeFromProto(request.scope);
      if (scope) await scopeCaller(context, scope);
      else if (principal.role !== "admin")
        throw new ChanceryError(
          "permission_denied",
          "listing every enrollment secret needs the admin role: name a scep_endpoint or an est_label",
        );
      const page = await secrets.list(scope, {
        pageSize: pageSize(request.pageSize),
        pageToken: request.pageToken || undefined,
      });
      return create(ListEnrollmentSecretsResponseSchema, {
        enrollmentSecrets: page.secrets.map(secretToProto),
        nextPageToken: page.nextPageToken,
      });
    },

    async revokeEnrollmentSecret(request, context) {
      const { secret, principal } = await namedSecret(context, request.name);
      return secretToProto(await secrets.revoke(secret.id, actorOf(context, principal)));
    },
  };
}
