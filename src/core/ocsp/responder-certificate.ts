import type { Signer } from "../ca/signer.ts";
import { createSoftwareSigner } from "../ca/software-signer.ts";
import { ChanceryError } from "../errors.ts";
import { generateKeyPairAsync } from "../keys/generate-key-pair.ts";
import type { KeyAlgorithm } from "../keys/key-algorithm.ts";
import { checkIssuer } from "../x509/check-issuer.ts";
import {
  authorityKeyIdentifierExtension,
  basicConstraintsExtension,
  extendedKeyUsageExtension,
  keyUsageExtension,
  ocspNoCheckExtension,
  subjectKeyIdentifierExtension,
} from "../x509/extensions.ts";
import { encodeName, type NameAttribute } from "../x509/name.ts";
import { readCertificate } from "../x509/parse-certificate.ts";
import { generateSerial, type SerialNumber } from "../x509/serial-number.ts";
import { signCertificate } from "../x509/sign-certificate.ts";
import { keyIdentifier } from "../x509/subject-public-key-info.ts";

const second = 1000;
const day = 86_400 * second;

/**
 * Longest responder certificate we make. With id-pkix-ocsp-nocheck nobody
 * checks whether it was revoked: RFC 6960 §4.2.2.2.1 warns that a leaked
 * responder key is then as bad as a leaked CA key for the certificate's
 * lifetime, and suggests a very short lifetime renewed often. 30 days caps
 * that window whatever the configuration says.
 */
export const maxResponderLifetimeSeconds = 30 * 86_400;

/**
 * Default backdate of notBefore. A responder certificate is used the moment
 * it is made, by every relying party at once: one with a clock a few minutes
 * slow would reject every response until its clock caught up. An hour covers
 * ordinary skew; leaves use a minute, but a leaf is not in use yet when
 * issued.
 */
export const defaultResponderBackdateSeconds = 3600;

export interface ResponderCertificateOptions {
  /** The CA whose certificates the responder answers for (RFC 6960 §4.2.2.2: it must issue the responder). */
  readonly issuerCertificateDer: Uint8Array;
  readonly issuerSigner: Signer;
  readonly responderPublicKeySpki: Uint8Array;
  /** The clock's now. */
  readonly now: Date;
  /** Validity after `now`, e.g. 7 days; at most maxResponderLifetimeSeconds. Capped at the CA's notAfter. */
  readonly lifetimeSeconds: number;
  /** notBefore = now - backdate; default defaultResponderBackdateSeconds. */
  readonly backdateSeconds?: number | undefined;
  /** Default: the CA's C, O and OU, and CN "<CA CN> OCSP Responder". */
  readonly subject?: readonly NameAttribute[] | undefined;
  /** Defaults to a fresh random serial. */
  readonly serial?: SerialNumber | undefined;
}

export interface ResponderCertificate {
  readonly der: Uint8Array;
  readonly serialHex: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/** RFC 5280 Appendix A.1 ub-common-name. */
const maxCommonName = 64;
const responderSuffix = " OCSP Responder";

function defaultSubject(caSubject: readonly NameAttribute[]): NameAttribute[] {
  const kept = caSubject.filter((a) => a.type === "C" || a.type === "O" || a.type === "OU");
  const caCn = caSubject.findLast((a) => a.type === "CN")?.value;
  if (caCn === undefined) return [...kept, { type: "CN", value: responderSuffix.trim() }];
  // Cut by code points, so a long CA name never leaves half a surrogate pair.
  const head = Array.from(caCn)
    .slice(0, maxCommonName - responderSuffix.length)
    .join("")
    .trimEnd();
  return [...kept, { type: "CN", value: head + responderSuffix }];
}

/**
 * A delegated OCSP responder certificate (RFC 6960 §4.2.2.2) for a key of
 * the caller's, signed by the CA: EKU id-kp-OCSPSigning only (what makes
 * relying parties accept it as the CA's responder), id-pkix-ocsp-nocheck
 * (§4.2.2.2.1), keyUsage digitalSignature, basicConstraints cA FALSE, no
 * AIA or CDP (there is nothing to check it against, by design), and a short
 * validity.
 */
export async function createResponderCertificate(options: ResponderCertificateOptions): Promise<ResponderCertificate> {
  const issuer = readCertificate(options.issuerCertificateDer);
  checkIssuer(issuer, options.issuerSigner);
  const { lifetimeSeconds } = options;
  const backdateSeconds = options.backdateSeconds ?? defaultResponderBackdateSeconds;
  if (!Number.isInteger(lifetimeSeconds) || lifetimeSeconds <= 0 || lifetimeSeconds > maxResponderLifetimeSeconds)
    throw new ChanceryError(
      "invalid_argument",
      `responder certificate lifetime must be 1 to ${maxResponderLifetimeSeconds} seconds`,
    );
  if (!Number.isInteger(backdateSeconds) || backdateSeconds < 0 || backdateSeconds > day / second)
    throw new ChanceryError("invalid_argument", "responder certificate backdate must be 0 to 86400 seconds");
  const now = Math.floor(options.now.getTime() / second) * second;
  if (!Number.isFinite(now)) throw new ChanceryError("invalid_argument", "now is not a valid date");
  // Never before the CA itself, never after it (RFC 5280 §6.1.3 (a)(2) would reject either end).
  const notBefore = new Date(Math.max(now - backdateSeconds * second, issuer.notBefore.getTime()));
  const notAfter = new Date(Math.min(now + lifetimeSeconds * second, issuer.notAfter.getTime()));
  if (notAfter.getTime() <= now)
    throw new ChanceryError("failed_precondition", "the CA certificate has expired: it cannot delegate OCSP signing");

  const serial = options.serial ?? generateSerial();
  const subject = options.subject ?? defaultSubject(issuer.subject.attributes);
  const der = await signCertificate(
    {
      serial,
      // RFC 5280 §4.1.2.4: the issuer's subject, byte for byte.
      issuerDer: issuer.subject.der,
      validity: { notBefore, notAfter },
      subjectDer: encodeName(subject),
      subjectPublicKeySpki: options.responderPublicKeySpki,
      extensions: [
        basicConstraintsExtension({ ca: false }),
        keyUsageExtension(["digitalSignature"]),
        extendedKeyUsageExtension(["OCSPSigning"]),
        subjectKeyIdentifierExtension(keyIdentifier(options.responderPublicKeySpki)),
        authorityKeyIdentifierExtension(issuer.subjectKeyIdentifier ?? keyIdentifier(issuer.publicKey.der)),
        ocspNoCheckExtension(),
      ],
    },
    options.issuerSigner,
  );
  return { der, serialHex: serial.hex, notBefore, notAfter };
}

export interface GeneratedResponder {
  readonly certificate: ResponderCertificate;
  /** The responder key, DER PKCS#8, unencrypted: seal it (src/core/ca/key-encryption.ts) before storing. */
  readonly privateKeyPkcs8: Uint8Array;
  /** A Signer over that key, ready for createOcspResponseBuilder. */
  readonly signer: Signer;
}

/**
 * A fresh responder key (generated off the event loop) and its certificate
 * from the CA. The key algorithm defaults to the CA's, so relying parties
 * that can check the CA's signatures can check the responder's.
 */
export async function generateResponder(
  options: Omit<ResponderCertificateOptions, "responderPublicKeySpki"> & {
    readonly algorithm?: KeyAlgorithm | undefined;
  },
): Promise<GeneratedResponder> {
  const pair = await generateKeyPairAsync(options.algorithm ?? options.issuerSigner.algorithm);
  const certificate = await createResponderCertificate({ ...options, responderPublicKeySpki: pair.publicKeySpki });
  return {
    certificate,
    privateKeyPkcs8: new Uint8Array(pair.privateKeyPkcs8),
    signer: createSoftwareSigner(pair.privateKeyPkcs8),
  };
}
