import { describe, expect, it } from "vitest";
import { ChanceryError } from "../errors.ts";
import { parseCsr } from "../x509/parse-csr.ts";
import { opensslCsr } from "../x509/testing/openssl.ts";
import { normalizeBoundSans, normalizeBoundSubject, parseRfc4514, sansMatch, subjectMatches } from "./name-binding.ts";

function refusal(run: () => unknown): ChanceryError {
  try {
    run();
  } catch (err) {
    if (err instanceof ChanceryError) return err;
    throw err;
  }
  throw new Error("expected a ChanceryError");
}

describe("one-time challenge bindings", () => {
  it("reads RFC 4514 strings: escapes, hex pairs, multi-valued RDNs, OIDs and #hex values", () => {
    expect(parseRfc4514("CN=Smith\\, John+UID=jsmith,O=Example\\2B Co,C=GB")).toEqual([
      [
        { type: "CN", oid: "2.5.4.3", value: { text: "Smith, John" } },
        { type: "UID", oid: "0.9.2342.19200300.100.1.1", value: { text: "jsmith" } },
      ],
      [{ type: "O", oid: "2.5.4.10", value: { text: "Example+ Co" } }],
      [{ type: "C", oid: "2.5.4.6", value: { text: "GB" } }],
    ]);
    // RFC 4514 §4 examples: UTF-8 in hex pairs, and a #hex BER value.
    expect(parseRfc4514("CN=Lu\\C4\\8Di\\C4\\87")[0]![0]!.value).toEqual({ text: "Lučić" });
    expect(parseRfc4514("1.3.6.1.4.1.1466.0=#04024869,O=Test")[0]![0]).toMatchObject({
      type: "1.3.6.1.4.1.1466.0",
      value: { ber: Buffer.from([0x04, 0x02, 0x48, 0x69]) },
    });
    // Lenient with hand-typed spacing and case; escaped outer spaces are kept.
    expect(parseRfc4514(" cn = device-42 , o=Example ")).toEqual(parseRfc4514("CN=device-42,O=Example"));
    expect(parseRfc4514("CN=\\ padded\\ ")[0]![0]!.value).toEqual({ text: " padded " });
    expect(parseRfc4514("OID.2.5.4.3=x")[0]![0]!.type).toBe("CN");
    expect(parseRfc4514("")).toEqual([]);
    for (const bad of ["CN", "XX=1", "CN=a\\", "CN=\\zz", "CN=#12G4", "CN=#0c02", "CN=\\C4"])
      expect(refusal(() => parseRfc4514(bad)).message, bad).toMatch(/^bound_subject:/);
  });

  it("normalises a bound subject to one canonical form", () => {
    expect(normalizeBoundSubject("cn=device-42, o=Example\\, Inc., 2.5.4.6=GB")).toBe(
      "CN=device-42,O=Example\\, Inc.,C=GB",
    );
    expect(normalizeBoundSubject("   ")).toBeNull();
    expect(normalizeBoundSubject(undefined)).toBeNull();
    expect(refusal(() => normalizeBoundSubject("C=GBR")).message).toMatch(/two-letter/);
  });

  it("matches a CSR's subject as RFC 5280 compares names", () => {
    const csr = parseCsr(opensslCsr({ subject: "/C=GB/O=Example, Inc./OU=Devices+L=Leeds/CN=Device  42" }));
    expect(csr.subjectString).toBe("CN=Device  42,L=Leeds+OU=Devices,O=Example\\, Inc.,C=GB");
    // Members of a multi-valued RDN in another order, other case and spacing: the same name.
    const bound = normalizeBoundSubject("CN=device 42, OU=devices+L=leeds, O=Example\\, Inc., C=GB")!;
    expect(subjectMatches(bound, csr.subjectString)).toBe(true);
    // Order of RDNs matters (it is another name); a missing or extra attribute does not match.
    expect(
      subjectMatches(
        normalizeBoundSubject("C=GB,O=Example\\, Inc.,OU=Devices+L=Leeds,CN=Device 42")!,
        csr.subjectString,
      ),
    ).toBe(false);
    expect(subjectMatches(normalizeBoundSubject("CN=Device 42,O=Example\\, Inc.,C=GB")!, csr.subjectString)).toBe(
      false,
    );
    expect(
      subjectMatches(
        normalizeBoundSubject("CN=Device 43,OU=Devices+L=Leeds,O=Example\\, Inc.,C=GB")!,
        csr.subjectString,
      ),
    ).toBe(false);
    expect(subjectMatches("CN=a", "not a subject")).toBe(false);
  });

  it("matches an attribute known only by OID, written as #hex by the CSR parser", () => {
    // description (2.5.4.13) is known to openssl, not to name.ts.
    const csr = parseCsr(opensslCsr({ subject: "/CN=dev/description=tag-7" }));
    expect(csr.subjectString).toMatch(/^2\.5\.4\.13=#/);
    expect(subjectMatches(normalizeBoundSubject("2.5.4.13=tag-7,CN=dev")!, csr.subjectString)).toBe(true);
    expect(subjectMatches(normalizeBoundSubject("2.5.4.13=TAG-7,CN=dev")!, csr.subjectString)).toBe(true);
    expect(subjectMatches(normalizeBoundSubject("2.5.4.13=tag-8,CN=dev")!, csr.subjectString)).toBe(false);
  });

  it("normalises bound SANs and compares them with the CSR's as sets", () => {
    const bound = normalizeBoundSans([
      "DNS:Device-42.Example.COM",
      "ip:2001:DB8:0:0::1",
      "email:Ops@Example.com",
      "uri:urn:device:42",
      "dns:device-42.example.com",
    ])!;
    expect(bound).toEqual([
      "dns:device-42.example.com",
      "email:Ops@example.com",
      "ip:2001:db8::1",
      "uri:urn:device:42",
    ]);
    const csr = ["uri:urn:device:42", "ip:2001:db8::1", "dns:DEVICE-42.example.com", "email:Ops@EXAMPLE.com"];
    expect(sansMatch(bound, csr)).toBe(true);
    expect(sansMatch(bound, csr.slice(1))).toBe(false);
    expect(sansMatch(bound, [...csr, "dns:other.example.com"])).toBe(false);
    expect(sansMatch(bound, [...csr.slice(1), "other:dirName:CN=x"])).toBe(false);
    // The local part of a mailbox is case-sensitive (RFC 5321 §2.4).
    expect(sansMatch(bound, [...csr.slice(0, 3), "email:ops@example.com"])).toBe(false);
    expect(normalizeBoundSans([])).toBeNull();
    expect(normalizeBoundSans(undefined)).toBeNull();
    for (const bad of ["device.example.com", "smtp:x@example.com", "ip:300.1.1.1", "dns:bad..name", "email:nobody"])
      expect(refusal(() => normalizeBoundSans([bad])).message, bad).toMatch(/^bound_sans:/);
  });
});
