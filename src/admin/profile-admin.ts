import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { ChanceryError } from "../core/errors.ts";
import type { ProfileService as CoreProfileService } from "../core/profiles/profile-service.ts";
import { ListProfilesResponseSchema, ProfileSchema, type ProfileService } from "../gen/chancery/admin/v1/profile_pb.js";
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

/** chancery.admin.v1.ProfileService: admins manage profiles; operators and admins read them. */
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
      // NOT YET ENFORCED: editing a profile whose requiresApproval.required is set is itself meant
      // to be a request that needs approval (it should wait in the requests queue, not apply at
      // once). The requests queue cannot carry profile changes yet, so for now an admin's edit
      // applies directly, like any other profile edit. Once it can, this call should submit such
      // a request instead of calling profiles.update.
      const updated = await profiles.update(
        id,
        (current) => {
          // The merge runs on the proto form, where update_mask paths are defined, against the
          // definition as it stands under the row lock.
          const merged = applyUpdateMask(
            ProfileSchema,
            profileDefinitionToProto(current),
            patch,
            request.updateMask,
            immutableFields,
          );
          return profileInputFromProto(merged, id);
        },
        by,
      );
      return profileToProto(updated);
    },

    async deleteProfile(request, context) {
      const by = actorOf(context, requireRole(context, "admin"));
      await profiles.delete(idFromName(request.name, profileCollection), by);
      return {};
    },
  };
}
