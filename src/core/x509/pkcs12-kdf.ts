import { createHash } from "node:crypto";

/** RFC 7292 Appendix B.1: a password as a BMPString (UTF-16BE) with two trailing zero bytes. */
export function pkcs12Password(passphrase: string): Buffer {
  const out = Buffer.alloc(passphrase.length * 2 + 2);
  for (let i = 0; i < passphrase.length; i++) out.writeUInt16BE(passphrase.charCodeAt(i), i * 2);
  return out;
}

const digestLength = { sha1: 20, sha256: 32 } as const;

/**
 * RFC 7292 Appendix B.2 key derivation: SHA-1 for the legacy PBE schemes
 * (reading old files), SHA-256 for the MAC key OpenSSL 3 uses by default.
 * `id` is 1 for a key, 2 for an IV, 3 for a MAC key (Appendix B.3).
 */
export function pkcs12Kdf(
  hash: keyof typeof digestLength,
  password: Buffer,
  salt: Buffer,
  id: 1 | 2 | 3,
  iterations: number,
  length: number,
): Buffer {
  const u = digestLength[hash];
  const v = 64;
  const d = Buffer.alloc(v, id);
  const i = Buffer.concat([fillTo(salt, v), fillTo(password, v)]);
  const blocks: Buffer[] = [];
  for (let produced = 0; produced < length; produced += u) {
    let a = createHash(hash).update(d).update(i).digest();
    for (let round = 1; round < iterations; round++) a = createHash(hash).update(a).digest();
    blocks.push(a);
    // Step 6C: I_j = (I_j + B + 1) mod 2^(8v), for each v-byte block I_j of I, with B = A repeated to v bytes.
    const b = fillTo(a, v);
    for (let offset = 0; offset < i.length; offset += v) {
      let carry = 1;
      for (let k = v - 1; k >= 0; k--) {
        const sum = i[offset + k]! + b[k]! + carry;
        i[offset + k] = sum & 0xff;
        carry = sum >> 8;
      }
    }
  }
  return Buffer.concat(blocks).subarray(0, length);
}

/** Repeats `bytes` to fill v * ceil(len / v) bytes (RFC 7292 Appendix B.2 steps 2 and 3). */
function fillTo(bytes: Buffer, v: number): Buffer {
  const out = Buffer.alloc(v * Math.ceil(bytes.length / v));
  for (let k = 0; k < out.length; k++) out[k] = bytes[k % bytes.length]!;
  return out;
}
