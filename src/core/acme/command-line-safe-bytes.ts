import { randomBytes } from "node:crypto";

/**
 * `length` random bytes whose base64url text does not start with "-" or "_".
 * EAB key ids and HMAC keys are pasted into command lines (certbot
 * `--eab-kid` / `--eab-hmac-key`, lego `--kid` / `--hmac`, `chancery acme eab
 * revoke`), where a leading "-" reads as an option: a key id or HMAC key
 * starting with one (1 in 64 each) was refused as a usage error. "_" is left
 * out too, for tools that treat it specially. The first character is the
 * first byte's top six bits (RFC 4648 §5: 62 is "-", 63 is "_"); redrawing
 * those keeps the rest uniform and costs log2(64/62) ≈ 0.05 bits.
 */
export function commandLineSafeBytes(length: number): Buffer {
  for (;;) {
    const bytes = randomBytes(length);
    if (bytes[0]! >> 2 < 62) return bytes;
    bytes.fill(0);
  }
}
