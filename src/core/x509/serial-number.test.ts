import * as asn1js from "asn1js";
import { describe, expect, it } from "vitest";
import { integerFromContent } from "./der-writer.ts";
import { createSerialGenerator, generateSerial, type SerialNumber, serialHexFromContent } from "./serial-number.ts";

function checkShape(serial: SerialNumber): void {
  const der = serial.der;
  // Positive and minimal: top bit clear; a leading 00 only when the next octet needs it.
  expect(der[0]! & 0x80).toBe(0);
  if (der[0] === 0) expect(der[1]! & 0x80).toBe(0x80);
  expect(der.length).toBeLessThanOrEqual(17);
  // hex is the value: the content octets without the sign octet, lower-case, no leading 00.
  expect(serial.hex).toMatch(/^(?!00)([0-9a-f]{2})+$/);
  expect(serial.hex).toBe(Buffer.from(der[0] === 0 ? der.subarray(1) : der).toString("hex"));
  expect(serialHexFromContent(der)).toBe(serial.hex);
  // An independent DER parser reads the same positive value.
  const parsed = asn1js.fromBER(integerFromContent(der)).result as asn1js.Integer;
  expect(parsed.toBigInt()).toBe(BigInt(`0x${serial.hex}`));
  expect(parsed.toBigInt() > 0n).toBe(true);
}

describe.each([
  ["generateSerial", () => generateSerial],
  ["createSerialGenerator", () => createSerialGenerator(16)],
])("%s", (_label, make) => {
  it("yields positive, minimally encoded serials with 128 bits of CSPRNG output", () => {
    const next = make();
    const count = 4000;
    const seen = new Set<string>();
    const ones = new Array<number>(128).fill(0);
    let withSignOctet = 0;
    for (let i = 0; i < count; i++) {
      const serial = next();
      checkShape(serial);
      seen.add(serial.hex);
      if (serial.der.length === 17) withSignOctet++;
      const value = BigInt(`0x${serial.hex}`);
      expect(value < 2n ** 128n).toBe(true);
      for (let bit = 0; bit < 128; bit++) if ((value >> BigInt(bit)) & 1n) ones[bit]!++;
    }
    expect(seen.size).toBe(count);
    // Every one of the 128 bit positions varies, the top one included (the sign is carried by a 00 octet
    // instead of clearing it). For a fair bit, 4000 draws fall outside 40%..60% with probability < 1e-30.
    for (const n of ones) {
      expect(n / count).toBeGreaterThan(0.4);
      expect(n / count).toBeLessThan(0.6);
    }
    expect(withSignOctet / count).toBeGreaterThan(0.4);
    expect(withSignOctet / count).toBeLessThan(0.6);
  });
});
