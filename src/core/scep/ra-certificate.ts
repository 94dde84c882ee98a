import type { Signer } from "../ca/signer.ts";
import { ChanceryError } from "../errors.ts";
import { generateKeyPairAsync } from "../keys/generate-key-pair.ts";
import { checkIssuer } from "../x509/check-issuer.ts";
import {
  authorityKeyIdentifierExtension,
  basicConstraintsExtension,
  keyUsageExtension,
  subjectKeyIdentifierExtension,
} from "../x509/extensions.ts";
import { encodeName, type NameAttribute } from "../x509/name.ts";
import { readCertificate } from "../x509/parse-certificate.ts";
import { generateSerial, type SerialNumber } from "../x509/serial-number.ts";
import { signCertificate } from "../x509/sign-certificate.ts";
import { keyIdentifier } from "../x509/subject-public-key-info.ts";

const second = 1000;

/** Default RA certificate lifetime: a year, renewed well before the end (ra-service.ts). */
export const defaultRaLifetimeSeconds = 365 * 86_400;
/** Shortest and longest lifetimes accepted (an hour: tests and drills; five years: an RA key should not live longer). */
export const minRaLifetimeSeconds = 3600;
export const maxRaLifetimeSeconds = 5 * 365 * 86_400;

/**
 * Backdate of notBefore. A device checks the CertRep's signer certificate
 * with its own clock, and network gear often boots with a clock that is
 * minutes or hours behind until NTP catches up; an hour covers the usual skew
 * without making the certificate look older than it is.
 */
export const raBackdateSeconds = 3600;

/** RFC 5280 Appendix A.1 ub-common-name. */
const maxCommonName = 64;
const raSuffix = " SCEP RA";

/** The CA's C, O and OU, then CN "<endpoint name> SCEP RA", cut to 64 characters. */
export function raSubject(caSubject: readonly NameAttribute[], endpointName: string): NameAttribute[] {
  const kept = caSubject.filter((a) => a.type === "C" || a.type === "O" || a.type === "OU");
  // Cut by code points (endpoint names are ASCII today, but the rule costs nothing).
  const head = Array.from(endpointName)
    .slice(0, maxCommonName - raSuffix.length)
    .join("");
  return [...kept, { type: "CN", value: head + raSuffix }];
}

export interface RaCertificateOptions {
  /** The endpoint's CA: it signs the RA certificate, so devices chain it to the CA they enrol with. */
  readonly issuerCertificateDer: Uint8Array;
  readonly issuerSigner: Signer;
  readonly raPublicKeySpki: Uint8Array;
  readonly endpointName: string;
  /** The clock's now. */
  readonly now: Date;
  /** Validity after `now`, capped at the CA's notAfter. */
  readonly lifetimeSeconds: number;
  /** Defaults to a fresh random serial. */
  readonly serial?: SerialNumber | undefined;
}

export interface RaCertificate {
  readonly der: Uint8Array;
  readonly serialHex: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/**
 * An RA certificate (RFC 8894 §2.1, §3.5.1): devices encrypt their
 * requests to its key (keyEncipherment, for RSA key transport) and check
 * our CertReps with it (digitalSignature). keyUsage is critical, as RFC
 * 5280 §4.2.1.3 asks; basicConstraints cA FALSE, so no client mistakes it
 * for the CA in a GetCACert answer (§4.2.1.9); SKI and AKI (§4.2.1.1-2) so
 * the chain builds; no EKU (none is defined for SCEP RAs, and some clients
 * refuse an RA certificate that carries an unexpected one).
 */
export async function createRaCertificate(options: RaCertificateOptions): Promise<RaCertificate> {
  const issuer = readCertificate(options.issuerCertificateDer);
  checkIssuer(issuer, options.issuerSigner);
  const { lifetimeSeconds } = options;
  if (!Number.isInteger(lifetimeSeconds) || lifetimeSeconds < 1 || lifetimeSeconds > maxRaLifetimeSeconds)
    throw new ChanceryError("invalid_argument", `RA certificate lifetime must be 1 to ${maxRaLifetimeSeconds} seconds`);
  const now = Math.floor(options.now.getTime() / second) * second;
  if (!Number.isFinite(now)) throw new ChanceryError("invalid_argument", "now is not a valid date");
  // Never before the CA itself, never after it (RFC 5280 §6.1.3 (a)(2) would reject either end).
  const notBefore = new Date(Math.max(now - raBackdateSeconds * second, issuer.notBefore.getTime()));
  const notAfter = new Date(Math.min(now + lifetimeSeconds * second, issuer.notAfter.getTime()));
  if (notAfter.getTime() <= now)
    throw new ChanceryError("failed_precondition", "the CA certificate has expired: it cannot issue an RA certificate");

  const serial = options.serial ?? generateSerial();
  const der = await signCertificate(
    {
      serial,
      // RFC 5280 §4.1.2.4: the issuer's subject, byte for byte.
      issuerDer: issuer.subject.der,
      validity: { notBefore, notAfter },
      subjectDer: encodeName(raSubject(issuer.subject.attributes, options.endpointName)),
      subjectPublicKeySpki: options.raPublicKeySpki,
      extensions: [
        basicConstraintsExtension({ ca: false }),
        keyUsageExtension(["digitalSignature", "keyEncipherment"]),
        subjectKeyIdentifierExtension(keyIdentifier(options.raPublicKeySpki)),
        authorityKeyIdentifierExtension(issuer.subjectKeyIdentifier ?? keyIdentifier(issuer.publicKey.der)),
      ],
    },
    options.issuerSigner,
  );
  return { der, serialHex: serial.hex, notBefore, notAfter };
}

export interface GeneratedRa {
  readonly certificate: RaCertificate;
  /** The RA key, DER PKCS#8, unencrypted: seal it (src/core/ca/key-encryption.ts) before storing, then wipe it. */
  readonly privateKeyPkcs8: Buffer;
}

/**
 * A fresh RSA-2048 RA key (generated off the event loop) and its certificate
 * from the endpoint's CA. Always RSA, whatever the CA's algorithm: SCEP
 * envelopes use RSA key transport (RFC 8894 §3.1 with CMS KeyTransRecipientInfo),
 * and clients only know how to encrypt to an RSA key.
 */
export async function generateRa(options: Omit<RaCertificateOptions, "raPublicKeySpki">): Promise<GeneratedRa> {
  const pair = await generateKeyPairAsync("rsa-2048");
  try {
    const certificate = await createRaCertificate({ ...options, raPublicKeySpki: pair.publicKeySpki });
    return { certificate, privateKeyPkcs8: pair.privateKeyPkcs8 };
  } catch (err) {
    pair.privateKeyPkcs8.fill(0);
    throw err;
  }
}
