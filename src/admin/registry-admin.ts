import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { ChanceryError } from "../core/errors.ts";
import type { CertificatePolicyEntry } from "../core/registry/certificate-policy-entry.ts";
import type { ObjectIdentifierEntry, Placement } from "../core/registry/object-identifier-entry.ts";
import type { RegistryService as CoreRegistryService } from "../core/registry/registry-service.ts";
import type { StringValueType } from "../core/x509/string-value-type.ts";
import {
  type CertificatePolicy,
  CertificatePolicySchema,
  ListCertificatePoliciesResponseSchema,
  ListObjectIdentifiersResponseSchema,
  type ObjectIdentifier,
  ObjectIdentifier_Placement,
  ObjectIdentifier_ValueType,
  ObjectIdentifierSchema,
  type RegistryService,
} from "../gen/chancery/admin/v1/registry_pb.js";
import { idFromName, pageSize, timestamp } from "./conversions.ts";
import { applyUpdateMask } from "./field-mask.ts";
import { actorOf, requireRole } from "./principal.ts";

const oidCollection = "objectIdentifiers";
const policyCollection = "certificatePolicies";
/** Fields an update cannot touch: identity, encoding and output-only fields. */
const immutableOidFields = ["name", "oid", "value_type", "placement", "builtin", "create_time", "update_time"];
const immutablePolicyFields = ["name", "oid", "builtin", "create_time", "update_time"];

const placements: ReadonlyArray<[ObjectIdentifier_Placement, Placement]> = [
  [ObjectIdentifier_Placement.GENERAL_NAME, "general_name"],
  [ObjectIdentifier_Placement.SAN_OTHER_NAME, "san_other_name"],
  [ObjectIdentifier_Placement.SUBJECT_ATTRIBUTE, "subject_attribute"],
  [ObjectIdentifier_Placement.EXTENSION, "extension"],
];

const valueTypes: ReadonlyArray<[ObjectIdentifier_ValueType, StringValueType]> = [
  [ObjectIdentifier_ValueType.UTF8_STRING, "utf8String"],
  [ObjectIdentifier_ValueType.PRINTABLE_STRING, "printableString"],
  [ObjectIdentifier_ValueType.IA5_STRING, "ia5String"],
  [ObjectIdentifier_ValueType.NUMERIC_STRING, "numericString"],
  [ObjectIdentifier_ValueType.BMP_STRING, "bmpString"],
];

/** chancery.admin.v1.RegistryService: operators and admins read the registries; admins change them. */
export function createRegistryAdmin(deps: { registry: CoreRegistryService }): ServiceImpl<typeof RegistryService> {
  const { registry } = deps;
  return {
    async listObjectIdentifiers(request, context) {
      requireRole(context, "operator");
      const page = pageOf(await registry.listObjectIdentifiers(), request.pageSize, request.pageToken);
      return create(ListObjectIdentifiersResponseSchema, {
        objectIdentifiers: page.entries.map(objectIdentifierToProto),
        nextPageToken: page.nextPageToken,
      });
    },

    async getObjectIdentifier(request, context) {
      requireRole(context, "operator");
      return objectIdentifierToProto(await registry.getObjectIdentifier(idFromName(request.name, oidCollection)));
    },

    async createObjectIdentifier(request, context) {
      const by = actorOf(context, requireRole(context, "admin"));
      const entry = request.objectIdentifier ?? create(ObjectIdentifierSchema);
      const id = newId(request.objectIdentifierId, entry.name, oidCollection, "object_identifier");
      const placement = placements.find(([proto]) => proto === entry.placement)?.[1];
      if (!placement) throw new ChanceryError("invalid_argument", "object_identifier.placement must be set");
      const valueType = valueTypes.find(([proto]) => proto === entry.valueType)?.[1];
      if (!valueType) throw new ChanceryError("invalid_argument", "object_identifier.value_type must be set");
      const created = await registry.createObjectIdentifier(
        {
          id,
          oid: entry.oid,
          displayName: entry.displayName,
          valueType,
          placement,
          ...(entry.valuePattern ? { valuePattern: entry.valuePattern } : {}),
        },
        by,
      );
      return objectIdentifierToProto(created);
    },

    async updateObjectIdentifier(request, context) {
      const by = actorOf(context, requireRole(context, "admin"));
      const patch = request.objectIdentifier;
      if (!patch) throw new ChanceryError("invalid_argument", "object_identifier is required");
      const id = idFromName(patch.name, oidCollection, "object_identifier.name");
      const current = objectIdentifierToProto(await registry.getObjectIdentifier(id));
      const merged = applyUpdateMask(ObjectIdentifierSchema, current, patch, request.updateMask, immutableOidFields);
      const updated = await registry.updateObjectIdentifier(
        id,
        { displayName: merged.displayName, ...(merged.valuePattern ? { valuePattern: merged.valuePattern } : {}) },
        by,
      );
      return objectIdentifierToProto(updated);
    },

    async deleteObjectIdentifier(request, context) {
      const by = actorOf(context, requireRole(context, "admin"));
      await registry.deleteObjectIdentifier(idFromName(request.name, oidCollection), by);
      return {};
    },

    async listCertificatePolicies(request, context) {
      requireRole(context, "operator");
      const page = pageOf(await registry.listCertificatePolicies(), request.pageSize, request.pageToken);
      return create(ListCertificatePoliciesResponseSchema, {
        certificatePolicies: page.entries.map(certificatePolicyToProto),
        nextPageToken: page.nextPageToken,
      });
    },

    async getCertificatePolicy(request, context) {
      requireRole(context, "operator");
      return certificatePolicyToProto(await registry.getCertificatePolicy(idFromName(request.name, policyCollection)));
    },

    async createCertificatePolicy(request, context) {
      const by = actorOf(context, requireRole(context, "admin"));
      const entry = request.certificatePolicy ?? create(CertificatePolicySchema);
      const id = newId(request.certificatePolicyId, entry.name, policyCollection, "certificate_policy");
      const created = await registry.createCertificatePolicy(
        {
          id,
          oid: entry.oid,
          displayName: entry.displayName,
          ...(entry.cpsUri ? { cpsUri: entry.cpsUri } : {}),
          ...(entry.userNotice ? { userNotice: entry.userNotice } : {}),
        },
        by,
      );
      return certificatePolicyToProto(created);
    },

    async updateCertificatePolicy(request, context) {
      const by = actorOf(context, requireRole(context, "admin"));
      const patch = request.certificatePolicy;
      if (!patch) throw new ChanceryError("invalid_argument", "certificate_policy is required");
      const id = idFromName(patch.name, policyCollection, "certificate_policy.name");
      const current = certificatePolicyToProto(await registry.getCertificatePolicy(id));
      const merged = applyUpdateMask(
        CertificatePolicySchema,
        current,
        patch,
        request.updateMask,
        immutablePolicyFields,
      );
      const updated = await registry.updateCertificatePolicy(
        id,
        {
          displayName: merged.displayName,
          ...(merged.cpsUri ? { cpsUri: merged.cpsUri } : {}),
          ...(merged.userNotice ? { userNotice: merged.userNotice } : {}),
        },
        by,
      );
      return certificatePolicyToProto(updated);
    },

    async deleteCertificatePolicy(request, context) {
      const by = actorOf(context, requireRole(context, "admin"));
      await registry.deleteCertificatePolicy(idFromName(request.name, policyCollection), by);
      return {};
    },
  };
}

/** The new entry's id from `<kind>_id` or the resource name (AIP-133); both given must agree. */
function newId(explicit: string, name: string, collection: string, field: string): string {
  const named = name ? idFromName(name, collection, `${field}.name`) : "";
  if (explicit && named && explicit !== named)
    throw new ChanceryError("invalid_argument", `${field}_id "${explicit}" and ${field}.name "${name}" disagree`);
  const id = explicit || named;
  if (!id) throw new ChanceryError("invalid_argument", `${field}_id (or ${field}.name) is required`);
  return id;
}

/**
 * One page of a registry listing (built-ins first, then stored entries by
 * id). The token is the last entry's id: the lists are small and ordered
 * the same way on every call, so the next page starts after that id.
 */
function pageOf<T extends { id: string }>(
  entries: readonly T[],
  requested: number,
  token: string,
): { entries: T[]; nextPageToken: string } {
  const size = pageSize(requested);
  let start = 0;
  if (token) {
    const after = Buffer.from(token, "base64url").toString("utf8");
    const index = entries.findIndex((e) => e.id === after);
    if (index < 0) throw new ChanceryError("invalid_argument", "page_token is not one this service returned");
    start = index + 1;
  }
  const page = entries.slice(start, start + size);
  const more = start + size < entries.length;
  return {
    entries: page,
    nextPageToken: more && page.length > 0 ? Buffer.from(page[page.length - 1]!.id).toString("base64url") : "",
  };
}

function objectIdentifierToProto(entry: ObjectIdentifierEntry): ObjectIdentifier {
  return create(ObjectIdentifierSchema, {
    name: `${oidCollection}/${entry.id}`,
    oid: entry.oid,
    displayName: entry.displayName,
    valueType: valueTypes.find(([, core]) => core === entry.valueType)?.[0] ?? ObjectIdentifier_ValueType.UNSPECIFIED,
    placement: placements.find(([, core]) => core === entry.placement)?.[0] ?? ObjectIdentifier_Placement.UNSPECIFIED,
    valuePattern: entry.valuePattern ?? "",
    builtin: entry.builtin,
    createTime: timestamp(entry.createdAt),
    updateTime: timestamp(entry.updatedAt),
  });
}

function certificatePolicyToProto(entry: CertificatePolicyEntry): CertificatePolicy {
  return create(CertificatePolicySchema, {
    name: `${policyCollection}/${entry.id}`,
    oid: entry.oid,
    displayName: entry.displayName,
    cpsUri: entry.cpsUri ?? "",
    userNotice: entry.userNotice ?? "",
    builtin: entry.builtin,
    createTime: timestamp(entry.createdAt),
    updateTime: timestamp(entry.updatedAt),
  });
}
