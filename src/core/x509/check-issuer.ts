import type { Signer } from "../ca/signer.ts";
import { ChanceryError } from "../errors.ts";
import type { CertificateView } from "./parse-certificate.ts";

/** A certificate known to carry basicConstraints. */
export type CaCertificateView = CertificateView & {
  readonly basicConstraints: NonNullable<CertificateView["basicConstraints"]>;
};

/**
 * What any certificate we sign needs of its issuer: the signer holds the
 * issuer certificate's key, and that certificate is a CA allowed to sign
 * certificates (RFC 5280 §4.2.1.9 cA TRUE; §4.2.1.3 keyCertSign when
 * keyUsage is present).
 */
export function checkIssuer(issuer: CertificateView, signer: Signer): asserts issuer is CaCertificateView {
  if (!Buffer.from(issuer.publicKey.der).equals(signer.publicKeySpki))
    throw new ChanceryError("invalid_argument", "the issuer signer does not hold the issuer certificate's key");
  if (!issuer.basicConstraints?.ca)
    throw new ChanceryError(
      "failed_precondition",
      "the issuer certificate is not a CA (basicConstraints cA is not TRUE)",
    );
  if (issuer.keyUsage && !issuer.keyUsage.includes("keyCertSign"))
    throw new ChanceryError("failed_precondition", "the issuer certificate's keyUsage lacks keyCertSign");
}
