import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import type { AcmeDirectory as CoreAcmeDirectory } from "../core/acme/acme-types.ts";
import type { AcmeDirectoryService } from "../core/acme/directory-service.ts";
import type { AcmeEabKeyService } from "../core/acme/eab-key-service.ts";
import { ChanceryError } from "../core/errors.ts";
import {
  AcmeDirectorySchema,
  type AcmeService,
  CreateExternalAccountKeyResponseSchema,
  ListAcmeDirectoriesResponseSchema,
  ListExternalAccountKeysResponseSchema,
} from "../gen/chancery/admin/v1/acme_pb.js";
import {
  directoryChangeFromProto,
  directoryCollection,
  directoryToProto,
  immutableDirectoryFields,
  keyFromName,
  keyInputFromProto,
  keyToProto,
  newDirectoryFromProto,
} from "./acme-conversions.ts";
import { idFromName, pageSize } from "./conversions.ts";
import { applyUpdateMask } from "./field-mask.ts";
import { actorOf, requireRole } from "./principal.ts";

/**
 * chancery.admin.v1.AcmeService: the ACME server's control plane. Admins
 * only, reads included: a directory's trusted identifiers and CA binding
 * are issuance policy, and directories are not scoped to the CAs an
 * operator is assigned.
 */
export function createAcmeAdmin(deps: {
  directories: AcmeDirectoryService;
  eabKeys: AcmeEabKeyService;
  /** config acme.baseUrl: each directory's directory_url is built from it. */
  acmeBaseUrl: string;
}): ServiceImpl<typeof AcmeService> {
  const { directories, eabKeys, acmeBaseUrl } = deps;
  const toProto = (directory: CoreAcmeDirectory) => directoryToProto(directory, acmeBaseUrl);
  return {
    async createAcmeDirectory(request, context) {
      const by = actorOf(context, requireRole(context, "admin"));
      const input = newDirectoryFromProto(request.acmeDirectory ?? create(AcmeDirectorySchema));
      return toProto(await directories.create(input, by));
    },

    async getAcmeDirectory(request, context) {
      requireRole(context, "admin");
      return toProto(await directories.get(idFromName(request.name, directoryCollection)));
    },

    async listAcmeDirectories(request, context) {
      requireRole(context, "admin");
      const all = await directories.list();
      const size = pageSize(request.pageSize);
      // The token is the last name of the page: directories are few and listed by name.
      let start = 0;
      if (request.pageToken) {
        const after = Buffer.from(request.pageToken, "base64url").toString("utf8");
        if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(after))
          throw new ChanceryError("invalid_argument", "page_token is not one this list returned");
        start = all.findIndex((d) => d.name > after);
        if (start < 0) start = all.length;
      }
      const page = all.slice(start, start + size);
      const more = start + size < all.length;
      return create(ListAcmeDirectoriesResponseSchema, {
        acmeDirectories: page.map(toProto),
        nextPageToken: more && page.length > 0 ? Buffer.from(page[page.length - 1]!.name).toString("base64url") : "",
      });
    },

    async updateAcmeDirectory(request, context) {
      const by = actorOf(context, requireRole(context, "admin"));
      const patch = request.acmeDirectory;
      if (!patch) throw new ChanceryError("invalid_argument", "acme_directory is required");
      const id = idFromName(patch.name, directoryCollection, "acme_directory.name");
      const current = toProto(await directories.get(id));
      const merged = applyUpdateMask(AcmeDirectorySchema, current, patch, request.updateMask, immutableDirectoryFields);
      return toProto(await directories.update(id, directoryChangeFromProto(merged, request.updateMask), by));
    },

    async deleteAcmeDirectory(request, context) {
      const by = actorOf(context, requireRole(context, "admin"));
      await directories.delete(idFromName(request.name, directoryCollection), by);
      return {};
    },

    async createExternalAccountKey(request, context) {
      const by = actorOf(context, requireRole(context, "admin"));
      const directoryId = idFromName(request.parent, directoryCollection, "parent");
      const made = await eabKeys.create(directoryId, keyInputFromProto(request.externalAccountKey), by);
      return create(CreateExternalAccountKeyResponseSchema, {
        externalAccountKey: keyToProto(made.key),
        hmacKey: made.hmacKey,
      });
    },

    async listExternalAccountKeys(request, context) {
      requireRole(context, "admin");
      const directoryId = idFromName(request.parent, directoryCollection, "parent");
      const page = await eabKeys.list(directoryId, {
        pageSize: pageSize(request.pageSize),
        pageToken: request.pageToken || undefined,
      });
      return create(ListExternalAccountKeysResponseSchema, {
        externalAccountKeys: page.keys.map(keyToProto),
        nextPageToken: page.nextPageToken,
      });
    },

    async revokeExternalAccountKey(request, context) {
      const by = actorOf(context, requireRole(context, "admin"));
      const { directoryId, keyId } = keyFromName(request.name);
      return keyToProto(await eabKeys.revoke(directoryId, keyId, by));
    },
  };
}
