import { hash } from "node:crypto";
import type { Signer } from "../ca/signer.ts";
import { ChanceryError } from "../errors.ts";
import type { PublicKeyInfo } from "../keys/public-key-info.ts";
import type { CaUrls } from "../profiles/ca-urls.ts";
import type { Profile } from "../profiles/profile-schema.ts";
import { concretePolicyParts } from "../registry/resolve-profile.ts";
import { checkIssuer } from "../x509/check-issuer.ts";
import { concatBytes, contextConstructed, integerFromContent, sequence, tlv, tlvOf } from "../x509/der-writer.ts";
import {
  authorityInfoAccessExtension,
  authorityKeyIdentifierExtension,
  basicConstraintsExtension,
  certificatePoliciesExtension,
  crlDistributionPointsExtension,
  customExtension,
  encodeExtension,
  extendedKeyUsageExtension,
  keyUsageExtension,
  nameConstraintsExtension,
  noRevocationAvailableExtension,
  subjectAltNameExtension,
  subjectKeyIdentifierExtension,
  tlsFeatureExtension,
} from "../x509/extensions.ts";
import type { SubjectAltName } from "../x509/general-name.ts";
import { keyUsagesForKey } from "../x509/key-usage.ts";
import { encodeName, formatAttributes } from "../x509/name.ts";
import { checkCertificateNames, constrainedNames } from "../x509/name-constraints-match.ts";
import { type CertificateView, readCertificate } from "../x509/parse-certificate.ts";
import { type NameConstraintsView, readNameConstraints } from "../x509/parse-name-constraints.ts";
import { decodeBase64Strict } from "../x509/pem.ts";
import type { SerialNumber } from "../x509/serial-number.ts";
import { encodeSigned, encodeValidity, versionV3 } from "../x509/sign-certificate.ts";
import { keyIdentifier, keyIdentifierFromPublicKey, subjectPublicKeyBits } from "../x509/subject-public-key-info.ts";
import type { CertificateContent } from "./certificate-content.ts";

export interface CertificateTemplateOptions {
  readonly issuerCertificateDer: Uint8Array;
  readonly issuerSigner: Signer;
  readonly profile: Profile;
  /** Where this CA publishes CRL/OCSP/its certificate; required when the profile asks for any of them. */
  readonly urls?: CaUrls | undefined;
  /**
   * The CA certificates above the issuer (its issuer first, up to the root), DER. Their name
   * constraints bind what this template issues too (RFC 5280 §6.1.4 (g)); the issuer's own
   * constraints are always applied.
   */
  readonly chainDer?: readonly Uint8Array[] | undefined;
}

/** Name constraints of one CA on the path, and how messages name that CA. */
export interface PathNameConstraints {
  readonly owner: string;
  readonly constraints: NameConstraintsView;
}

/** A signed certificate and the facts the store records about it. */
export interface IssuedCertificate {
  readonly der: Uint8Array;
  readonly serialHex: string;
  /** SHA-256 of the DER, lower-case hex. */
  readonly fingerprintSha256: string;
  /** RFC 4514 subject ("" for an empty subject). */
  readonly subject: string;
  readonly sans: readonly SubjectAltName[];
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** The AKI keyIdentifier (the issuer's SKI): with the serial it forms the ACME ARI certID. */
  readonly authorityKeyIdentifier: Uint8Array;
  /** True when the certificate was issued without CRL/OCSP pointers (profile shortLived). */
  readonly shortLived: boolean;
}

export interface CertificateTemplate {
  readonly profile: Profile;
  readonly issuer: CertificateView;
  /** The name constraints of the issuer and of the chain above it; empty when none has any. */
  readonly nameConstraints: readonly PathNameConstraints[];
  /**
   * Throws policy_violation when a name of `content` (SAN, subject DN, emailAddress, host-name CN)
   * is one the issuing CA or a CA above it may not certify. `issue` calls it before signing.
   */
  checkNameConstraints(content: CertificateContent): void;
  /** Builds, signs and describes one certificate. `content` must come from the policy check. */
  issue(content: CertificateContent, serial: SerialNumber): Promise<IssuedCertificate>;
}

const empty = new Uint8Array(0);

/**
 * Prepared once per (CA, profile): everything constant is DER-encoded here
 * (issuer Name, signature AlgorithmIdentifier, basicConstraints, keyUsage per
 * key type, EKU, AKI, policies, CDP/AIA, must-staple, custom extensions), so
 * `issue` only encodes serial, validity, subject, SPKI, SKI and SAN, splices
 * them in, and signs. The pipeline calls `issue` thousands of times a second.
 */
export function createCertificateTemplate(options: CertificateTemplateOptions): CertificateTemplate {
  const { profile, issuerSigner: signer } = options;
  const issuer = readCertificate(options.issuerCertificateDer);
  checkIssuer(issuer, signer);
  const isCa = profile.basicConstraints.ca;
  if (isCa && issuer.basicConstraints.pathLen !== undefined) {
    // RFC 5280 §6.1.4 (l)-(m): the issuer's pathLenConstraint bounds the CAs below it.
    const limit = issuer.basicConstraints.pathLen - 1;
    const pathLen = profile.basicConstraints.pathLen;
    if (limit < 0 || pathLen === undefined || pathLen > limit)
      throw new ChanceryError(
        "failed_precondition",
        `profile ${profile.name} issues CA certificates that the issuer's pathLenConstraint does not allow`,
      );
  }
  const revocation = profile.revocationInfo;
  if ((revocation.crlDistributionPoint || revocation.ocsp || revocation.caIssuers) && !options.urls)
    throw new ChanceryError("invalid_argument", `profile ${profile.name} needs CA URLs for CRL/OCSP/caIssuers`);
  const urls = options.urls;
  const pathConstraints = readPathNameConstraints(issuer, options.chainDer ?? []);

  const signatureAlgorithm = signer.signatureAlgorithmDer;
  // §4.1.2.4: issuer is the issuer's subject, byte for byte.
  const afterSerial = concatBytes([signatureAlgorithm, issuer.subject.der]);
  const authorityKeyId = issuer.subjectKeyIdentifier ?? keyIdentifier(issuer.publicKey.der);

  const basicConstraints = encodeExtension(
    basicConstraintsExtension({ ca: isCa, pathLen: isCa ? profile.basicConstraints.pathLen : undefined }),
  );
  const keyUsageByType = new Map<PublicKeyInfo["type"], Uint8Array>();
  const sampleKeys: PublicKeyInfo[] = [
    { type: "rsa", bits: 2048, publicExponent: 65537n },
    { type: "ec", curve: "P-256", bits: 256 },
    { type: "ed25519", bits: 256 },
    { type: "ed448", bits: 456 },
  ];
  for (const key of sampleKeys) {
    const usages = keyUsagesForKey(
      key.type === "rsa" ? [...profile.keyUsage, ...profile.rsaKeyUsage] : profile.keyUsage,
      key,
    );
    if (usages.length > 0) keyUsageByType.set(key.type, encodeExtension(keyUsageExtension(usages)));
  }
  const constantParts: Uint8Array[] = [encodeExtension(authorityKeyIdentifierExtension(authorityKeyId))];
  if (profile.extendedKeyUsage.length > 0)
    constantParts.push(encodeExtension(extendedKeyUsageExtension(profile.extendedKeyUsage)));
  const { certificatePolicies, customExtensions } = concretePolicyParts(profile);
  if (certificatePolicies.length > 0)
    constantParts.push(encodeExtension(certificatePoliciesExtension(certificatePolicies)));
  if (isCa && profile.nameConstraints)
    constantParts.push(encodeExtension(nameConstraintsExtension(profile.nameConstraints)));
  for (const custom of customExtensions) {
    const value = decodeBase64Strict(custom.valueBase64);
    if (!value) throw new ChanceryError("invalid_argument", `custom extension ${custom.oid} is not base64`);
    constantParts.push(encodeExtension(customExtension(custom.oid, custom.critical, value)));
  }
  const constant = concatBytes(constantParts);

  // Revocation pointers for ordinary certificates ...
  const ordinaryParts: Uint8Array[] = [];
  if (urls && revocation.crlDistributionPoint)
    ordinaryParts.push(encodeExtension(crlDistributionPointsExtension([urls.crl])));
  if (urls && (revocation.ocsp || revocation.caIssuers))
    ordinaryParts.push(
      encodeExtension(
        authorityInfoAccessExtension({
          ocsp: revocation.ocsp ? [urls.ocsp] : [],
          caIssuers: revocation.caIssuers ? [urls.caIssuers] : [],
        }),
      ),
    );
  // RFC 7633: must-staple only where an OCSP responder is named, or the certificate could never be served.
  if (profile.ocspMustStaple && revocation.ocsp) ordinaryParts.push(encodeExtension(tlsFeatureExtension()));
  const ordinary = concatBytes(ordinaryParts);
  // ... and for short-lived ones: no CRL or OCSP (CA/B BRs §1.6.1), caIssuers kept for chain building,
  // noRevAvail per RFC 9608 §4, which also says it MUST NOT appear in CA certificates.
  const shortLivedParts: Uint8Array[] = [];
  if (urls && revocation.caIssuers)
    shortLivedParts.push(encodeExtension(authorityInfoAccessExtension({ caIssuers: [urls.caIssuers] })));
  if (profile.shortLived.noRevAvail && !isCa) shortLivedParts.push(encodeExtension(noRevocationAvailableExtension()));
  const shortLivedBlock = concatBytes(shortLivedParts);
  const shortLivedThreshold = isCa ? 0 : profile.shortLived.thresholdSeconds;
  const issuerNotAfter = issuer.notAfter.getTime();

  /**
   * RFC 5280 §4.2.1.10, §6.1.3 (b)-(c): a relying party rejects a certificate with a name outside
   * the permitted or inside the excluded subtrees of any CA on its path. Refusing here turns a
   * certificate nobody would accept into a policy_violation that names the offending name.
   */
  function checkNameConstraints(content: CertificateContent, subjectDer: Uint8Array): void {
    if (pathConstraints.length === 0) return;
    const names = constrainedNames(subjectDer, content.sans);
    for (const { owner, constraints } of pathConstraints) {
      const violation = checkCertificateNames(constraints, names, owner);
      if (violation)
        throw new ChanceryError("policy_violation", `nameConstraints: ${violation.message}`, {
          detail: { rule: "nameConstraints", kind: violation.kind, name: violation.name.label },
        });
    }
  }

  return {
    profile,
    issuer,
    nameConstraints: pathConstraints,
    checkNameConstraints(content: CertificateContent): void {
      checkNameConstraints(content, encodeName(content.subject));
    },
    async issue(content: CertificateContent, serial: SerialNumber): Promise<IssuedCertificate> {
      const keyUsage = keyUsageByType.get(content.publicKey.type);
      if (!keyUsage)
        throw new ChanceryError(
          "policy_violation",
          `keyUsage: profile ${profile.name} has no key usage for this key type`,
        );
      if (content.notAfter.getTime() > issuerNotAfter)
        throw new ChanceryError("policy_violation", "validity: notAfter is after the issuer certificate's notAfter");
      const subjectIsEmpty = content.subject.length === 0;
      if (subjectIsEmpty && content.sans.length === 0)
        throw new ChanceryError("policy_violation", "subject: neither a subject nor a subjectAltName");
      const subjectDer = encodeName(content.subject);
      checkNameConstraints(content, subjectDer);
      const validitySeconds = (content.notAfter.getTime() - content.notBefore.getTime()) / 1000 + 1;
      const shortLived = shortLivedThreshold > 0 && validitySeconds <= shortLivedThreshold;
      const ski = keyIdentifierFromPublicKey(subjectPublicKeyBits(content.subjectPublicKeySpki));
      const extensions = tlvOf(0x30, [
        basicConstraints,
        keyUsage,
        encodeExtension(subjectKeyIdentifierExtension(ski)),
        // RFC 5280 §4.2.1.6: critical exactly when the subject is empty.
        content.sans.length > 0 ? encodeExtension(subjectAltNameExtension(content.sans, subjectIsEmpty)) : empty,
        constant,
        shortLived ? shortLivedBlock : ordinary,
      ]);
      const tbs = sequence([
        versionV3,
        integerFromContent(serial.der),
        afterSerial,
        encodeValidity(content),
        subjectDer,
        content.subjectPublicKeySpki,
        tlv(contextConstructed(3), extensions),
      ]);
      const signature = await signer.sign(tbs);
      const der = encodeSigned(tbs, signatureAlgorithm, signature);
      return {
        der,
        serialHex: serial.hex,
        fingerprintSha256: hash("sha256", der, "hex"),
        subject: formatAttributes(content.subject),
        sans: content.sans,
        notBefore: content.notBefore,
        notAfter: content.notAfter,
        authorityKeyIdentifier: authorityKeyId,
        shortLived,
      };
    },
  };
}

/**
 * The name constraints of the issuer and of each CA above it. A constraint
 * extension we cannot parse makes the CA unusable (failed_precondition):
 * RFC 5280 §4.2.1.10 has relying parties reject what they cannot process,
 * so nothing this CA issues would be accepted.
 */
function readPathNameConstraints(issuer: CertificateView, chainDer: readonly Uint8Array[]): PathNameConstraints[] {
  const path: { owner: string; certificate: CertificateView }[] = [{ owner: "the issuing CA", certificate: issuer }];
  for (const der of chainDer) {
    const certificate = readCertificate(der);
    path.push({ owner: `the CA "${certificate.subject.text}"`, certificate });
  }
  const out: PathNameConstraints[] = [];
  for (const { owner, certificate } of path) {
    let constraints: NameConstraintsView | undefined;
    try {
      constraints = readNameConstraints(certificate.extensions);
    } catch (cause) {
      throw new ChanceryError("failed_precondition", `the nameConstraints of ${owner} cannot be read`, { cause });
    }
    if (constraints) out.push({ owner, constraints });
  }
  return out;
}
