import { ChanceryError } from "../errors.ts";

/** The URLs a CA's certificates point to. */
export interface CaUrls {
  /** cRLDistributionPoints (RFC 5280 §4.2.1.13). */
  readonly crl: string;
  /** authorityInfoAccess id-ad-ocsp (RFC 5280 §4.2.2.1). */
  readonly ocsp: string;
  /** authorityInfoAccess id-ad-caIssuers: the DER issuer certificate (RFC 5280 §4.2.2.1). */
  readonly caIssuers: string;
}

/**
 * The one place that decides where CRLs, OCSP and issuer certificates are
 * published, so the OCSP/CRL listeners and the certificates agree.
 *
 * `baseUrl` must be plain http: relying parties fetch these while checking
 * a TLS certificate, and HTTPS there creates a validation loop (RFC 5019 and
 * RFC 9919 for OCSP; RFC 5280 §4.2.2.1 asks for HTTP or LDAP caIssuers URIs).
 */
export function buildCaUrls(baseUrl: string, caId: string): CaUrls {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch (cause) {
    throw new ChanceryError("invalid_argument", `public base URL "${baseUrl}" is not an absolute URL`, { cause });
  }
  if (url.protocol !== "http:")
    throw new ChanceryError(
      "invalid_argument",
      `public base URL for CRL/OCSP/caIssuers must use http:, not ${url.protocol} (HTTPS would make revocation checks loop)`,
    );
  if (url.search || url.hash || url.username || url.password)
    throw new ChanceryError("invalid_argument", "public base URL must not have credentials, a query or a fragment");
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(caId))
    throw new ChanceryError("invalid_argument", `CA id "${caId}" cannot be used in a URL path`);
  const base = url.href.replace(/\/+$/, "");
  return { crl: `${base}/crl/${caId}.crl`, ocsp: `${base}/ocsp`, caIssuers: `${base}/ca/${caId}.cer` };
}
