import { create } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import type { CaService } from "../core/ca/ca-service.ts";
import { ChanceryError, isChanceryError } from "../core/errors.ts";
import type { TotpService } from "../core/identity/totp-service.ts";
import type { CertificateFilter } from "../core/issuance/certificate-listing.ts";
import type { CertificateRecord, CertificateState } from "../core/issuance/certificate-record.ts";
import type { IssuanceService } from "../core/issuance/issuance-service.ts";
import type { RevocationReason as CoreRevocationReason } from "../core/revocation/revocation-reason.ts";
import { pemDecode, pemEncode } from "../core/x509/pem.ts";
import {
  type Certificate,
  Certificate_State,
  CertificateSchema,
  type CertificateService,
  GetCertificateChainResponseSchema,
  ListCertificatesResponseSchema,
  RevocationReason,
} from "../gen/chancery/admin/v1/certificate_pb.js";
import { type ParsedCertificateFilter, parseCertificateFilter } from "./certificate-filter.ts";
import { idFromName, pageSize, timestamp } from "./conversions.ts";
import { requireOtpForCa } from "./otp.ts";
import { actorOf, canUseCa, type Principal, requireRole } from "./principal.ts";
import { sanFromProto, sanToProto } from "./san-conversions.ts";

const collection = "certificates";
const caCollection = "certificateAuthorities";
const profileCollection = "profiles";

/**
 * chancery.admin.v1.CertificateService: proto ↔ core, plus who may see what.
 * Operators issue and revoke through their assigned CAs, admins through any;
 * users read only the certificates they requested. A certificate or CA the
 * caller may not use is reported as not found, as CertificateAuthorityService
 * does, so its existence is not disclosed.
 */
export function createCertificateAdmin(deps: {
  issuance: IssuanceService;
  cas: CaService;
  totp: TotpService;
}): ServiceImpl<typeof CertificateService> {
  const { issuance } = deps;

  function canRead(principal: Principal, certificate: CertificateRecord): boolean {
    if (principal.role === "user") return certificate.requester === `user:${principal.userId}`;
    return canUseCa(principal, certificate.caId);
  }

  /** The certificate `name` refers to, or not_found when it does not exist or the caller may not read it. */
  async function readable(context: HandlerContext, name: string) {
    const principal = requireRole(context, "user");
    const serial = idFromName(name, collection);
    const found = await issuance.chain(serial);
    if (!canRead(principal, found.certificate))
      throw new ChanceryError("not_found", `no certificate with serial ${serial}`);
    return found;
  }

  return {
    async issueCertificate(request, context) {
      const principal = requireRole(context, "operator");
      const caId = idFromName(request.parent, caCollection, "parent");
      if (!canUseCa(principal, caId)) throw new ChanceryError("not_found", `no CA ${request.parent}`);
      const profileName = idFromName(request.profile, profileCollection, "profile");
      if (!request.csrPem) throw new ChanceryError("invalid_argument", "csr_pem is required");
      await requireOtpForCa(context, principal, await deps.cas.get(caId), deps.totp, "issuing");
      const by = actorOf(context, principal);
      const issued = await issuance.issueOnce({
        caId,
        profileName,
        csrDer: csrFromPem(request.csrPem),
        approved: {
          subject:
            request.subject.length > 0 ? request.subject.map((a) => ({ type: a.type, value: a.value })) : undefined,
          sans: request.subjectAltNames.map(sanFromProto),
        },
        validity: request.notAfter ? { notAfter: timestampDate(request.notAfter) } : undefined,
        requester: by.actor,
        sourceProtocol: "admin",
        sourceIp: by.sourceIp,
        requestId: request.requestId || undefined,
      });
      return toProto(issued.certificate, issued.issuersDer);
    },

    async getCertificate(request, context) {
      const found = await readable(context, request.name);
      return toProto(found.certificate, found.issuersDer);
    },

    async listCertificates(request, context) {
      const principal = requireRole(context, "user");
      const size = pageSize(request.pageSize);
      const filter = scopedFilter(principal, parseCertificateFilter(request.filter));
      if (!filter) return create(ListCertificatesResponseSchema, {});
      const page = await issuance.list(filter, { pageSize: size, pageToken: request.pageToken || undefined });
      return create(ListCertificatesResponseSchema, {
        certificates: page.certificates.map((certificate) => toProto(certificate, [])),
        nextPageToken: page.nextPageToken,
      });
    },

    async getCertificateChain(request, context) {
      const found = await readable(context, request.name);
      return create(GetCertificateChainResponseSchema, {
        certificateChainPem: [found.certificate.der, ...found.issuersDer]
          .map((der) => pemEncode("CERTIFICATE", der))
          .join(""),
      });
    },

    async revokeCertificate(request, context) {
      const principal = requireRole(context, "operator");
      const serial = idFromName(request.name, collection);
      const reason = revocationReasonFromProto(request.reason);
      const certificate = await issuance.get(serial);
      if (!canUseCa(principal, certificate.caId))
        throw new ChanceryError("not_found", `no certificate with serial ${serial}`);
      await issuance.revoke({ serialHex: certificate.serialHex, reason }, actorOf(context, principal));
      const after = await issuance.chain(certificate.serialHex);
      return toProto(after.certificate, after.issuersDer);
    },
  };
}

/**
 * The caller's filter narrowed to what they may see, or null when the two
 * cannot overlap (an operator naming a CA not assigned to them, a user
 * naming another requester): the answer is then an empty page.
 */
function scopedFilter(principal: Principal, parsed: ParsedCertificateFilter): CertificateFilter | null {
  const base: CertificateFilter = {
    profileName: parsed.profileName,
    state: parsed.state,
    notAfter: parsed.notAfter,
    sanContains: parsed.sanContains,
  };
  switch (principal.role) {
    case "admin":
      return { ...base, caIds: parsed.caId ? [parsed.caId] : undefined, requester: parsed.requester };
    case "operator": {
      const assigned = principal.assignedCaIds.map((id) => id.toLowerCase());
      if (parsed.caId && !assigned.includes(parsed.caId)) return null;
      return { ...base, caIds: parsed.caId ? [parsed.caId] : assigned, requester: parsed.requester };
    }
    case "user": {
      const own = `user:${principal.userId}`;
      if (parsed.requester !== undefined && parsed.requester !== own) return null;
      return { ...base, caIds: parsed.caId ? [parsed.caId] : undefined, requester: own };
    }
  }
}

function csrFromPem(text: string): Uint8Array {
  try {
    return pemDecode(text, ["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"]);
  } catch (err) {
    if (isChanceryError(err, "invalid_argument"))
      throw new ChanceryError("invalid_argument", `csr_pem: ${err.message}`);
    throw err;
  }
}

const reasons: ReadonlyArray<[RevocationReason, CoreRevocationReason]> = [
  [RevocationReason.UNSPECIFIED, "unspecified"],
  [RevocationReason.KEY_COMPROMISE, "keyCompromise"],
  [RevocationReason.CA_COMPROMISE, "cACompromise"],
  [RevocationReason.AFFILIATION_CHANGED, "affiliationChanged"],
  [RevocationReason.SUPERSEDED, "superseded"],
  [RevocationReason.CESSATION_OF_OPERATION, "cessationOfOperation"],
  [RevocationReason.PRIVILEGE_WITHDRAWN, "privilegeWithdrawn"],
  [RevocationReason.AA_COMPROMISE, "aACompromise"],
];

function revocationReasonFromProto(value: RevocationReason): CoreRevocationReason {
  const found = reasons.find(([proto]) => proto === value);
  if (!found)
    throw new ChanceryError(
      "invalid_argument",
      `reason ${value} is not a revocation reason here (certificateHold is refused: revocation is final)`,
    );
  return found[1];
}

const states: Record<CertificateState, Certificate_State> = {
  valid: Certificate_State.VALID,
  revoked: Certificate_State.REVOKED,
  expired: Certificate_State.EXPIRED,
};

/** "ab01..." as "AB:01:...", the form CertificateAuthority.fingerprint_sha256 and openssl use. */
function colonHex(hex: string): string {
  return hex.toUpperCase().replace(/(..)(?!$)/g, "$1:");
}

function toProto(certificate: CertificateRecord, issuersDer: readonly Uint8Array[]): Certificate {
  return create(CertificateSchema, {
    name: `${collection}/${certificate.serialHex}`,
    certificateAuthority: `${caCollection}/${certificate.caId}`,
    profile: certificate.profileName ? `${profileCollection}/${certificate.profileName}` : "",
    serialHex: certificate.serialHex,
    subject: certificate.subject,
    subjectAltNames: certificate.sans.map(sanToProto),
    notBefore: timestamp(certificate.notBefore),
    notAfter: timestamp(certificate.notAfter),
    state: states[certificate.state],
    revokeTime: timestamp(certificate.revokedAt),
    revocationReason: certificate.revocationReason
      ? (reasons.find(([, core]) => core === certificate.revocationReason)?.[0] ?? RevocationReason.UNSPECIFIED)
      : RevocationReason.UNSPECIFIED,
    requester: certificate.requester,
    sourceProtocol: certificate.sourceProtocol,
    fingerprintSha256: colonHex(certificate.fingerprintSha256),
    certificatePem: pemEncode("CERTIFICATE", certificate.der),
    issuerChainPem: issuersDer.map((der) => pemEncode("CERTIFICATE", der)).join(""),
    issueTime: timestamp(certificate.issuedAt),
  });
}
