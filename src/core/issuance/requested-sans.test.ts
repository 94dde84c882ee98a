import { describe, expect, it } from "vitest";
import { ChanceryError } from "../errors.ts";
import { builtinOtherNameIds, otherNameIdsOf, otherNameNamer } from "../registry/other-name-ids.ts";
import { subjectAltNameKey } from "../x509/general-name.ts";
import { oids } from "../x509/oids.ts";
import { parseCsr } from "../x509/parse-csr.ts";
import { opensslCsr } from "../x509/testing/openssl.ts";
import { normalizeBoundSans, sansMatch } from "./name-binding.ts";
import { csrSans, sameSans, sanOf, sanText } from "./requested-sans.ts";

const upnOid = oids.microsoftUpn;
const employeeOid = "1.3.6.1.4.1.99999.7";

/** The registry as a gateway with one custom otherName entry (and a custom one for the UPN OID) sees it. */
const registered = otherNameIdsOf([
  { id: "upn", oid: upnOid, placement: "san_other_name" },
  { id: "dns", oid: "", placement: "general_name" },
  { id: "employee-id", oid: employeeOid, placement: "san_other_name" },
  { id: "upn-corp", oid: upnOid, placement: "san_other_name" },
  { id: "employee-attr", oid: employeeOid, placement: "subject_attribute" },
]);

const csr = parseCsr(
  opensslCsr({
    subject: "/CN=alice",
    sans: [
      `otherName:${upnOid};UTF8:Alice@Example.com`,
      `otherName:${employeeOid};PRINTABLESTRING:E-1234`,
      "otherName:1.2.3.4;UTF8:nobody-registered-this",
      "otherName:1.2.3.5;INTEGER:7",
      "DNS:Alice-Laptop.Example.com",
      "IP:192.0.2.7",
    ].join(","),
  }),
);

describe("the registry's otherName ids", () => {
  it("are the san_other_name entries by OID, built-in first", () => {
    expect(builtinOtherNameIds).toEqual(new Map([[upnOid, ["upn"]]]));
    expect(registered).toEqual(
      new Map([
        [upnOid, ["upn", "upn-corp"]],
        [employeeOid, ["employee-id"]],
      ]),
    );
  });

  it("name an OID by the entry the profile allows, else by its first entry, else not at all", () => {
    expect(otherNameNamer(registered, [])(upnOid)).toBe("upn");
    expect(otherNameNamer(registered, ["upn-corp"])(upnOid)).toBe("upn-corp");
    expect(otherNameNamer(registered, ["upn", "upn-corp"])(upnOid)).toBe("upn");
    expect(otherNameNamer(registered, ["upn"])(employeeOid)).toBe("employee-id");
    expect(otherNameNamer(registered, ["upn"])("1.2.3.4")).toBeUndefined();
  });
});

describe("csrSans", () => {
  it("writes registered otherNames as otherName:<id>:<value>, exact, and leaves unregistered ones out", () => {
    expect(csrSans(csr, otherNameNamer(registered, ["upn"]))).toEqual([
      "otherName:upn:Alice@Example.com",
      "otherName:employee-id:E-1234",
      "dns:alice-laptop.example.com",
      "ip:192.0.2.7",
    ]);
    expect(csrSans(csr, otherNameNamer(registered, ["upn-corp"]))[0]).toBe("otherName:upn-corp:Alice@Example.com");
    // Built-ins only (no custom entries stored), and a namer that knows nothing.
    expect(csrSans(csr, otherNameNamer(builtinOtherNameIds, []))).toEqual([
      "otherName:upn:Alice@Example.com",
      "dns:alice-laptop.example.com",
      "ip:192.0.2.7",
    ]);
    expect(csrSans(csr, () => undefined)).toEqual(["dns:alice-laptop.example.com", "ip:192.0.2.7"]);
  });

  it("round-trips through sanOf into the issuance core's form, whose key is the same text", () => {
    const texts = csrSans(csr, otherNameNamer(registered, ["upn"]));
    const sans = texts.map(sanOf);
    expect(sans).toEqual([
      { type: "otherName", name: "upn", value: "Alice@Example.com" },
      { type: "otherName", name: "employee-id", value: "E-1234" },
      { type: "dns", value: "alice-laptop.example.com" },
      { type: "ip", value: "192.0.2.7" },
    ]);
    expect(sans.map(sanText)).toEqual(texts);
    expect(sans.map(subjectAltNameKey)).toEqual(texts);
    // A value with colons keeps them; the id ends at the first.
    expect(sanOf("otherName:upn:a:b@example.com")).toEqual({
      type: "otherName",
      name: "upn",
      value: "a:b@example.com",
    });
  });
});

describe("sameSans (EST re-enrollment)", () => {
  const issued = [
    { type: "otherName" as const, name: "upn", value: "Alice@Example.com" },
    { type: "dns" as const, value: "alice-laptop.example.com" },
  ];

  it("compares otherNames too: the same UPN matches, another, a missing or an extra one does not", () => {
    expect(sameSans(issued, ["dns:alice-laptop.example.com", "otherName:upn:Alice@Example.com"])).toBe(true);
    expect(sameSans(issued, ["dns:alice-laptop.example.com", "otherName:upn:mallory@example.com"])).toBe(false);
    expect(sameSans(issued, ["dns:alice-laptop.example.com"])).toBe(false);
    expect(
      sameSans(issued, [
        "dns:alice-laptop.example.com",
        "otherName:upn:Alice@Example.com",
        "otherName:employee-id:E-1234",
      ]),
    ).toBe(false);
    expect(sameSans([issued[1]!], ["dns:alice-laptop.example.com", "otherName:upn:Alice@Example.com"])).toBe(false);
    // Issued under another registry entry for the same OID: not the same name.
    expect(sameSans(issued, ["dns:alice-laptop.example.com", "otherName:upn-corp:Alice@Example.com"])).toBe(false);
  });
});

describe("one-time secret bindings with otherNames", () => {
  function refusal(sans: string[]): ChanceryError {
    try {
      normalizeBoundSans(sans);
    } catch (err) {
      expect(err).toBeInstanceOf(ChanceryError);
      return err as ChanceryError;
    }
    throw new Error(`accepted ${sans.join(", ")}`);
  }

  it("accepts otherName:<registry id>:<value> and writes it in csrSans' form", () => {
    expect(normalizeBoundSans(["OtherName:UPN:Alice@Example.com", "DNS:Alice-Laptop.example.com"])).toEqual([
      "dns:alice-laptop.example.com",
      "otherName:upn:Alice@Example.com",
    ]);
    expect(normalizeBoundSans(["otherName:upn:a:b@example.com"])).toEqual(["otherName:upn:a:b@example.com"]);
  });

  it("refuses malformed otherName bindings with a reason", () => {
    for (const bad of [
      "otherName:alice@example.com",
      "otherName::alice@example.com",
      "otherName:1.3.6.1.4.1.311.20.2.3:alice@example.com",
      "otherName:upn:",
      `otherName:upn:${"a".repeat(1025)}`,
    ])
      expect(refusal([bad]).message, bad).toMatch(/^bound_sans: /);
    expect(refusal(["x400:whatever"]).message).toMatch(/"otherName:<registry id>:"/);
  });

  it("matches the CSR's SANs as csrSans gives them: the UPN value exactly", () => {
    const bound = normalizeBoundSans([
      "otherName:upn:Alice@Example.com",
      "otherName:employee-id:E-1234",
      "dns:alice-laptop.example.com",
      "ip:192.0.2.7",
    ])!;
    expect(sansMatch(bound, csrSans(csr, otherNameNamer(registered, ["upn"])))).toBe(true);
    // The UPN is compared exactly, and under the entry the profile names it by.
    const otherCase = normalizeBoundSans([
      "otherName:upn:alice@example.com",
      "otherName:employee-id:E-1234",
      "dns:alice-laptop.example.com",
      "ip:192.0.2.7",
    ])!;
    expect(sansMatch(otherCase, csrSans(csr, otherNameNamer(registered, ["upn"])))).toBe(false);
    expect(sansMatch(bound, csrSans(csr, otherNameNamer(registered, ["upn-corp"])))).toBe(false);
    // A binding without the UPN does not match a CSR that asks for one.
    const withoutUpn = normalizeBoundSans([
      "otherName:employee-id:E-1234",
      "dns:alice-laptop.example.com",
      "ip:192.0.2.7",
    ])!;
    expect(sansMatch(withoutUpn, csrSans(csr, otherNameNamer(registered, ["upn"])))).toBe(false);
  });
});
