import type { AcmeAccount } from "../../src/core/acme/acme-account.ts";
import type { AcmeAuthorization, AcmeChallenge } from "../../src/core/acme/acme-authorization.ts";
import type { AcmeOrder } from "../../src/core/acme/acme-order.ts";
import type { AcmeDirectory } from "../../src/core/acme/acme-types.ts";
import type { CertificateWithChain } from "../../src/core/issuance/issuance-service.ts";
import { readCertificate } from "../../src/core/x509/parse-certificate.ts";
import { pemEncode } from "../../src/core/x509/pem.ts";
import type { AcmeUrls } from "./acme-urls.ts";

/** RFC 8555 §7.1.1 directory object, with ARI (RFC 9773 §3) and profiles (draft-ietf-acme-profiles §3). */
export function directoryJson(directory: AcmeDirectory, urls: AcmeUrls, profileDescriptions: Record<string, string>) {
  const meta: Record<string, unknown> = {
    externalAccountRequired: directory.externalAccountRequired,
    profiles: Object.fromEntries(directory.allowedProfiles.map((name) => [name, profileDescriptions[name] ?? name])),
  };
  if (directory.termsOfServiceUrl) meta["termsOfService"] = directory.termsOfServiceUrl;
  if (directory.websiteUrl) meta["website"] = directory.websiteUrl;
  if (directory.caaIdentities.length > 0) meta["caaIdentities"] = directory.caaIdentities;
  return {
    newNonce: urls.newNonce,
    newAccount: urls.newAccount,
    newOrder: urls.newOrder,
    newAuthz: urls.newAuthz,
    revokeCert: urls.revokeCert,
    keyChange: urls.keyChange,
    renewalInfo: urls.renewalInfo,
    meta,
  };
}

/** RFC 8555 §7.1.2. */
export function accountJson(account: AcmeAccount, urls: AcmeUrls) {
  return {
    status: account.status,
    contact: account.contacts,
    termsOfServiceAgreed: account.termsOfServiceAgreed,
    orders: urls.orders(account.id),
    ...(account.externalAccountKeyId ? { externalAccountBinding: { kid: account.externalAccountKeyId } } : {}),
    createdAt: account.createdAt.toISOString(),
  };
}

/** RFC 8555 §7.1.3. */
export function orderJson(order: AcmeOrder, urls: AcmeUrls) {
  return {
    status: order.status,
    expires: order.expiresAt.toISOString(),
    identifiers: order.identifiers,
    ...(order.notBefore ? { notBefore: order.notBefore.toISOString() } : {}),
    ...(order.notAfter ? { notAfter: order.notAfter.toISOString() } : {}),
    ...(order.error ? { error: order.error } : {}),
    authorizations: order.authorizationIds.map(urls.authorization),
    finalize: urls.finalize(order.id),
    ...(order.certificateSerialHex ? { certificate: urls.certificate(order.certificateSerialHex) } : {}),
    profile: order.profileName,
    ...(order.replaces ? { replaces: order.replaces } : {}),
  };
}

/** RFC 8555 §7.1.4. */
export function authorizationJson(authorization: AcmeAuthorization, urls: AcmeUrls) {
  return {
    status: authorization.status,
    expires: authorization.expiresAt.toISOString(),
    identifier: authorization.identifier,
    challenges: authorization.challenges.map((c) => challengeJson(c, urls)),
    ...(authorization.wildcard ? { wildcard: true } : {}),
  };
}

/** RFC 8555 §8. */
export function challengeJson(challenge: AcmeChallenge, urls: AcmeUrls) {
  return {
    type: challenge.type,
    url: urls.challenge(challenge.id),
    status: challenge.status,
    token: challenge.token,
    ...(challenge.validatedAt ? { validated: challenge.validatedAt.toISOString() } : {}),
    ...(challenge.error ? { error: challenge.error } : {}),
  };
}

/**
 * RFC 8555 §7.4.2: application/pem-certificate-chain, leaf first, then the
 * CA certificates above it, without a self-signed root: relying parties
 * must already trust it, and a root in the chain only costs bytes (and
 * makes some validators prefer it over their own store).
 */
export function certificateChainPem(chain: CertificateWithChain): string {
  const issuers = [...chain.issuersDer];
  const top = issuers[issuers.length - 1];
  if (top && isSelfIssued(top)) issuers.pop();
  return [chain.certificate.der, ...issuers].map((der) => pemEncode("CERTIFICATE", der)).join("");
}

function isSelfIssued(der: Uint8Array): boolean {
  const view = readCertificate(der);
  return Buffer.from(view.issuer.der).equals(view.subject.der);
}
