import { create } from "@bufbuild/protobuf";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { ChanceryError, isChanceryError } from "../core/errors.ts";
import type { EstLabel as CoreEstLabel, EstLabelService, EstSecretService } from "../core/est/est-types.ts";
import {
  CreateEstEnrollmentSecretResponseSchema,
  EstLabelSchema,
  type EstService,
  ListEstEnrollmentSecretsResponseSchema,
  ListEstLabelsResponseSchema,
} from "../gen/chancery/admin/v1/est_pb.js";
import { idFromName, pageSize } from "./conversions.ts";
import {
  immutableLabelFields,
  labelChangeFromProto,
  labelCollection,
  labelToProto,
  newLabelFromProto,
  secretFromName,
  secretInputFromProto,
  secretToProto,
} from "./est-conversions.ts";
import { applyUpdateMask } from "./field-mask.ts";
import { actorOf, canUseCa, type Principal, requireRole } from "./principal.ts";

/**
 * chancery.admin.v1.EstService: the EST server's control plane, proto ↔
 * core. Labels are admin only, reads included: a label's CA, profile and
 * authentication are issuance policy. Enrollment secrets are also for
 * operators assigned the label's CA (provisioning tools mint them with an
 * operator token); a label of another CA is not_found to them, as a CA they
 * may not use is in the other services. Audit happens in the core services.
 */
export function createEstAdmin(deps: {
  labels: EstLabelService;
  secrets: EstSecretService;
  /** The EST listener's public base URL: each label's url is built from it. */
  estBaseUrl: string;
}): ServiceImpl<typeof EstService> {
  const { labels, secrets, estBaseUrl } = deps;
  const toProto = (label: CoreEstLabel) => labelToProto(label, estBaseUrl);

  /** The label `name` names, for a caller who may manage its secrets (not_found otherwise). */
  async function secretLabel(
    context: HandlerContext,
    name: string,
    field: string,
  ): Promise<{ label: CoreEstLabel; principal: Principal }> {
    const principal = requireRole(context, "operator");
    const label = await labels.get(idFromName(name, labelCollection, field));
    if (!canUseCa(principal, label.caId)) throw new ChanceryError("not_found", `no EST label ${name}`);
    return { label, principal };
  }

  return {
    async createEstLabel(request, context) {
      const by = actorOf(context, requireRole(context, "admin"));
      const input = newLabelFromProto(request.estLabel ?? create(EstLabelSchema));
      return toProto(await labels.create(input, by));
    },

    async getEstLabel(request, context) {
      requireRole(context, "admin");
      return toProto(await labels.get(idFromName(request.name, labelCollection)));
    },

    async listEstLabels(request, context) {
      requireRole(context, "admin");
      const page = await labels.list({
        pageSize: pageSize(request.pageSize),
        pageToken: request.pageToken || undefined,
      });
      return create(ListEstLabelsResponseSchema, {
        estLabels: page.labels.map(toProto),
        nextPageToken: page.nextPageToken,
      });
    },

    async updateEstLabel(request, context) {
      const by = actorOf(context, requireRole(context, "admin"));
      const patch = request.estLabel;
      if (!patch) throw new ChanceryError("invalid_argument", "est_label is required");
      const id = idFromName(patch.name, labelCollection, "est_label.name");
      const current = toProto(await labels.get(id));
      const merged = applyUpdateMask(EstLabelSchema, current, patch, request.updateMask, immutableLabelFields);
      return toProto(await labels.update(id, labelChangeFromProto(merged, request.updateMask), by));
    },

    async deleteEstLabel(request, context) {
      const by = actorOf(context, requireRole(context, "admin"));
      await labels.delete(idFromName(request.name, labelCollection), by);
      return {};
    },

    async createEstEnrollmentSecret(request, context) {
      const { label, principal } = await secretLabel(context, request.parent, "parent");
      const made = await secrets.mint(
        secretInputFromProto(label.id, request.estEnrollmentSecret, request.ttl),
        actorOf(context, principal),
      );
      return create(CreateEstEnrollmentSecretResponseSchema, {
        estEnrollmentSecret: secretToProto(made.record),
        secret: made.secret,
      });
    },

    async listEstEnrollmentSecrets(request, context) {
      const { label } = await secretLabel(context, request.parent, "parent");
      const page = await secrets.list(label.id, {
        pageSize: pageSize(request.pageSize),
        pageToken: request.pageToken || undefined,
      });
      return create(ListEstEnrollmentSecretsResponseSchema, {
        estEnrollmentSecrets: page.secrets.map(secretToProto),
        nextPageToken: page.nextPageToken,
      });
    },

    async revokeEstEnrollmentSecret(request, context) {
      const { labelId, secretId } = secretFromName(request.name);
      const { label, principal } = await secretLabel(context, `${labelCollection}/${labelId}`, "name");
      // The secret must be the named label's: the caller's right to it comes from that label's CA.
      const secret = await secrets.get(secretId).catch((err: unknown) => {
        if (isChanceryError(err, "not_found")) return null;
        throw err;
      });
      if (!secret || secret.labelId !== label.id)
        throw new ChanceryError("not_found", `no EST enrollment secret ${request.name}`);
      return secretToProto(await secrets.revoke(secretId, actorOf(context, principal)));
    },
  };
}
