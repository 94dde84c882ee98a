import { create } from "@bufbuild/protobuf";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import type { CaService } from "../core/ca/ca-service.ts";
import type { CertificateAuthority as CoreCa } from "../core/ca/certificate-authority.ts";
import type { CrlService, CrlSnapshot } from "../core/crl/crl-service.ts";
import { currentCrl } from "../core/crl/current-crl.ts";
import { ChanceryError } from "../core/errors.ts";
import type { OcspService } from "../core/ocsp/ocsp-service.ts";
import type { OcspResponderService } from "../core/ocsp/responder-service.ts";
import type { CaUrls } from "../core/profiles/ca-urls.ts";
import type { NameConstraints as CoreNameConstraints } from "../core/x509/extensions.ts";
import type { NameAttribute as CoreNameAttribute } from "../core/x509/name.ts";
import { pemEncode } from "../core/x509/pem.ts";
import {
  type CertificateAuthority,
  CertificateAuthority_Kind,
  CertificateAuthority_State,
  CertificateAuthoritySchema,
  type CertificateAuthorityService,
  type Crl,
  CrlSchema,
  ListCertificateAuthoritiesResponseSchema,
  type NameAttribute,
  type NameConstraints,
  OcspCacheStateSchema,
  OcspResponderSchema,
} from "../gen/chancery/admin/v1/certificate_authority_pb.js";
import { idFromName, keyAlgorithmFromProto, keyAlgorithmToProto, pageSize, timestamp } from "./conversions.ts";
import { decodePageToken, encodePageToken } from "./page-token.ts";
import { actorOf, canUseCa, requireRole } from "./principal.ts";

const collection = "certificateAuthorities";

/**
 * chancery.admin.v1.CertificateAuthorityService: proto ↔ core, nothing more.
 * Admins manage CAs; operators read the CAs assigned to them.
 */
export function createCertificateAuthorityAdmin(deps: {
  cas: CaService;
  crls: Pick<CrlService, "latest" | "refresh" | "generate">;
  /** This replica's OCSP cache (GetOcspResponder reports it). */
  ocsp: Pick<OcspService, "cacheState" | "caCacheState">;
  ocspResponders: Pick<OcspResponderService, "current">;
  /** Where the CA's CRL is published (download_url). */
  caUrls: (caId: string) => CaUrls;
}): ServiceImpl<typeof CertificateAuthorityService> {
  const { cas, crls } = deps;

  function crlToProto(crl: CrlSnapshot): Crl {
    return create(CrlSchema, {
      name: `${collection}/${crl.caId}/crl`,
      crlNumber: crl.number,
      thisUpdate: timestamp(crl.thisUpdate),
      nextUpdate: timestamp(crl.nextUpdate),
      entryCount: crl.entryCount,
      downloadUrl: deps.caUrls(crl.caId).crl,
      sha256: crl.sha256,
    });
  }

  async function readable(context: HandlerContext, name: string): Promise<CoreCa> {
    const principal = requireRole(context, "operator");
    const id = idFromName(name, collection);
    // An operator asking for a CA outside their assignment learns nothing about it.
    if (!canUseCa(principal, id)) throw new ChanceryError("not_found", `no CA ${name}`);
    return cas.get(id);
  }

  return {
    async createRootCertificateAuthority(request, context) {
      const by = actorOf(context, requireRole(context, "admin"));
      const ca = await cas.createRoot(
        {
          name: request.displayName,
          subject: subjectFromProto(request.subject),
          keyAlgorithm: keyAlgorithmFromProto(request.keyAlgorithm),
          validityDays: request.validityDays,
          pathLen: request.pathLen,
          nameConstraints: nameConstraintsFromProto(request.nameConstraints),
        },
        by,
      );
      return toProto(ca, await cas.chainPem(ca.id));
    },

    async createIntermediateCertificateAuthority(request, context) {
      const by = actorOf(context, requireRole(context, "admin"));
      const ca = await cas.createIntermediate(
        {
          name: request.displayName,
          parentId: idFromName(request.parent, collection, "parent"),
          subject: subjectFromProto(request.subject),
          keyAlgorithm: keyAlgorithmFromProto(request.keyAlgorithm),
          validityDays: request.validityDays,
          pathLen: request.pathLen,
          nameConstraints: nameConstraintsFromProto(request.nameConstraints),
        },
        by,
      );
      return toProto(ca, await cas.chainPem(ca.id));
    },

    async createExternalCertificateAuthority(request, context) {
      const by = actorOf(context, requireRole(context, "admin"));
      const { ca } = await cas.createExternalIntermediate(
        {
          name: request.displayName,
          subject: subjectFromProto(request.subject),
          keyAlgorithm: keyAlgorithmFromProto(request.keyAlgorithm),
          pathLen: request.pathLen,
        },
        by,
      );
      return toProto(ca, "");
    },

    async importSignedCertificate(request, context) {
      const by = actorOf(context, requireRole(context, "admin"));
      const ca = await cas.importSignedCertificate(
        idFromName(request.name, collection),
        request.certificateChainPem,
        by,
      );
      return toProto(ca, await cas.chainPem(ca.id));
    },

    async importCertificateAuthority(request, context) {
      const by = actorOf(context, requireRole(context, "admin"));
      let ca: CoreCa;
      if (request.pkcs12.length > 0) {
        ca = await cas.importExisting(
          request.displayName,
          {
            pkcs12: request.pkcs12,
            passphrase: request.passphrase,
            ...(request.certificateChainPem ? { certificates: request.certificateChainPem } : {}),
          },
          by,
        );
      } else {
        if (!request.certificateChainPem || request.privateKey.length === 0)
          throw new ChanceryError(
            "invalid_argument",
            "give either pkcs12, or certificate_chain_pem together with private_key",
          );
        ca = await cas.importExisting(
          request.displayName,
          {
            certificates: request.certificateChainPem,
            privateKey: request.privateKey,
            ...(request.passphrase ? { passphrase: request.passphrase } : {}),
          },
          by,
        );
      }
      return toProto(ca, await cas.chainPem(ca.id));
    },

    async getCertificateAuthority(request, context) {
      const ca = await readable(context, request.name);
      return toProto(ca, ca.certificateDer ? await cas.chainPem(ca.id) : "");
    },

    async listCertificateAuthorities(request, context) {
      const principal = requireRole(context, "operator");
      const size = pageSize(request.pageSize);
      const offset = request.pageToken ? Number(decodePageToken("certificate-authorities", request.pageToken)) : 0;
      const visible = (await cas.list()).filter((ca) => canUseCa(principal, ca.id));
      const page = visible.slice(offset, offset + size);
      const items = await Promise.all(
        page.map(async (ca) => toProto(ca, ca.certificateDer ? await cas.chainPem(ca.id) : "")),
      );
      return create(ListCertificateAuthoritiesResponseSchema, {
        certificateAuthorities: items,
        nextPageToken: offset + size < visible.length ? encodePageToken("certificate-authorities", offset + size) : "",
      });
    },

    async disableCertificateAuthority(request, context) {
      const by = actorOf(context, requireRole(context, "admin"));
      const ca = await cas.setEnabled(idFromName(request.name, collection), false, by);
      return toProto(ca, ca.certificateDer ? await cas.chainPem(ca.id) : "");
    },

    async updateCertificateAuthority(request, context) {
      const by = actorOf(context, requireRole(context, "admin"));
      const ca = request.certificateAuthority;
      if (!ca) throw new ChanceryError("invalid_argument", "certificate_authority is required");
      if (request.updateMask.length === 0)
        throw new ChanceryError("invalid_argument", "update_mask must name the fields to change (AIP-134)");
      const id = idFromName(ca.name, collection, "certificate_authority.name");
      for (const path of request.updateMask) {
        if (path === "otp_required") await cas.setOtpRequired(id, ca.otpRequired, by);
        else if (path === "allowed_profiles")
          await cas.setAllowedProfiles(
            id,
            ca.allowedProfiles.map((name) => idFromName(name, "profiles", "allowed_profiles")),
            by,
          );
        else throw new ChanceryError("invalid_argument", `update_mask: "${path}" is not a field that can be updated`);
      }
      const updated = await cas.get(id);
      return toProto(updated, updated.certificateDer ? await cas.chainPem(id) : "");
    },

    async getCrl(request, context) {
      const ca = await readable(context, request.name);
      // Built on demand like the public listener does, so this grants an operator nothing an anonymous GET does not.
      const crl = await currentCrl(crls, ca.id);
      if (!crl) throw new ChanceryError("failed_precondition", `CA ${ca.name} is ${ca.status} and has no CRL`);
      return crlToProto(crl);
    },

    async getOcspResponder(request, context) {
      const ca = await readable(context, request.name);
      // Made first when missing, as the first OCSP request would: the certificate is in every
      // response anyway, so an operator learns nothing an anonymous OCSP client does not.
      const responder = await deps.ocspResponders.current(ca.id);
      const cache = deps.ocsp.caCacheState(ca.id);
      const replica = deps.ocsp.cacheState();
      return create(OcspResponderSchema, {
        name: `${collection}/${ca.id}/ocspResponder`,
        certificatePem: pemEncode("CERTIFICATE", responder.certificateDer),
        serial: responder.serialHex,
        notBefore: timestamp(responder.notBefore),
        notAfter: timestamp(responder.notAfter),
        cache: create(OcspCacheStateSchema, {
          entries: BigInt(cache.entries),
          hits: BigInt(cache.hits),
          misses: BigInt(cache.misses),
          oldestThisUpdate: cache.oldestThisUpdate ? timestamp(cache.oldestThisUpdate) : undefined,
          replicaEntries: BigInt(replica.entries),
          replicaCapacity: BigInt(replica.capacity),
        }),
      });
    },

    async regenerateCrl(request, context) {
      const by = actorOf(context, requireRole(context, "admin"));
      return crlToProto(await crls.generate(idFromName(request.name, collection), by));
    },

    async enableCertificateAuthority(request, context) {
      const by = actorOf(context, requireRole(context, "admin"));
      const ca = await cas.setEnabled(idFromName(request.name, collection), true, by);
      return toProto(ca, ca.certificateDer ? await cas.chainPem(ca.id) : "");
    },
  };
}

function subjectFromProto(subject: NameAttribute[]): CoreNameAttribute[] {
  if (subject.length === 0) throw new ChanceryError("invalid_argument", "subject must have at least one attribute");
  return subject.map((a) => ({ type: a.type, value: a.value }));
}

function nameConstraintsFromProto(value: NameConstraints | undefined): CoreNameConstraints | undefined {
  if (!value) return undefined;
  const permitted = {
    dns: value.permittedDns,
    ip: value.permittedIp,
    email: value.permittedEmail,
    uri: value.permittedUri,
  };
  const excluded = { dns: value.excludedDns, ip: value.excludedIp, email: value.excludedEmail, uri: value.excludedUri };
  const any = (t: Record<string, string[]>) => Object.values(t).some((list) => list.length > 0);
  if (!any(permitted) && !any(excluded)) return undefined;
  return { ...(any(permitted) ? { permitted } : {}), ...(any(excluded) ? { excluded } : {}) };
}

function toProto(ca: CoreCa, chainPem: string): CertificateAuthority {
  return create(CertificateAuthoritySchema, {
    name: `${collection}/${ca.id}`,
    displayName: ca.name,
    kind: ca.kind === "root" ? CertificateAuthority_Kind.ROOT : CertificateAuthority_Kind.INTERMEDIATE,
    state:
      ca.status === "active"
        ? CertificateAuthority_State.ACTIVE
        : ca.status === "pending"
          ? CertificateAuthority_State.PENDING
          : CertificateAuthority_State.DISABLED,
    parent: ca.parentId ? `${collection}/${ca.parentId}` : "",
    keyAlgorithm: keyAlgorithmToProto(ca.keyAlgorithm),
    subject: ca.subject,
    certificateChainPem: chainPem,
    csrPem: ca.csrDer ? pemEncode("CERTIFICATE REQUEST", ca.csrDer) : "",
    fingerprintSha256: ca.fingerprintSha256 ?? "",
    notBefore: timestamp(ca.notBefore),
    notAfter: timestamp(ca.notAfter),
    createTime: timestamp(ca.createdAt),
    otpRequired: ca.otpRequired,
    allowedProfiles: ca.allowedProfiles.map((name) => `profiles/${name}`),
  });
}
