import { createHash } from "node:crypto";

/** SHA-256 fingerprint as `openssl x509 -fingerprint -sha256` prints it (AB:CD:...). */
export function sha256Fingerprint(der: Uint8Array): string {
  return createHash("sha256")
    .update(der)
    .digest("hex")
    .toUpperCase()
    .replace(/(..)(?!$)/g, "$1:");
}
