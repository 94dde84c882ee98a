import { randomFillSync } from "node:crypto";

export interface SerialNumber {
  /** INTEGER content octets: minimal, positive two's complement (at most 17 octets). */
  readonly der: Uint8Array;
  /** The value in lower-case hex, whole octets, without a leading 00 octet. */
  readonly hex: string;
}

const serialBytes = 16;

/**
 * A fresh certificate serial number of 128 bits straight from the CSPRNG.
 *
 * RFC 5280 §4.1.2.2: positive, at most 20 octets, unique per CA. The CA/B
 * Baseline Requirements §7.1 ask for at least 64 bits of CSPRNG output; we
 * keep all 128 bits instead of clearing the top one, so the DER content gets
 * a 0x00 sign octet when the first random byte is >= 0x80 (17 octets), and
 * leading zero octets are dropped for the minimal encoding X.690 §8.3.2
 * demands. A zero value (probability 2^-128) is drawn again: serials must be
 * positive.
 */
export function generateSerial(): SerialNumber {
  const bytes = new Uint8Array(serialBytes);
  for (;;) {
    randomFillSync(bytes);
    const serial = serialFromRandom(bytes);
    if (serial) return serial;
  }
}

export type SerialGenerator = () => SerialNumber;

/**
 * generateSerial for the issuance hot path: the same 128-bit serials, but
 * CSPRNG output is drawn in blocks of `blockSerials` serials, because each
 * randomFillSync call costs a few microseconds whatever its size. Each
 * generator owns its block; every byte is used once.
 */
export function createSerialGenerator(blockSerials = 256): SerialGenerator {
  const block = new Uint8Array(serialBytes * blockSerials);
  let offset = block.length;
  return () => {
    for (;;) {
      if (offset === block.length) {
        randomFillSync(block);
        offset = 0;
      }
      const serial = serialFromRandom(block.subarray(offset, offset + serialBytes));
      offset += serialBytes;
      if (serial) return serial;
    }
  };
}

/** The serial for 16 random bytes, or undefined when they are all zero. */
function serialFromRandom(bytes: Uint8Array): SerialNumber | undefined {
  let start = 0;
  while (start < bytes.length && bytes[start] === 0) start++;
  if (start === bytes.length) return undefined;
  const magnitude = bytes.subarray(start);
  const der = new Uint8Array(magnitude.length + (magnitude[0]! & 0x80 ? 1 : 0));
  der.set(magnitude, der.length - magnitude.length);
  return { der, hex: Buffer.from(magnitude).toString("hex") };
}

/** Hex (as stored) of a serial given as INTEGER content octets, e.g. parsed from a certificate. */
export function serialHexFromContent(content: Uint8Array): string {
  let start = 0;
  while (start < content.length - 1 && content[start] === 0) start++;
  return Buffer.from(content.subarray(start)).toString("hex");
}
