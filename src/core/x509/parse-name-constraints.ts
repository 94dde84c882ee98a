import { ChanceryError } from "../errors.ts";
import { children, content, type DerNode, readInteger, readRoot, readString } from "./der-reader.ts";
import { tags } from "./der-writer.ts";
import type { Extension } from "./extensions.ts";
import { formatCidr } from "./ip-address.ts";
import { oids } from "./oids.ts";
import { type CanonicalRdn, canonicalRdns, parseName } from "./parse-name.ts";

/** The name forms a certificate from this gateway can carry: its SAN forms and the subject DN. */
export type ConstrainedNameForm = "dns" | "ip" | "email" | "uri" | "directoryName";

/** The base of one GeneralSubtree (RFC 5280 §4.2.1.10), in the form the matcher uses. */
export type GeneralSubtree =
  | { readonly form: "dns" | "email" | "uri"; readonly value: string; readonly text: string }
  /** Address and mask of equal length: 4 + 4 octets for IPv4, 16 + 16 for IPv6. */
  | { readonly form: "ip"; readonly address: Uint8Array; readonly mask: Uint8Array; readonly text: string }
  | { readonly form: "directoryName"; readonly rdns: readonly CanonicalRdn[]; readonly text: string }
  /**
   * A subtree of a form we issue that we cannot evaluate (minimum/maximum
   * present, an iPAddress that is not 8 or 32 octets, a non-ASCII IA5String):
   * every name of `appliesTo` is refused rather than guessed about.
   */
  | {
      readonly form: "unsupported";
      readonly appliesTo: ConstrainedNameForm;
      readonly text: string;
      readonly reason: string;
    }
  /**
   * otherName, x400Address, ediPartyName, registeredID: forms the gateway
   * never puts in a certificate. §4.2.1.10 applies a constraint only to names
   * of its own form, so these constrain nothing we issue; they are kept so the
   * view is complete.
   */
  | { readonly form: "other"; readonly text: string };

export interface NameConstraintsView {
  readonly critical: boolean;
  readonly permitted: readonly GeneralSubtree[];
  readonly excluded: readonly GeneralSubtree[];
}

function malformed(message: string): ChanceryError {
  return new ChanceryError("invalid_argument", `malformed nameConstraints: ${message}`);
}

/** The certificate's nameConstraints extension, parsed; undefined when it has none. */
export function readNameConstraints(extensions: readonly Extension[]): NameConstraintsView | undefined {
  const extension = extensions.find((e) => e.oid === oids.nameConstraints);
  return extension ? parseNameConstraints(extension.value, extension.critical) : undefined;
}

/**
 * NameConstraints ::= SEQUENCE { permittedSubtrees [0] GeneralSubtrees OPTIONAL,
 * excludedSubtrees [1] GeneralSubtrees OPTIONAL } (RFC 5280 §4.2.1.10).
 * Throws invalid_argument when the DER is not that shape.
 */
export function parseNameConstraints(value: Uint8Array, critical: boolean): NameConstraintsView {
  const root = readRoot(value);
  if (root.tag !== tags.sequence) throw malformed("not a SEQUENCE");
  const permitted: GeneralSubtree[] = [];
  const excluded: GeneralSubtree[] = [];
  let last = -1;
  for (const node of children(value, root)) {
    // [0] IMPLICIT and [1] IMPLICIT GeneralSubtrees, each at most once and in that order.
    const index = node.tag === 0xa0 ? 0 : node.tag === 0xa1 ? 1 : -1;
    if (index <= last) throw malformed(`unexpected element with tag 0x${node.tag.toString(16)}`);
    last = index;
    const into = index === 0 ? permitted : excluded;
    for (const subtree of children(value, node)) into.push(readSubtree(value, subtree));
  }
  return { critical, permitted, excluded };
}

/** GeneralSubtree ::= SEQUENCE { base GeneralName, minimum [0] BaseDistance DEFAULT 0, maximum [1] BaseDistance OPTIONAL } */
function readSubtree(buf: Uint8Array, node: DerNode): GeneralSubtree {
  if (node.tag !== tags.sequence) throw malformed("GeneralSubtree is not a SEQUENCE");
  const [base, ...rest] = children(buf, node);
  if (!base) throw malformed("GeneralSubtree without a base");
  const subtree = readBase(buf, base);
  for (const part of rest) {
    // §4.2.1.10: minimum MUST be zero and maximum MUST be absent. OpenSSL refuses any other
    // subtree of the same form (X509_V_ERR_SUBTREE_MINMAX), and so do we.
    if (part.tag !== 0x80 && part.tag !== 0x81) throw malformed("unexpected element in a GeneralSubtree");
    const distance = readInteger(buf, { ...part, tag: tags.integer });
    if (part.tag === 0x80 && distance === 0n) continue;
    if (subtree.form === "other" || subtree.form === "unsupported") return subtree;
    return {
      form: "unsupported",
      appliesTo: subtree.form,
      text: subtree.text,
      reason: part.tag === 0x80 ? `minimum is ${distance}, not 0` : "maximum is present",
    };
  }
  return subtree;
}

function readBase(buf: Uint8Array, node: DerNode): GeneralSubtree {
  switch (node.tag) {
    case 0x81: // rfc822Name [1] IA5String
      return readIa5Base(buf, node, "email");
    case 0x82: // dNSName [2] IA5String
      return readIa5Base(buf, node, "dns");
    case 0x86: // uniformResourceIdentifier [6] IA5String
      return readIa5Base(buf, node, "uri");
    case 0x87: {
      // iPAddress [7]: in a constraint, address followed by mask (§4.2.1.10).
      const bytes = content(buf, node);
      if (bytes.length !== 8 && bytes.length !== 32)
        return {
          form: "unsupported",
          appliesTo: "ip",
          text: `#${Buffer.from(bytes).toString("hex")}`,
          reason: `an iPAddress constraint of ${bytes.length} octets (expected 8 or 32)`,
        };
      const half = bytes.length / 2;
      return {
        form: "ip",
        address: bytes.slice(0, half),
        mask: bytes.slice(half),
        text: formatCidr(bytes),
      };
    }
    case 0xa4: {
      // directoryName [4] EXPLICIT Name
      const [name, extra] = children(buf, node);
      if (!name || extra) throw malformed("directoryName does not hold exactly one Name");
      return { form: "directoryName", rdns: canonicalRdns(buf, name), text: parseName(buf, name).text };
    }
    case 0xa0:
      return { form: "other", text: "otherName" };
    case 0xa3:
      return { form: "other", text: "x400Address" };
    case 0xa5:
      return { form: "other", text: "ediPartyName" };
    case 0x88:
      return { form: "other", text: "registeredID" };
    default:
      throw malformed(`GeneralName with tag 0x${node.tag.toString(16)}`);
  }
}

function readIa5Base(buf: Uint8Array, node: DerNode, form: "dns" | "email" | "uri"): GeneralSubtree {
  try {
    const value = readString(buf, { ...node, tag: 0x16 });
    return { form, value, text: value };
  } catch {
    return {
      form: "unsupported",
      appliesTo: form,
      text: `#${Buffer.from(content(buf, node)).toString("hex")}`,
      reason: "the constraint is not an ASCII IA5String",
    };
  }
}
