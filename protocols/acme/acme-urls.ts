/**
 * Every URL of one ACME directory, absolute (certbot breaks on relative
 * Link URLs; RFC 8555 §7.1.1 directory values are URLs). The paths below
 * are what routes.ts serves.
 */
export interface AcmeUrls {
  readonly prefix: string;
  readonly directory: string;
  readonly newNonce: string;
  readonly newAccount: string;
  readonly newOrder: string;
  readonly newAuthz: string;
  readonly revokeCert: string;
  readonly keyChange: string;
  readonly renewalInfo: string;
  account(id: string): string;
  orders(accountId: string): string;
  order(id: string): string;
  finalize(orderId: string): string;
  authorization(id: string): string;
  challenge(id: string): string;
  certificate(serialHex: string): string;
}

export function acmeUrls(baseUrl: string, directoryName: string): AcmeUrls {
  const prefix = `${baseUrl}/acme/${directoryName}`;
  return {
    prefix,
    directory: `${prefix}/directory`,
    newNonce: `${prefix}/new-nonce`,
    newAccount: `${prefix}/new-account`,
    newOrder: `${prefix}/new-order`,
    newAuthz: `${prefix}/new-authz`,
    revokeCert: `${prefix}/revoke-cert`,
    keyChange: `${prefix}/key-change`,
    renewalInfo: `${prefix}/renewal-info`,
    account: (id) => `${prefix}/acct/${id}`,
    orders: (accountId) => `${prefix}/acct/${accountId}/orders`,
    order: (id) => `${prefix}/order/${id}`,
    finalize: (orderId) => `${prefix}/order/${orderId}/finalize`,
    authorization: (id) => `${prefix}/authz/${id}`,
    challenge: (id) => `${prefix}/chall/${id}`,
    certificate: (serialHex) => `${prefix}/cert/${serialHex}`,
  };
}
