import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { ChanceryError, isChanceryError } from "../core/errors.ts";
import type {
  ScepEndpoint as CoreScepEndpoint,
  ScepEndpointService,
  ScepRaCredential,
  ScepRaService,
} from "../core/scep/scep-types.ts";
import {
  ListScepEndpointsResponseSchema,
  ScepEndpointSchema,
  type ScepService,
} from "../gen/chancery/admin/v1/scep_pb.js";
import { idFromName, pageSize } from "./conversions.ts";
import { applyUpdateMask } from "./field-mask.ts";
import { actorOf, requireRole } from "./principal.ts";
import {
  endpointChangeFromProto,
  endpointCollection,
  endpointErrorFields,
  endpointToProto,
  immutableEndpointFields,
  newEndpointFromProto,
  raCertificateToProto,
  withApiFieldName,
} from "./scep-conversions.ts";

/** The core's answer, its validation errors naming the API's fields (see withApiFieldName). */
async function inApiTerms<T>(call: Promise<T>, fields: Readonly<Record<string, string>>): Promise<T> {
  try {
    return await call;
  } catch (err) {
    throw withApiFieldName(err, fields);
  }
}

/**
 * chancery.admin.v1.ScepService: the SCEP server's control plane, proto ↔
 * core. Endpoints and RA rotation are admin only, reads included: an
 * endpoint's CA, profile and challenge mode are issuance policy. One-time
 * challenges are enrollment secrets (enrollment-secret-admin.ts). Audit
 * happens in the core services.
 */
export function createScepAdmin(deps: {
  endpoints: ScepEndpointService;
  ra: ScepRaService;
  /** The SCEP listener's public base URL: each endpoint's url is built from it. */
  scepBaseUrl: string;
}): ServiceImpl<typeof ScepService> {
  const { endpoints, ra, scepBaseUrl } = deps;

  /**
   * The current RA certificate (made now when there is none or it is due),
   * or null when none can be made, e.g. while the endpoint's CA is disabled
   * or expired: reading or fixing the endpoint must still work then.
   */
  async function currentRa(endpoint: CoreScepEndpoint): Promise<ScepRaCredential | null> {
    try {
      return await ra.current(endpoint);
    } catch (err) {
      if (isChanceryError(err, "failed_precondition")) return null;
      throw err;
    }
  }

  const toProto = async (endpoint: CoreScepEndpoint) =>
    endpointToProto(endpoint, scepBaseUrl, await currentRa(endpoint));

  return {
    async createScepEndpoint(request, context) {
      const by = actorOf(context, requireRole(context, "admin"));
      const input = newEndpointFromProto(request.scepEndpoint ?? create(ScepEndpointSchema));
      return toProto(await inApiTerms(endpoints.create(input, by), endpointErrorFields));
    },

    async getScepEndpoint(request, context) {
      requireRole(context, "admin");
      return toProto(await endpoints.get(idFromName(request.name, endpointCollection)));
    },

    async listScepEndpoints(request, context) {
      requireRole(context, "admin");
      const page = await endpoints.list({
        pageSize: pageSize(request.pageSize),
        pageToken: request.pageToken || undefined,
      });
      // One at a time: the first read of an endpoint may make its RA key, and a page must not make them all at once.
      const scepEndpoints = [];
      for (const endpoint of page.endpoints) scepEndpoints.push(await toProto(endpoint));
      return create(ListScepEndpointsResponseSchema, { scepEndpoints, nextPageToken: page.nextPageToken });
    },

    async updateScepEndpoint(request, context) {
      const by = actorOf(context, requireRole(context, "admin"));
      const patch = request.scepEndpoint;
      if (!patch) throw new ChanceryError("invalid_argument", "scep_endpoint is required");
      const id = idFromName(patch.name, endpointCollection, "scep_endpoint.name");
      // The RA certificate is output only (immutable here), so the merge base does without it.
      const current = endpointToProto(await endpoints.get(id), scepBaseUrl, null);
      const merged = applyUpdateMask(ScepEndpointSchema, current, patch, request.updateMask, immutableEndpointFields);
      const change = endpointChangeFromProto(merged, request.updateMask);
      return toProto(await inApiTerms(endpoints.update(id, change, by), endpointErrorFields));
    },

    async deleteScepEndpoint(request, context) {
      const by = actorOf(context, requireRole(context, "admin"));
      await endpoints.delete(idFromName(request.name, endpointCollection), by);
      return {};
    },

    async rotateScepRaCertificate(request, context) {
      const by = actorOf(context, requireRole(context, "admin"));
      const endpoint = await endpoints.get(idFromName(request.name, endpointCollection));
      return raCertificateToProto(await ra.rotate(endpoint, by));
    },
  };
}
