import { describe, expect, it } from "vitest";
import { isChanceryError } from "../errors.ts";
import { contextConstructed, contextPrimitive, derInteger, ia5Tagged, sequence, tlv } from "./der-writer.ts";
import { nameConstraintsExtension } from "./extensions.ts";
import { encodeName } from "./name.ts";
import { oids } from "./oids.ts";
import { parseNameConstraints, readNameConstraints } from "./parse-name-constraints.ts";

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

/** [n] IMPLICIT GeneralSubtrees around already-encoded GeneralSubtree SEQUENCEs. */
function subtrees(n: number, parts: Uint8Array[]): Uint8Array {
  return tlv(contextConstructed(n), Buffer.concat(parts));
}

describe("parseNameConstraints", () => {
  it("reads back every form our encoder writes", () => {
    const extension = nameConstraintsExtension({
      permitted: {
        dns: ["example.com", ".example.org"],
        ip: ["10.0.0.0/8", "2001:db8::/32"],
        email: ["example.com"],
        uri: [".example.com"],
      },
      excluded: { dns: ["secret.example.com"], ip: ["10.9.0.0/16"], email: ["root@example.com"] },
    });
    const view = readNameConstraints([
      { oid: "2.5.29.19", critical: true, value: new Uint8Array([0x30, 0]) },
      extension,
    ]);
    expect(view?.critical).toBe(true);
    expect(view?.permitted.map((s) => [s.form, s.text])).toEqual([
      ["dns", "example.com"],
      ["dns", ".example.org"],
      ["ip", "10.0.0.0/8"],
      ["ip", "2001:db8::/32"],
      ["email", "example.com"],
      ["uri", ".example.com"],
    ]);
    expect(view?.excluded.map((s) => [s.form, s.text])).toEqual([
      ["dns", "secret.example.com"],
      ["ip", "10.9.0.0/16"],
      ["email", "root@example.com"],
    ]);
    const v6 = view!.permitted[3]!;
    expect(v6.form === "ip" && [hex(v6.address), hex(v6.mask)]).toEqual([
      "20010db8000000000000000000000000",
      "ffffffff000000000000000000000000",
    ]);
  });

  it("is undefined for a certificate without the extension", () => {
    expect(readNameConstraints([])).toBeUndefined();
  });

  it("keeps the criticality as given", () => {
    const { value } = nameConstraintsExtension({ excluded: { dns: ["example.com"] } });
    const view = parseNameConstraints(value, false);
    expect([view.critical, view.permitted.length, view.excluded.length]).toEqual([false, 0, 1]);
  });

  it("reads a directoryName subtree into comparable RDNs and RFC 4514 text", () => {
    const name = encodeName([
      { type: "C", value: "US" },
      { type: "O", value: "Example  Corp" },
    ]);
    const value = sequence([subtrees(0, [sequence([tlv(contextConstructed(4), name)])])]);
    const [subtree] = parseNameConstraints(value, true).permitted;
    expect(subtree?.form).toBe("directoryName");
    if (subtree?.form !== "directoryName") return;
    expect(subtree.text).toBe("O=Example  Corp,C=US");
    expect(subtree.rdns).toEqual([[`${"2.5.4.6"}\u0000sus`], [`${"2.5.4.10"}\u0000sexample corp`]]);
  });

  it("marks a subtree with minimum or maximum unsupported for its form, but tolerates minimum 0", () => {
    const dns = ia5Tagged(contextPrimitive(2), "example.com");
    const min = (n: number) => tlv(contextPrimitive(0), derInteger(n).subarray(2));
    const max = (n: number) => tlv(contextPrimitive(1), derInteger(n).subarray(2));
    const value = sequence([subtrees(0, [sequence([dns, min(0)]), sequence([dns, min(1)]), sequence([dns, max(2)])])]);
    const [zero, one, two] = parseNameConstraints(value, true).permitted;
    expect(zero).toEqual({ form: "dns", value: "example.com", text: "example.com" });
    expect(one).toMatchObject({ form: "unsupported", appliesTo: "dns", reason: "minimum is 1, not 0" });
    expect(two).toMatchObject({ form: "unsupported", appliesTo: "dns", reason: "maximum is present" });
  });

  it("marks an iPAddress constraint that is not 8 or 32 octets unsupported for ip names", () => {
    const value = sequence([subtrees(1, [sequence([tlv(contextPrimitive(7), Uint8Array.of(10, 0, 0, 0))])])]);
    expect(parseNameConstraints(value, true).excluded[0]).toMatchObject({ form: "unsupported", appliesTo: "ip" });
  });

  it("marks a non-ASCII IA5String unsupported for its form", () => {
    const value = sequence([subtrees(0, [sequence([tlv(contextPrimitive(2), Uint8Array.of(0x65, 0xe9))])])]);
    expect(parseNameConstraints(value, true).permitted[0]).toMatchObject({ form: "unsupported", appliesTo: "dns" });
  });

  it("records forms the gateway never issues as other", () => {
    const registeredId = tlv(contextPrimitive(8), Uint8Array.of(0x2a, 0x03));
    const otherName = tlv(
      contextConstructed(0),
      Buffer.concat([Uint8Array.of(0x06, 0x01, 0x2a), Uint8Array.of(0xa0, 0x02, 0x05, 0x00)]),
    );
    const value = sequence([subtrees(0, [sequence([registeredId]), sequence([otherName])])]);
    expect(parseNameConstraints(value, true).permitted).toEqual([
      { form: "other", text: "registeredID" },
      { form: "other", text: "otherName" },
    ]);
  });

  it("refuses malformed DER and misordered branches with invalid_argument", () => {
    const dns = sequence([ia5Tagged(contextPrimitive(2), "example.com")]);
    const bad = [
      Uint8Array.of(0x30, 0x03, 0xa0),
      sequence([subtrees(1, [dns]), subtrees(0, [dns])]),
      sequence([subtrees(0, [dns]), subtrees(0, [dns])]),
      sequence([tlv(contextConstructed(2), dns)]),
      sequence([subtrees(0, [sequence([])])]),
      ia5Tagged(contextPrimitive(2), "x"),
    ];
    for (const value of bad) {
      let error: unknown;
      try {
        parseNameConstraints(value, true);
      } catch (err) {
        error = err;
      }
      expect(isChanceryError(error, "invalid_argument"), hex(value)).toBe(true);
    }
  });

  it("uses the OID RFC 5280 assigns", () => {
    expect(nameConstraintsExtension({ permitted: { dns: ["a.test"] } }).oid).toBe(oids.nameConstraints);
  });
});
