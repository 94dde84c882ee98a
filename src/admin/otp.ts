import { createContextKey, type HandlerContext } from "@connectrpc/connect";
import type { CertificateAuthority } from "../core/ca/certificate-authority.ts";
import type { TotpService } from "../core/identity/totp-service.ts";
import type { Principal } from "./principal.ts";

/**
 * The caller's TOTP code for this call, from the "chancery-otp" request
 * header: a header rather than a field so every RPC that may need it
 * (issue, approve) takes it the same way, and tools add it with -H.
 */
export const otpCodeKey = createContextKey<string | undefined>(undefined, { description: "TOTP code" });

export const otpHeader = "chancery-otp";

/**
 * For a CA marked OTP-required, the caller must present a valid code that
 * has not been used before (one code, one action); other CAs pass.
 */
export async function requireOtpForCa(
  context: HandlerContext,
  principal: Principal,
  ca: CertificateAuthority,
  totp: TotpService,
  action: string,
): Promise<void> {
  if (!ca.otpRequired) return;
  await totp.verify(principal.userId, context.values.get(otpCodeKey), `${action} through CA ${ca.name}`);
}
