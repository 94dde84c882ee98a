/**
 * The result codes ScepActions answers in `code`, as Microsoft's
 * Intune-Resource-Access library enumerates them
 * (IntuneScepServiceException.ErrorCode, C# and Java alike). Anything but
 * "Success" means: do not issue. Each maps to a sentence an operator can
 * act on; a code not listed here is reported as it came.
 */
export const intuneResultCodes = {
  Success: "the request is valid",
  CertificateRequestDecodingFailed: "Intune could not decode the certificate request",
  ChallengePasswordMissing: "the CSR carries no challenge password",
  ChallengeDeserializationError: "the challenge password is not an Intune challenge",
  ChallengeDecryptionError: "Intune could not decrypt the challenge (issued for another tenant or CA?)",
  ChallengeDecodingError: "Intune could not decode the challenge",
  ChallengeInvalidTimestamp: "the challenge carries an invalid timestamp",
  ChallengeExpired: "the Intune challenge has expired; the device must fetch a new SCEP profile",
  SubjectNameMissing: "the CSR has no subject name although the Intune profile sets one",
  SubjectNameMismatch: "the CSR subject name differs from the one in the Intune profile",
  SubjectAltNameMissing: "the CSR has no subject alternative name although the Intune profile sets some",
  SubjectAltNameMismatch: "the CSR subject alternative names differ from those in the Intune profile",
  KeyUsageMismatch: "the CSR key usage differs from the Intune profile",
  KeyLengthMismatch: "the CSR key length differs from the Intune profile",
  EnhancedKeyUsageMissing: "the CSR has no extended key usage although the Intune profile sets some",
  EnhancedKeyUsageMismatch: "the CSR extended key usage differs from the Intune profile",
  AadKeyIdentifierListMissing: "the CSR lacks the Entra ID key identifier list",
  RegisteredKeyMismatch: "the CSR key is not the key registered for the device",
  SigningCertThumbprintMismatch: "the challenge was signed with an unexpected certificate",
  ScepProfileNoLongerTargetedToTheClient: "the Intune SCEP profile is no longer assigned to this device or user",
  SignatureValidationFailed: "the challenge signature does not verify",
  BadCertificateRequestIdInChallenge: "the challenge names an unknown certificate request",
  BadDeviceIdInChallenge: "the challenge names an unknown device",
  BadUserIdInChallenge: "the challenge names an unknown user",
} as const;

export type IntuneResultCode = keyof typeof intuneResultCodes;

export function isIntuneResultCode(code: string): code is IntuneResultCode {
  return Object.hasOwn(intuneResultCodes, code);
}

/** "Intune refused the request: ChallengeExpired (the Intune challenge has expired; ...): <description>". */
export function intuneRefusalReason(code: string, description: string): string {
  const meaning = isIntuneResultCode(code) ? intuneResultCodes[code] : "a result code this gateway does not know";
  return `Intune refused the request: ${code} (${meaning})${description ? `: ${description}` : ""}`;
}
