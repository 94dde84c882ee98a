/**
 * CRLReason codes (RFC 5280 §5.3.1). 7 is unused; removeFromCRL (8) only
 * appears in delta CRLs; certificateHold (6) is refused because revocation
 * here is final (the CA/B BRs forbid holds for the same reason).
 */
export const revocationReasons = {
  unspecified: 0,
  keyCompromise: 1,
  cACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  privilegeWithdrawn: 9,
  aACompromise: 10,
} as const;

export type RevocationReason = keyof typeof revocationReasons;

export function revocationReasonName(code: number): RevocationReason | undefined {
  return (Object.keys(revocationReasons) as RevocationReason[]).find((name) => revocationReasons[name] === code);
}
