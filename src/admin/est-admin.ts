import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { ChanceryError } from "../core/errors.ts";
import type { EstLabel as CoreEstLabel, EstLabelService } from "../core/est/est-types.ts";
import { EstLabelSchema, type EstService, ListEstLabelsResponseSchema } from "../gen/chancery/admin/v1/est_pb.js";
import { idFromName, pageSize } from "./conversions.ts";
import {
  immutableLabelFields,
  labelChangeFromProto,
  labelCollection,
  labelToProto,
  newLabelFromProto,
} from "./est-conversions.ts";
import { applyUpdateMask } from "./field-mask.ts";
import { actorOf, requireRole } from "./principal.ts";

/**
 * chancery.admin.v1.EstService: the EST server's control plane, proto ↔
 * core. Labels are admin only, reads included: a label's CA, profile and
 * authentication are issuance policy. Their one-time enrollment secrets are
 * in enrollment-secret-admin.ts. Audit happens in the core services.
 */
export function createEstAdmin(deps: {
  labels: EstLabelService;
  /** The EST listener's public base URL: each label's url is built from it. */
  estBaseUrl: string;
}): ServiceImpl<typeof EstService> {
  const { labels, estBaseUrl } = deps;
  const toProto = (label: CoreEstLabel) => labelToProto(label, estBaseUrl);

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
  };
}
