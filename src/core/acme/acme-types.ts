/** RFC 8555 §9.7.7 identifier types we serve: dns, and ip (RFC 8738). */
export type AcmeIdentifierType = "dns" | "ip";

/** An order identifier as on the wire; a wildcard dns value starts with "*." (RFC 8555 §7.1.3). */
export interface AcmeIdentifier {
  readonly type: AcmeIdentifierType;
  readonly value: string;
}

export const challengeTypes = ["http-01", "dns-01", "tls-alpn-01"] as const;
export type ChallengeType = (typeof challengeTypes)[number];

/** internal-PKI mode: EAB-bound accounts are trusted, without challenges, for matching identifiers. */
export const authorizationModes = ["challenge", "eab_trusted"] as const;
export type AuthorizationMode = (typeof authorizationModes)[number];

export interface AcmeRateLimits {
  /** New orders per account per hour. */
  readonly ordersPerAccountPerHour: number;
  /** New accounts per client IP per hour. */
  readonly newAccountsPerIpPerHour: number;
  /** New orders for one exact identifier set per week (the duplicate-certificate limit). */
  readonly ordersPerIdentifierSetPerWeek: number;
}

export const defaultAcmeRateLimits: AcmeRateLimits = {
  ordersPerAccountPerHour: 300,
  newAccountsPerIpPerHour: 50,
  ordersPerIdentifierSetPerWeek: 100,
};

/** One ACME directory (migration 0016 acme_directories), served at <acme base>/acme/<name>/directory. */
export interface AcmeDirectory {
  readonly id: string;
  readonly name: string;
  readonly caId: string;
  readonly allowedProfiles: readonly string[];
  readonly defaultProfile: string;
  readonly authorizationMode: AuthorizationMode;
  /** Patterns such as "*.corp.example", "host.internal", "10.0.0.0/8" (eab_trusted mode). */
  readonly trustedIdentifiers: readonly string[];
  readonly challengeTypes: readonly ChallengeType[];
  readonly externalAccountRequired: boolean;
  readonly caaCheck: boolean;
  /** RFC 8659 issuer domain names this directory answers to; empty = none configured (CAA then refuses any issue property). */
  readonly caaIdentities: readonly string[];
  readonly termsOfServiceUrl: string | null;
  readonly websiteUrl: string | null;
  readonly rateLimits: AcmeRateLimits;
  readonly enabled: boolean;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}
