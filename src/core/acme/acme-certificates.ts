import { createPublicKey } from "node:crypto";
import type { JWK } from "jose";
import type { DatabasePool } from "slonik";
import { findReusableAcmeAuthorization } from "../../store/acme-authorization-store.ts";
import type { Clock } from "../clock.ts";
import { isChanceryError } from "../errors.ts";
import type { CertificateWithChain, IssuanceService } from "../issuance/issuance-service.ts";
import type { ProfileService } from "../profiles/profile-service.ts";
import { revocationReasonName } from "../revocation/revocation-reason.ts";
import { readCertificate } from "../x509/parse-certificate.ts";
import { type AcmeAccount, accountActor } from "./acme-account.ts";
import { AcmeProblem } from "./acme-problem.ts";
import type { AcmeDirectory } from "./acme-types.ts";
import { authorityKeyIdentifierOf, parseAriCertId, suggestedWindow } from "./renewal-info.ts";

export interface RenewalInfo {
  readonly suggestedWindow: { readonly start: Date; readonly end: Date };
}

export interface AcmeCertificateService {
  /** RFC 8555 §7.4.2: the chain of a certificate issued to this account (null otherwise). */
  chainFor(account: AcmeAccount, serialHex: string): Promise<CertificateWithChain | null>;
  /**
   * RFC 8555 §7.6: revokes a certificate of this directory's CA, asked by
   * the account that holds it or holds valid authorizations for all its
   * identifiers, or signed with the certificate's own key.
   */
  revoke(input: {
    directory: AcmeDirectory;
    payload: Record<string, unknown>;
    by: { account: AcmeAccount } | { jwk: JWK };
    sourceIp: string | undefined;
  }): Promise<void>;
  /** RFC 9773 §4: the renewal window of a certificate named by its certID. */
  renewalInfo(directory: AcmeDirectory, certId: string): Promise<RenewalInfo>;
}

/** RFC 8555 §7.6 reasons an ACME client may give: RFC 5280 codes except certificateHold and the CA ones. */
const allowedReasons = new Set([0, 1, 3, 4, 5, 9]);

export function createAcmeCertificateService(deps: {
  pool: DatabasePool;
  clock: Clock;
  profiles: ProfileService;
  issuance: IssuanceService;
}): AcmeCertificateService {
  const { pool, clock } = deps;

  /** Our certificate with this DER issued by the directory's CA, or a malformed/not found problem. */
  async function ourCertificate(directory: AcmeDirectory, der: Buffer) {
    let serialHex: string;
    try {
      serialHex = readCertificate(der).serialHex;
    } catch {
      throw new AcmeProblem("malformed", "certificate is not a DER X.509 certificate");
    }
    try {
      const record = await deps.issuance.get(serialHex);
      if (!record.der.equals(der) || record.caId !== directory.caId)
        throw new AcmeProblem("malformed", "unknown certificate", { status: 404 });
      return record;
    } catch (err) {
      if (isChanceryError(err, "not_found")) throw new AcmeProblem("malformed", "unknown certificate", { status: 404 });
      throw err;
    }
  }

  return {
    async chainFor(account, serialHex) {
      try {
        const chain = await deps.issuance.chain(serialHex);
        return chain.certificate.requester === accountActor(account.id) ? chain : null;
      } catch (err) {
        if (isChanceryError(err, "not_found") || isChanceryError(err, "invalid_argument")) return null;
        throw err;
      }
    },

    async revoke({ directory, payload, by, sourceIp }) {
      const encoded = payload["certificate"];
      if (typeof encoded !== "string" || !/^[A-Za-z0-9_-]+$/.test(encoded))
        throw new AcmeProblem("malformed", "certificate must be the base64url DER of the certificate to revoke");
      const reasonCode = payload["reason"] ?? 0;
      if (typeof reasonCode !== "number" || !allowedReasons.has(reasonCode))
        throw new AcmeProblem("badRevocationReason", "reason must be one of 0, 1, 3, 4, 5, 9 (RFC 5280 §5.3.1)");
      const record = await ourCertificate(directory, Buffer.from(encoded, "base64url"));
      if ("jwk" in by) {
        const spki = createPublicKey({ key: by.jwk as never, format: "jwk" }).export({ type: "spki", format: "der" });
        if (!Buffer.from(readCertificate(record.der).publicKey.der).equals(spki))
          throw new AcmeProblem("unauthorized", "the request is not signed by the certificate's key");
      } else if (record.requester !== accountActor(by.account.id)) {
        // RFC 8555 §7.6: an account that holds valid authorizations for every identifier may revoke too.
        const now = clock.now();
        for (const san of record.sans) {
          if (san.type !== "dns" && san.type !== "ip")
            throw new AcmeProblem("unauthorized", "this account did not order the certificate");
          const wildcard = san.value.startsWith("*.");
          const value = wildcard ? san.value.slice(2) : san.value;
          const held = await findReusableAcmeAuthorization(
            pool,
            by.account.id,
            { type: san.type, value },
            wildcard,
            now,
          );
          if (!held)
            throw new AcmeProblem(
              "unauthorized",
              "this account neither ordered the certificate nor holds authorizations for all its identifiers",
            );
        }
      }
      const reason = revocationReasonName(reasonCode)!;
      const actor = "jwk" in by ? `acme-certificate-key:${record.serialHex}` : accountActor(by.account.id);
      const result = await deps.issuance.revoke({ serialHex: record.serialHex, reason }, { actor, sourceIp });
      if (!result.changed) throw new AcmeProblem("alreadyRevoked", "the certificate is already revoked");
    },

    async renewalInfo(directory, certId) {
      const parsed = parseAriCertId(certId);
      if (!parsed) throw new AcmeProblem("malformed", "not an ARI certID (RFC 9773 §4.1)");
      let record: Awaited<ReturnType<IssuanceService["get"]>>;
      try {
        record = await deps.issuance.get(parsed.serialHex);
      } catch (err) {
        if (isChanceryError(err, "not_found"))
          throw new AcmeProblem("malformed", "no certificate with this certID", { status: 404 });
        throw err;
      }
      const aki = authorityKeyIdentifierOf(readCertificate(record.der));
      if (record.caId !== directory.caId || !aki || !Buffer.from(aki).equals(parsed.keyIdentifier))
        throw new AcmeProblem("malformed", "no certificate with this certID", { status: 404 });
      const stored = record.profileName ? await deps.profiles.get(record.profileName).catch(() => null) : null;
      const window = stored?.profile.renewalWindow ?? { start: 2 / 3, end: 0.9 };
      return {
        suggestedWindow: suggestedWindow({
          notBefore: record.notBefore,
          notAfter: record.notAfter,
          revoked: record.state === "revoked",
          now: clock.now(),
          window,
        }),
      };
    },
  };
}
