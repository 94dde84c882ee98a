import type { AcmeIdentifier } from "./acme-types.ts";

/** RFC 8555 §6.7 (and RFC 9773 alreadyReplaced, draft-ietf-acme-profiles invalidProfile) error types. */
export const acmeErrorTypes = [
  "accountDoesNotExist",
  "alreadyReplaced",
  "alreadyRevoked",
  "badCSR",
  "badNonce",
  "badPublicKey",
  "badRevocationReason",
  "badSignatureAlgorithm",
  "caa",
  "compound",
  "connection",
  "dns",
  "externalAccountRequired",
  "incorrectResponse",
  "invalidContact",
  "invalidProfile",
  "malformed",
  "orderNotReady",
  "rateLimited",
  "rejectedIdentifier",
  "serverInternal",
  "tls",
  "unauthorized",
  "unsupportedContact",
  "unsupportedIdentifier",
  "userActionRequired",
] as const;
export type AcmeErrorType = (typeof acmeErrorTypes)[number];

export const acmeErrorNamespace = "urn:ietf:params:acme:error:";

/** An RFC 7807 problem document as ACME sends it (RFC 8555 §6.7), with subproblems per identifier (§6.7.1). */
export interface ProblemDocument {
  readonly type: string;
  readonly detail: string;
  readonly status?: number | undefined;
  readonly identifier?: AcmeIdentifier | undefined;
  readonly subproblems?: readonly ProblemDocument[] | undefined;
  /** RFC 8555 §6.2: a badSignatureAlgorithm problem lists the JWS algorithms the server accepts. */
  readonly algorithms?: readonly string[] | undefined;
}

/** The type of a problem document, e.g. "caa" for "urn:ietf:params:acme:error:caa" (to raise it again). */
export function acmeErrorTypeOf(problem: ProblemDocument): AcmeErrorType {
  const type = problem.type.slice(acmeErrorNamespace.length) as AcmeErrorType;
  return acmeErrorTypes.includes(type) ? type : "serverInternal";
}

/** The HTTP status each type is answered with unless a caller says otherwise. */
const defaultStatus: Record<AcmeErrorType, number> = {
  accountDoesNotExist: 400,
  alreadyReplaced: 409,
  alreadyRevoked: 400,
  badCSR: 400,
  badNonce: 400,
  badPublicKey: 400,
  badRevocationReason: 400,
  badSignatureAlgorithm: 400,
  caa: 403,
  compound: 403,
  connection: 400,
  dns: 400,
  externalAccountRequired: 401,
  incorrectResponse: 403,
  invalidContact: 400,
  invalidProfile: 400,
  malformed: 400,
  orderNotReady: 403,
  rateLimited: 429,
  rejectedIdentifier: 400,
  serverInternal: 500,
  tls: 400,
  unauthorized: 403,
  unsupportedContact: 400,
  unsupportedIdentifier: 400,
  userActionRequired: 403,
};

/**
 * The ACME domain's error: core ACME code throws it, the ACME front end
 * (protocols/acme/errors.ts) writes it as application/problem+json. Its
 * detail is shown to the client, so it never carries internal facts.
 */
export class AcmeProblem extends Error {
  readonly type: AcmeErrorType;
  readonly status: number;
  readonly identifier: AcmeIdentifier | undefined;
  readonly subproblems: readonly ProblemDocument[];
  /** Seconds, for rateLimited and the like (RFC 8555 §6.6: Retry-After). */
  readonly retryAfterSeconds: number | undefined;
  /** RFC 8555 §6.2: the supported "alg" values, for badSignatureAlgorithm. */
  readonly algorithms: readonly string[] | undefined;

  constructor(
    type: AcmeErrorType,
    detail: string,
    options?: {
      status?: number;
      identifier?: AcmeIdentifier;
      subproblems?: readonly ProblemDocument[];
      retryAfterSeconds?: number;
      algorithms?: readonly string[];
      cause?: unknown;
    },
  ) {
    super(detail, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "AcmeProblem";
    this.type = type;
    this.status = options?.status ?? defaultStatus[type];
    this.identifier = options?.identifier;
    this.subproblems = options?.subproblems ?? [];
    this.retryAfterSeconds = options?.retryAfterSeconds;
    this.algorithms = options?.algorithms;
  }

  toDocument(): ProblemDocument {
    return problemDocument(this.type, this.message, {
      status: this.status,
      identifier: this.identifier,
      subproblems: this.subproblems.length > 0 ? this.subproblems : undefined,
      algorithms: this.algorithms,
    });
  }
}

export function problemDocument(
  type: AcmeErrorType,
  detail: string,
  extra?: {
    status?: number | undefined;
    identifier?: AcmeIdentifier | undefined;
    subproblems?: readonly ProblemDocument[] | undefined;
    algorithms?: readonly string[] | undefined;
  },
): ProblemDocument {
  return {
    type: acmeErrorNamespace + type,
    detail,
    status: extra?.status ?? defaultStatus[type],
    ...(extra?.identifier ? { identifier: extra.identifier } : {}),
    ...(extra?.subproblems ? { subproblems: extra.subproblems } : {}),
    ...(extra?.algorithms ? { algorithms: extra.algorithms } : {}),
  };
}
