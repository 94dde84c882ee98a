import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { ChanceryError } from "../core/errors.ts";
import type { Profile as CoreProfile, ProfileInput } from "../core/profiles/profile-schema.ts";
import type { ProfileService as CoreProfileService } from "../core/profiles/profile-service.ts";
import {
  ListProfilesResponseSchema,
  type Profile,
  ProfileSchema,
  type ProfileService,
} from "../gen/chancery/admin/v1/profile_pb.js";
import { idFromName, pageSize } from "./conversions.ts";
import { applyUpdateMask } from "./field-mask.ts";
import { actorOf, requireRole } from "./principal.ts";
import {
  profileCollection,
  profileDefinitionToProto,
  profileInputFromProto,
  profileToProto,
} from "./profile-conversions.ts";

/** Fields of Profile an update cannot touch: the identity and the output-only times. */
const immutableFields = ["name", "create_time", "update_time"];

/**
 * What UpdateProfile's `patch` and `updateMask` make of the `current`
 * definition, as core input for profile `name`: the AIP-134 merge runs on the
 * proto form, where update_mask paths are defined. Shared with the approval
 * queue (request-admin.ts), so a proposed profile change is merged and
 * validated exactly as an update is.
 */
export function mergeProfileUpdate(
  current: CoreProfile,
  patch: Profile,
  updateMask: readonly string[],
  name: string,
): ProfileInput {
  const merged = applyUpdateMask(ProfileSchema, profileDefinitionToProto(current), patch, updateMask, immutableFields);
  return profileInputFromProto(merged, name);
}

/**
 * A profile with requires_approval.required set is changed and deleted only
 * through the approval queue, where other admins approve it: applying an
 * edit at once would let one admin weaken (or switch off) the very rule that
 * asks for more than one. Checked on the definition under the row lock, so
 * a concurrent edit switching the rule on cannot slip past. Switching it on
 * for a profile that does not have it applies directly.
 */
function refuseIfApprovalRequired(current: CoreProfile, what: "changed" | "deleted"): void {
  const rule = current.requiresApproval;
  if (!rule.required) return;
  const field = what === "changed" ? "profile_change (profile and update_mask as here)" : "profile_deletion";
  throw new ChanceryError(
    "failed_precondition",
    `profile "${current.name}" requires approval (requires_approval.required), so it is ${what} only through ` +
      `the approval queue: submit RequestService.CreateRequest with request.${field}; it takes ` +
      `${rule.approvers} distinct admin approval${rule.approvers === 1 ? "" : "s"} other than yours`,
  );
}

/**
 * chancery.admin.v1.ProfileService: admins manage profiles; operators and
 * admins read them. Profiles that require approval are changed through
 * RequestService instead (see refuseIfApprovalRequired).
 */
export function createProfileAdmin(deps: { profiles: CoreProfileService }): ServiceImpl<typeof ProfileService> {
  const { profiles } = deps;
  return {
    async createProfile(request, context) {
      const by = actorOf(context, requireRole(context, "admin"));
      const profile = request.profile ?? create(ProfileSchema);
      const named = profile.name ? idFromName(profile.name, profileCollection, "profile.name") : "";
      if (request.profileId && named && request.profileId !== named)
        throw new ChanceryError(
          "invalid_argument",
          `profile_id "${request.profileId}" and profile.name "${profile.name}" name different profiles`,
        );
      const id = request.profileId || named;
      if (!id) throw new ChanceryError("invalid_argument", "profile_id (or profile.name) is required");
      return profileToProto(await profiles.create(profileInputFromProto(profile, id), by));
    },

    async getProfile(request, context) {
      requireRole(context, "operator");
      return profileToProto(await profiles.get(idFromName(request.name, profileCollection)));
    },

    async listProfiles(request, context) {
      requireRole(context, "operator");
      const page = await profiles.listPage({
        pageSize: pageSize(request.pageSize),
        pageToken: request.pageToken || undefined,
      });
      return create(ListProfilesResponseSchema, {
        profiles: page.profiles.map(profileToProto),
        nextPageToken: page.nextPageToken,
      });
    },

    async updateProfile(request, context) {
      const by = actorOf(context, requireRole(context, "admin"));
      const patch = request.profile;
      if (!patch) throw new ChanceryError("invalid_argument", "profile is required");
      const id = idFromName(patch.name, profileCollection, "profile.name");
      const updated = await profiles.update(
        id,
        (current) => {
          // Against the definition as it stands under the row lock.
          refuseIfApprovalRequired(current, "changed");
          return mergeProfileUpdate(current, patch, request.updateMask, id);
        },
        by,
      );
      return profileToProto(updated);
    },

    async deleteProfile(request, context) {
      const by = actorOf(context, requireRole(context, "admin"));
      await profiles.delete(idFromName(request.name, profileCollection), by, {
        check: (current) => refuseIfApprovalRequired(current, "deleted"),
      });
      return {};
    },
  };
}
