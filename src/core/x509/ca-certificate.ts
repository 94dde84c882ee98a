import type { Signer } from "../ca/signer.ts";
import { ChanceryError } from "../errors.ts";
import { checkIssuer } from "./check-issuer.ts";
import {
  authorityInfoAccessExtension,
  authorityKeyIdentifierExtension,
  basicConstraintsExtension,
  crlDistributionPointsExtension,
  type Extension,
  keyUsageExtension,
  type NameConstraints,
  nameConstraintsExtension,
  subjectKeyIdentifierExtension,
} from "./extensions.ts";
import { encodeName, type NameAttribute } from "./name.ts";
import { readCertificate } from "./parse-certificate.ts";
import { generateSerial, type SerialNumber } from "./serial-number.ts";
import { signCertificate, type Validity } from "./sign-certificate.ts";
import { keyIdentifier } from "./subject-public-key-info.ts";

export interface RootCertificateOptions {
  readonly signer: Signer;
  readonly subject: readonly NameAttribute[];
  readonly validity: Validity;
  readonly pathLenConstraint?: number | undefined;
  readonly nameConstraints?: NameConstraints | undefined;
  /** Defaults to a fresh random serial. */
  readonly serial?: SerialNumber | undefined;
}

export interface IntermediateCertificateOptions {
  readonly issuerCertificateDer: Uint8Array;
  readonly issuerSigner: Signer;
  readonly subjectPublicKeySpki: Uint8Array;
  readonly subject: readonly NameAttribute[];
  readonly validity: Validity;
  readonly pathLen?: number | undefined;
  readonly nameConstraints?: NameConstraints | undefined;
  /** Where the issuer publishes its CRL (cRLDistributionPoints). */
  readonly crlUrl?: string | undefined;
  /** The issuer's OCSP responder (authorityInfoAccess id-ad-ocsp). */
  readonly ocspUrl?: string | undefined;
  /** Where the issuer's certificate can be fetched (authorityInfoAccess id-ad-caIssuers). */
  readonly caIssuersUrl?: string | undefined;
  readonly serial?: SerialNumber | undefined;
}

/**
 * KeyUsage for every CA certificate we make: keyCertSign and cRLSign
 * (RFC 5280 §4.2.1.3) plus digitalSignature so the CA key can sign OCSP
 * responses itself (RFC 6960 §4.2.2.2, responses signed by the CA).
 */
const caKeyUsage = keyUsageExtension(["digitalSignature", "keyCertSign", "cRLSign"]);

function checkSubject(subject: readonly NameAttribute[]): Uint8Array {
  // RFC 5280 §4.1.2.6: a CA's subject MUST be a non-empty distinguished name.
  if (subject.length === 0) throw new ChanceryError("invalid_argument", "a CA certificate needs a non-empty subject");
  return encodeName(subject);
}

function checkPathLen(pathLen: number | undefined): void {
  if (pathLen !== undefined && (!Number.isInteger(pathLen) || pathLen < 0 || pathLen > 255))
    throw new ChanceryError("invalid_argument", "pathLen must be an integer from 0 to 255");
}

/**
 * A self-signed root CA certificate. AKI is included with keyIdentifier equal
 * to the certificate's own SKI: RFC 5280 §4.2.1.1 lets a self-signed
 * certificate omit it, but carrying it costs 24 bytes and lets path builders
 * treat every certificate alike (the CA/B BRs recommend the same for roots).
 */
export async function createRootCertificate(options: RootCertificateOptions): Promise<Uint8Array> {
  checkPathLen(options.pathLenConstraint);
  const subjectDer = checkSubject(options.subject);
  const ski = keyIdentifier(options.signer.publicKeySpki);
  const extensions: Extension[] = [
    basicConstraintsExtension({ ca: true, pathLen: options.pathLenConstraint }),
    caKeyUsage,
    subjectKeyIdentifierExtension(ski),
    authorityKeyIdentifierExtension(ski),
  ];
  if (options.nameConstraints) extensions.push(nameConstraintsExtension(options.nameConstraints));
  return signCertificate(
    {
      serial: options.serial ?? generateSerial(),
      issuerDer: subjectDer,
      validity: options.validity,
      subjectDer,
      subjectPublicKeySpki: options.signer.publicKeySpki,
      extensions,
    },
    options.signer,
  );
}

/** A subordinate CA certificate signed by an existing CA (ours, held by `issuerSigner`). */
export async function createIntermediateCertificate(options: IntermediateCertificateOptions): Promise<Uint8Array> {
  checkPathLen(options.pathLen);
  const issuer = readCertificate(options.issuerCertificateDer);
  checkIssuer(issuer, options.issuerSigner);
  // RFC 5280 §6.1.4 (l)-(m): each CA below the issuer uses up one unit of its pathLenConstraint.
  const issuerPathLen = issuer.basicConstraints.pathLen;
  if (issuerPathLen !== undefined) {
    if (issuerPathLen === 0)
      throw new ChanceryError("failed_precondition", "the issuer's pathLenConstraint is 0: it cannot certify CAs");
    if (options.pathLen === undefined || options.pathLen > issuerPathLen - 1)
      throw new ChanceryError("invalid_argument", `pathLen must be at most ${issuerPathLen - 1} under this issuer`);
  }
  // Path validation (RFC 5280 §6.1.3 (a)(2)) fails for a certificate outliving its issuer.
  if (options.validity.notAfter.getTime() > issuer.notAfter.getTime())
    throw new ChanceryError("invalid_argument", "the intermediate's notAfter is after the issuer's notAfter");
  const subjectDer = checkSubject(options.subject);
  const extensions: Extension[] = [
    basicConstraintsExtension({ ca: true, pathLen: options.pathLen }),
    caKeyUsage,
    subjectKeyIdentifierExtension(keyIdentifier(options.subjectPublicKeySpki)),
    // §4.2.1.1: AKI carries the issuer's SKI so chains with re-keyed issuers resolve.
    authorityKeyIdentifierExtension(issuer.subjectKeyIdentifier ?? keyIdentifier(issuer.publicKey.der)),
  ];
  if (options.nameConstraints) extensions.push(nameConstraintsExtension(options.nameConstraints));
  if (options.crlUrl) extensions.push(crlDistributionPointsExtension([options.crlUrl]));
  if (options.ocspUrl || options.caIssuersUrl)
    extensions.push(
      authorityInfoAccessExtension({
        ocsp: options.ocspUrl ? [options.ocspUrl] : [],
        caIssuers: options.caIssuersUrl ? [options.caIssuersUrl] : [],
      }),
    );
  return signCertificate(
    {
      serial: options.serial ?? generateSerial(),
      // §4.1.2.4: the issuer field is the issuer's subject, copied byte for byte.
      issuerDer: issuer.subject.der,
      validity: options.validity,
      subjectDer,
      subjectPublicKeySpki: options.subjectPublicKeySpki,
      extensions,
    },
    options.issuerSigner,
  );
}
