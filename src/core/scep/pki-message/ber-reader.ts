/**
 * A BER reader (X.690 §8) for the CMS messages SCEP clients send. Apple's
 * and other clients encode the outer SignedData and the EnvelopedData with
 * indefinite lengths and constructed OCTET STRINGs, which the strict DER
 * reader (src/core/x509/der-reader.ts) rightly refuses for X.509.
 *
 * Nodes are offsets into the input; nothing is copied until asked. A node
 * has the same shape as a DerNode (`end` is the end of its content octets),
 * so the DER reader's leaf functions (readOid, readIntegerContent,
 * readString, readTime) apply to primitive nodes unchanged.
 *
 * Hostile input is bounded: nesting depth is capped, and the end of every
 * indefinite-length element is found once and remembered, so a deeply
 * nested message costs linear time rather than depth × size.
 */
export interface BerNode {
  readonly tag: number;
  /** Offset of the tag octet. */
  readonly start: number;
  /** Offset of the first content octet. */
  readonly contentStart: number;
  /** Offset just past the last content octet (before the end-of-contents octets of an indefinite length). */
  readonly end: number;
  /** Offset just past the whole element, end-of-contents octets included. */
  readonly next: number;
  /** Nesting depth, 0 for the root. */
  readonly depth: number;
  readonly indefinite: boolean;
}

/** Thrown for input that is not BER; the SCEP codec turns it into a ScepMessageError. */
export class BerError extends Error {
  constructor(message: string) {
    super(`malformed BER: ${message}`);
    this.name = "BerError";
  }
}

/** CMS nests about ten levels deep; this leaves room and keeps recursion shallow. */
const maxDepth = 32;
const constructedBit = 0x20;

export interface BerReader {
  readonly buf: Uint8Array;
  /** The single top-level element; trailing bytes are an error. */
  root(): BerNode;
  children(node: BerNode): BerNode[];
  /** The content octets of a primitive or constructed (segmented) string, e.g. an OCTET STRING. */
  octets(node: BerNode): Uint8Array;
}

export function createBerReader(buf: Uint8Array): BerReader {
  // Where each indefinite-length element (by start offset) ends, once found.
  const indefiniteEnds = new Map<number, number>();

  function read(offset: number, limit: number, depth: number): BerNode {
    if (depth > maxDepth) throw new BerError("nesting too deep");
    if (offset + 2 > limit) throw new BerError("truncated header");
    const tag = buf[offset]!;
    // High tag numbers (X.690 §8.1.2.4) never occur in CMS or SCEP.
    if ((tag & 0x1f) === 0x1f) throw new BerError("multi-octet tags are not supported");
    if (tag === 0) throw new BerError("unexpected end-of-contents");
    const first = buf[offset + 1]!;
    if (first === 0x80) {
      // X.690 §8.1.3.6: the indefinite form is for constructed encodings only.
      if ((tag & constructedBit) === 0) throw new BerError("indefinite length on a primitive element");
      const contentStart = offset + 2;
      let end = indefiniteEnds.get(offset);
      if (end === undefined) {
        let position = contentStart;
        for (;;) {
          if (position + 2 > limit) throw new BerError("missing end-of-contents");
          if (buf[position] === 0 && buf[position + 1] === 0) break;
          position = read(position, limit, depth + 1).next;
        }
        end = position;
        indefiniteEnds.set(offset, end);
      }
      return { tag, start: offset, contentStart, end, next: end + 2, depth, indefinite: true };
    }
    let length: number;
    let contentStart: number;
    if (first < 0x80) {
      length = first;
      contentStart = offset + 2;
    } else {
      // BER allows non-minimal length octets; four of them already exceed any message we accept.
      const count = first & 0x7f;
      if (count > 4) throw new BerError("length too large");
      if (offset + 2 + count > limit) throw new BerError("truncated length");
      length = 0;
      for (let i = 0; i < count; i++) length = length * 256 + buf[offset + 2 + i]!;
      contentStart = offset + 2 + count;
    }
    const end = contentStart + length;
    if (end > limit) throw new BerError("truncated content");
    return { tag, start: offset, contentStart, end, next: end, depth, indefinite: false };
  }

  function children(node: BerNode): BerNode[] {
    if ((node.tag & constructedBit) === 0) throw new BerError(`tag 0x${node.tag.toString(16)} is not constructed`);
    const out: BerNode[] = [];
    let offset = node.contentStart;
    while (offset < node.end) {
      const child = read(offset, node.end, node.depth + 1);
      out.push(child);
      offset = child.next;
    }
    return out;
  }

  function collect(node: BerNode, parts: Uint8Array[]): void {
    if ((node.tag & constructedBit) === 0) {
      parts.push(buf.subarray(node.contentStart, node.end));
      return;
    }
    // X.690 §8.7.3.2: the segments of a constructed OCTET STRING are OCTET STRINGs themselves.
    for (const child of children(node)) {
      if ((child.tag & ~constructedBit) !== 0x04) throw new BerError("a string segment is not an OCTET STRING");
      collect(child, parts);
    }
  }

  return {
    buf,
    root() {
      const node = read(0, buf.length, 0);
      if (node.next !== buf.length) throw new BerError("trailing data after the top-level element");
      return node;
    },
    children,
    octets(node) {
      if ((node.tag & constructedBit) === 0) return buf.subarray(node.contentStart, node.end);
      const parts: Uint8Array[] = [];
      collect(node, parts);
      return Buffer.concat(parts);
    },
  };
}

/** The whole element as encoded, header (and end-of-contents octets) included. */
export function berRaw(buf: Uint8Array, node: BerNode): Uint8Array {
  return buf.subarray(node.start, node.next);
}

/** The node's children, asserting its tag and a count range. */
export function expectBer(
  reader: BerReader,
  node: BerNode | undefined,
  tag: number,
  what: string,
  min = 0,
  max = Number.POSITIVE_INFINITY,
): BerNode[] {
  expectBerTag(node, tag, what);
  const list = reader.children(node!);
  if (list.length < min || list.length > max) throw new BerError(`${what} has ${list.length} elements`);
  return list;
}

export function expectBerTag(node: BerNode | undefined, tag: number, what: string): BerNode {
  if (node === undefined) throw new BerError(`${what} is missing`);
  if (node.tag !== tag)
    throw new BerError(`${what}: expected tag 0x${tag.toString(16)}, got 0x${node.tag.toString(16)}`);
  return node;
}

/** Whether `node` is an OCTET STRING in primitive or constructed form, with universal or the given implicit tag. */
export function isOctetString(node: BerNode, implicitTag = 0x04): boolean {
  return (node.tag & ~constructedBit) === implicitTag;
}
