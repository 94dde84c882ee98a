import { X509Certificate } from "node:crypto";
import type { AuditDetail } from "../audit/audit-event.ts";
import type { CaService } from "../ca/ca-service.ts";
import type { Clock } from "../clock.ts";
import { looksLikeEnrollmentSecret } from "../enrollment-secrets/enrollment-secret-service.ts";
import type { EnrollmentSecret, EnrollmentSecretService } from "../enrollment-secrets/enrollment-secret-types.ts";
import { ChanceryError, isChanceryError } from "../errors.ts";
import type { Authenticator } from "../identity/authenticator.ts";
import type { CertificateRecord } from "../issuance/certificate-record.ts";
import type { IssuanceService } from "../issuance/issuance-service.ts";
import type { ChannelBinding } from "./channel-binding.ts";
import { parseAnchors, verifyClientChain } from "./client-certificate.ts";
import { type EstIdentityKind, estRequester } from "./est-requester.ts";
import type { EstLabel } from "./est-types.ts";

/** What the front end knows about the client of one request. */
export interface EstClient {
  /** The TLS client certificate as the peer sent it, leaf first, DER; empty when none was sent. */
  readonly peerCertificatesDer: readonly Uint8Array[];
  /** HTTP Basic credentials (RFC 7617), when an Authorization header carried them. */
  readonly basic: { readonly username: string; readonly password: string } | null;
  /** This connection's channel binding; null when none can be read. */
  readonly channelBinding: ChannelBinding | null;
  /** The TCP peer, for audit and the users' allowed subnets. */
  readonly sourceIp: string | undefined;
}

/** A client that proved who it is, as the enrollment goes on with it. */
export interface EstIdentity {
  readonly kind: EstIdentityKind;
  /** The certificate's requester and the audit actor, e.g. "est-user:<label>/<user id>". */
  readonly requester: string;
  /** The enrollment secret presented (its state is checked by the enrollment: a retry presents a spent one). */
  readonly secret: EnrollmentSecret | null;
  /** The TLS client certificate, verified against the label's anchors, and our record of it when we issued it. */
  readonly certificate: {
    readonly der: Buffer;
    readonly fingerprint: string;
    readonly record: CertificateRecord | null;
  } | null;
  /** What the audit events say about the authentication. */
  readonly details: Record<string, AuditDetail>;
}

/** A client certificate checked once per request: verified, or why not. */
type CertificateCheck =
  | { ok: true; der: Buffer; fingerprint: string; record: CertificateRecord | null }
  | { ok: false; reason: string };

type BasicCheck =
  | { ok: true; kind: "user"; userId: string; username: string }
  | { ok: true; kind: "secret"; secret: EnrollmentSecret; username: string }
  | { ok: false; error: ChanceryError };

/** Anchors are re-read when the label or this many milliseconds have passed (a CA certificate renewed elsewhere). */
const anchorCacheMs = 60_000;

/**
 * EST client authentication per label (RFC 7030 §3.3): a TLS client
 * certificate chaining to the label's anchors, HTTP Basic with a gateway
 * user's personal access token (password; the username must be the
 * user's) or a one-time enrollment secret, one of them ("either") or both.
 *
 * Refusals are ChanceryErrors the front end maps: unauthenticated (401 with
 * WWW-Authenticate: the client can retry with Basic credentials) when
 * Basic credentials are missing or wrong, permission_denied (403) when a
 * certificate is missing or not acceptable, or a user may not enroll here.
 */
export function createEstAuthentication(deps: {
  cas: Pick<CaService, "get">;
  issuance: Pick<IssuanceService, "get">;
  authenticator: Pick<Authenticator, "authenticate">;
  secrets: Pick<EnrollmentSecretService, "find">;
  clock: Clock;
}) {
  const anchorCache = new Map<string, { version: number; at: number; anchors: X509Certificate[] }>();

  async function anchorsOf(label: EstLabel): Promise<X509Certificate[]> {
    const version = label.updatedAt.getTime();
    const now = deps.clock.now().getTime();
    const cached = anchorCache.get(label.id);
    if (cached && cached.version === version && now - cached.at < anchorCacheMs) return cached.anchors;
    const der: Uint8Array[] = [...label.externalAnchorsDer];
    for (const caId of label.clientCaIds) {
      try {
        const ca = await deps.cas.get(caId);
        if (ca.certificateDer) der.push(ca.certificateDer);
      } catch (err) {
        // A CA deleted since the label was saved anchors nothing.
        if (!isChanceryError(err, "not_found")) throw err;
      }
    }
    const anchors = parseAnchors(der);
    anchorCache.set(label.id, { version, at: now, anchors });
    return anchors;
  }

  /** Our record of a certificate, when we issued exactly these bytes. */
  async function ourRecord(der: Buffer, serialHex: string): Promise<CertificateRecord | null> {
    try {
      const record = await deps.issuance.get(serialHex);
      return record.der.equals(der) ? record : null;
    } catch (err) {
      if (isChanceryError(err, "not_found") || isChanceryError(err, "invalid_argument")) return null;
      throw err;
    }
  }

  async function checkCertificate(label: EstLabel, client: EstClient): Promise<CertificateCheck> {
    const result = verifyClientChain({
      presentedDer: client.peerCertificatesDer,
      anchors: await anchorsOf(label),
      now: deps.clock.now(),
    });
    if (!result.ok) return result;
    const der = Buffer.from(result.leaf.raw);
    const record = await ourRecord(der, result.leaf.serialNumber);
    // Ours: our records say whether it was revoked (external anchors publish nothing we read).
    if (record && record.state !== "valid") return { ok: false, reason: `the client certificate is ${record.state}` };
    return { ok: true, der, fingerprint: result.leaf.fingerprint256.replace(/:/g, "").toLowerCase(), record };
  }

  async function checkBasic(label: EstLabel, client: EstClient): Promise<BasicCheck> {
    const { username, password } = client.basic!;
    const invalid = () => ({
      ok: false as const,
      error: new ChanceryError("unauthenticated", "the HTTP Basic credentials are not valid"),
    });
    if (looksLikeEnrollmentSecret(password)) {
      const secret = await deps.secrets.find({ kind: "est_label", id: label.id }, password);
      return secret ? { ok: true, kind: "secret", secret, username } : invalid();
    }
    let principal: Awaited<ReturnType<Authenticator["authenticate"]>>;
    try {
      // Audits a bad token as auth.failure itself, like the admin API.
      principal = await deps.authenticator.authenticate(password, client.sourceIp ?? "");
    } catch (err) {
      if (isChanceryError(err, "unauthenticated")) return invalid();
      if (isChanceryError(err)) return { ok: false, error: err };
      throw err;
    }
    // The password is the user's token: the username must be theirs, so a leaked token alone names nobody else.
    if (principal.username !== username) return invalid();
    // Enrolling here issues without approval on the label's CA: what admins, and operators assigned that CA, may do.
    if (principal.role !== "admin" && !(principal.role === "operator" && principal.assignedCaIds.includes(label.caId)))
      return {
        ok: false,
        error: new ChanceryError(
          "permission_denied",
          `user ${username} may not enroll on EST label ${label.name}: an admin, an operator assigned its CA, or an enrollment secret is needed`,
        ),
      };
    return { ok: true, kind: "user", userId: principal.userId, username };
  }

  function fromBasic(
    label: EstLabel,
    basic: BasicCheck & { ok: true },
    certificate: CertificateCheck | null,
  ): EstIdentity {
    const certificateDetails: Record<string, AuditDetail> =
      certificate?.ok === true ? { clientCertificateSha256: certificate.fingerprint } : {};
    if (basic.kind === "user")
      return {
        kind: "user",
        requester: estRequester("user", label.name, basic.userId),
        secret: null,
        certificate: certificate?.ok ? certificate : null,
        details: { auth: "basic-token", userId: basic.userId, username: basic.username, ...certificateDetails },
      };
    return {
      kind: "secret",
      requester: estRequester("secret", label.name, basic.secret.id),
      secret: basic.secret,
      certificate: certificate?.ok ? certificate : null,
      details: { auth: "basic-secret", secretId: basic.secret.id, username: basic.username, ...certificateDetails },
    };
  }

  function fromCertificate(label: EstLabel, certificate: CertificateCheck & { ok: true }): EstIdentity {
    return {
      kind: "certificate",
      requester: estRequester("certificate", label.name, certificate.fingerprint),
      secret: null,
      certificate,
      details: {
        auth: "certificate",
        clientCertificateSha256: certificate.fingerprint,
        ...(certificate.record ? { clientCertificateSerial: certificate.record.serialHex } : {}),
      },
    };
  }

  const basicMissing = () =>
    new ChanceryError("unauthenticated", "this EST label needs HTTP Basic credentials (RFC 7030 §3.2.3)");

  return {
    /** The client's identity under the label's policy, or the refusal. */
    async authenticate(label: EstLabel, client: EstClient): Promise<EstIdentity> {
      const certificate = client.peerCertificatesDer.length > 0 ? await checkCertificate(label, client) : null;
      const basic = client.basic && label.authMode !== "certificate" ? await checkBasic(label, client) : null;
      switch (label.authMode) {
        case "certificate":
          if (!certificate)
            throw new ChanceryError("permission_denied", "this EST label needs a TLS client certificate");
          if (!certificate.ok) throw new ChanceryError("permission_denied", certificate.reason);
          return fromCertificate(label, certificate);
        case "basic":
          if (!basic) throw basicMissing();
          if (!basic.ok) throw basic.error;
          return fromBasic(label, basic, null);
        case "either":
          if (basic?.ok) return fromBasic(label, basic, certificate);
          if (certificate?.ok) return fromCertificate(label, certificate);
          if (basic) throw basic.error;
          // A certificate that does not do leaves Basic: 401 asks for it, and says what was wrong.
          if (certificate)
            throw new ChanceryError(
              "unauthenticated",
              `${certificate.reason}; send a certificate this label trusts or HTTP Basic credentials`,
            );
          throw new ChanceryError(
            "unauthenticated",
            "this EST label needs a TLS client certificate or HTTP Basic credentials (RFC 7030 §3.3)",
          );
        case "both":
          if (!certificate)
            throw new ChanceryError("permission_denied", "this EST label needs a TLS client certificate");
          if (!certificate.ok) throw new ChanceryError("permission_denied", certificate.reason);
          if (!basic) throw basicMissing();
          if (!basic.ok) throw basic.error;
          return fromBasic(label, basic, certificate);
      }
    },

    /**
     * RFC 7030 §4.2.2 re-enrollment: the TLS client certificate must be one
     * we issued, still valid, from the label's CA or one of its anchor CAs.
     * Our record is the proof, so the label need not list anchors for it;
     * a label that wants Basic too ("both") still checks it.
     */
    async authenticateRenewal(
      label: EstLabel,
      client: EstClient,
    ): Promise<{ identity: EstIdentity; renewed: CertificateRecord }> {
      const [leafDer] = client.peerCertificatesDer;
      if (!leafDer)
        throw new ChanceryError(
          "permission_denied",
          "simplereenroll needs the certificate being renewed as the TLS client certificate (RFC 7030 §4.2.2)",
        );
      let leaf: X509Certificate;
      try {
        leaf = new X509Certificate(leafDer);
      } catch {
        throw new ChanceryError("permission_denied", "the client certificate cannot be read");
      }
      const der = Buffer.from(leaf.raw);
      const record = await ourRecord(der, leaf.serialNumber);
      if (!record)
        throw new ChanceryError("permission_denied", "the client certificate was not issued by this gateway");
      if (record.state !== "valid")
        throw new ChanceryError("permission_denied", `the client certificate is ${record.state}; enroll anew`);
      if (record.caId !== label.caId && !label.clientCaIds.includes(record.caId))
        throw new ChanceryError(
          "permission_denied",
          `the client certificate is from a CA that EST label ${label.name} does not renew`,
        );
      const certificate = {
        ok: true as const,
        der,
        fingerprint: leaf.fingerprint256.replace(/:/g, "").toLowerCase(),
        record,
      };
      let identity = fromCertificate(label, certificate);
      if (label.authMode === "both") {
        if (!client.basic) throw basicMissing();
        const basic = await checkBasic(label, client);
        if (!basic.ok) throw basic.error;
        identity = { ...identity, details: { ...identity.details, ...fromBasic(label, basic, certificate).details } };
      }
      return { identity, renewed: record };
    },
  };
}

export type EstAuthentication = ReturnType<typeof createEstAuthentication>;
