import type { Interceptor } from "@connectrpc/connect";
import { TokenService } from "../gen/chancery/admin/v1/token_pb.js";
import { otpCodeKey, otpHeader } from "./otp.ts";
import { peerAddressKey } from "./peer-address.ts";
import { type Principal, principalKey } from "./principal.ts";

/** Resolves a bearer token from a peer address to a caller, or throws unauthenticated / permission_denied. */
export type Authenticate = (bearerToken: string | undefined, peerIp: string) => Promise<Principal>;

/**
 * The one chancery.admin RPC without a bearer token: a user who has no
 * token yet redeems an enrollment code for one, and the code in the request
 * is the credential (token-enrollment.ts checks it, and audits failures, as
 * the authenticator does a token).
 */
const redeemEnrollment = TokenService.method.redeemTokenEnrollment;

/**
 * Every chancery.admin.v1 call carries `authorization: Bearer <PAT>`; the
 * caller is resolved here, once, before the handler runs, and handlers
 * check roles with requireRole. The standard grpc.health and
 * grpc.reflection services stay open, as probes and grpcurl expect, and so
 * does enrollment-code redemption (above), which sets no principal: any
 * role check in it would fail.
 */
export function createAuthenticationInterceptor(authenticate: Authenticate): Interceptor {
  return (next) => async (request) => {
    if (!request.service.typeName.startsWith("chancery.admin.")) return next(request);
    if (request.service.typeName === redeemEnrollment.parent.typeName && request.method.name === redeemEnrollment.name)
      return next(request);
    const header = request.header.get("authorization") ?? undefined;
    const match = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
    const principal = await authenticate(match?.[1], request.contextValues.get(peerAddressKey));
    request.contextValues.set(principalKey, principal);
    request.contextValues.set(otpCodeKey, request.header.get(otpHeader)?.trim() || undefined);
    return next(request);
  };
}
