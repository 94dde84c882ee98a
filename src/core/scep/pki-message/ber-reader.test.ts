import { describe, expect, it } from "vitest";
import { BerError, createBerReader } from "./ber-reader.ts";

const hex = (text: string) => Buffer.from(text.replace(/\s+/g, ""), "hex");

describe("createBerReader", () => {
  it("reads definite lengths, including non-minimal ones BER allows", () => {
    const reader = createBerReader(hex("30 81 06 02 01 05 04 01 aa"));
    const [integer, octets] = reader.children(reader.root());
    expect(integer).toMatchObject({ tag: 0x02, contentStart: 5, end: 6 });
    expect(Buffer.from(reader.octets(octets!))).toEqual(hex("aa"));
  });

  it("reads indefinite lengths and segmented OCTET STRINGs (X.690 §8.1.3.6, §8.7.3)", () => {
    // SEQUENCE (indefinite) { [0] (indefinite) { OCTET STRING constructed (indefinite) { "ab", "cd" } } }
    const reader = createBerReader(hex("30 80 a0 80 24 80 04 01 ab 04 01 cd 00 00 00 00 00 00"));
    const root = reader.root();
    expect(root).toMatchObject({ indefinite: true, next: 18, end: 16 });
    const [explicit] = reader.children(root);
    const [string] = reader.children(explicit!);
    expect(string).toMatchObject({ tag: 0x24, indefinite: true });
    expect(Buffer.from(reader.octets(string!))).toEqual(hex("ab cd"));
  });

  it("refuses what is not BER", () => {
    const cases = [
      "30", // truncated header
      "30 05 02 01", // truncated content
      "30 80 02 01 05", // no end-of-contents
      "04 80 00 00", // indefinite primitive
      "1f 01 00", // high tag number
      "30 85 00 00 00 00 01 00", // five length octets
      "30 00 00", // trailing data
      "24 03 02 01 05", // segment that is not an OCTET STRING
    ];
    for (const text of cases) {
      const reader = createBerReader(hex(text));
      expect(() => {
        const root = reader.root();
        if (root.tag === 0x24) reader.octets(root);
      }, text).toThrow(BerError);
    }
  });

  it("bounds nesting depth", () => {
    const depth = 40;
    const nested = Buffer.concat([Buffer.alloc(depth * 2, 0), Buffer.alloc(depth * 2, 0)]);
    for (let i = 0; i < depth; i++) nested.set([0x30, 0x80], i * 2);
    expect(() => createBerReader(nested).root()).toThrow(/nesting too deep/);
  });

  it("finds the end of a deeply nested indefinite element in linear time", () => {
    // 30 levels of indefinite SEQUENCEs around a large body: each level is scanned once.
    const depth = 30;
    const body = Buffer.alloc(199_998, 0);
    for (let i = 0; i < body.length; i += 3) body.set([0x04, 0x01, 0x00], i);
    const bytes = Buffer.concat([Buffer.alloc(depth * 2), body, Buffer.alloc(depth * 2, 0)]);
    for (let i = 0; i < depth; i++) bytes.set([0x30, 0x80], i * 2);
    const reader = createBerReader(bytes);
    const started = performance.now();
    let node = reader.root();
    for (let i = 1; i < depth; i++) node = reader.children(node)[0]!;
    expect(performance.now() - started).toBeLessThan(1000);
  });
});
