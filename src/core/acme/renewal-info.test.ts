import { afterAll, describe, expect, it } from "vitest";
import { defaultRenewalWindow } from "../profiles/profile-schema.ts";
import { readCertificate } from "../x509/parse-certificate.ts";
import { pemDecode } from "../x509/pem.ts";
import { createScratchDir, openssl } from "../x509/testing/openssl.ts";
import {
  ariCertId,
  ariCertIdOf,
  authorityKeyIdentifierOf,
  parseAriCertId,
  renewalInfoRetryAfterSeconds,
  suggestedWindow,
} from "./renewal-info.ts";

// RFC 9773 §4.1 worked example: AKI keyIdentifier 69:88:5B:...:C8:D4 and serial 0x87654321
// (top bit set, so its DER content is 00 87 65 43 21).
const exampleAki = Buffer.from("69885b6b87464041e1b37b847ba0ae2cde01c8d4", "hex");
const exampleCertId = "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE";

describe("ARI certID (RFC 9773 §4.1)", () => {
  it("matches the RFC example, whose serial needs a 0x00 sign octet", () => {
    expect(ariCertId(exampleAki, "87654321")).toBe(exampleCertId);
    expect(parseAriCertId(exampleCertId)).toEqual({ keyIdentifier: exampleAki, serialHex: "87654321" });
  });

  it("encodes a serial without the top bit as is, and normalises the stored hex", () => {
    const aki = Buffer.alloc(20, 0xab);
    expect(ariCertId(aki, "7f01")).toBe(`${aki.toString("base64url")}.fwE`);
    expect(ariCertId(aki, "00007F01")).toBe(`${aki.toString("base64url")}.fwE`);
    expect(ariCertId(aki, "1")).toBe(`${aki.toString("base64url")}.AQ`);
    expect(parseAriCertId(`${aki.toString("base64url")}.fwE`)).toEqual({ keyIdentifier: aki, serialHex: "7f01" });
    expect(() => ariCertId(aki, "00")).toThrow(RangeError);
    expect(() => ariCertId(aki, "xyz")).toThrow(RangeError);
    expect(() => ariCertId(new Uint8Array(), "01")).toThrow(RangeError);
  });

  it("refuses malformed certIDs", () => {
    for (const text of [
      "",
      ".",
      "aYhba4dGQEHhs3uEe6CuLN4ByNQ",
      ".AIdlQyE",
      "aYhba4dGQEHhs3uEe6CuLN4ByNQ.",
      "aYhba4dGQEHhs3uEe6CuLN4ByNQ=.AIdlQyE",
      "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE=",
      "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdl+yE",
      "aYhba4dGQEHhs3uEe6CuLN4ByN/.AIdlQyE",
      "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE.AQ",
      "aYhba4dGQEHhs3uEe6CuLN4ByNQ .AIdlQyE",
      "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyF", // non-zero trailing bits: not canonical
      "aYhba4dGQEHhs3uEe6CuLN4ByNQ.A", // a length no base64 has
      "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AA", // zero
      "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AAE", // 00 01: not minimal
      "aYhba4dGQEHhs3uEe6CuLN4ByNQ.h2VDIQ", // 87 65 43 21 without its sign octet: negative
      "aYhba4dGQEHhs3uEe6CuLN4ByNQ.gA", // 0x80: negative
      `aYhba4dGQEHhs3uEe6CuLN4ByNQ.${Buffer.alloc(21, 1).toString("base64url")}`, // over 20 octets
      `${Buffer.alloc(65, 1).toString("base64url")}.AQ`,
    ])
      expect(parseAriCertId(text), text).toBeNull();
  });

  describe("from a certificate made by openssl", () => {
    const scratch = createScratchDir();
    afterAll(() => scratch.cleanup());

    it("reads the AKI keyIdentifier and keeps the serial's sign octet, as openssl sees them", () => {
      const caKey = scratch.file("ca.key", "");
      const caPem = scratch.file("ca.pem", "");
      const leafKey = scratch.file("leaf.key", "");
      const csr = scratch.file("leaf.csr", "");
      const leafPem = scratch.file("leaf.pem", "");
      const ext = scratch.file("ext.cnf", "authorityKeyIdentifier=keyid:always\n");
      const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
      expect(
        openssl(["req", "-x509", ...ec, "-keyout", caKey, "-out", caPem, "-subj", "/CN=ARI CA", "-days", "2"]).ok,
      ).toBe(true);
      expect(openssl(["req", "-new", ...ec, "-keyout", leafKey, "-out", csr, "-subj", "/CN=leaf"]).ok).toBe(true);
      const signed = openssl([
        "x509",
        "-req",
        "-in",
        csr,
        "-CA",
        caPem,
        "-CAkey",
        caKey,
        "-set_serial",
        "0x80aabb",
        "-days",
        "1",
        "-extfile",
        ext,
        "-out",
        leafPem,
      ]);
      expect(signed.ok, signed.stderr).toBe(true);
      const text = openssl(["x509", "-in", leafPem, "-noout", "-ext", "authorityKeyIdentifier"]).stdout;
      const akiHex = /([0-9A-F]{2}(?::[0-9A-F]{2})+)/.exec(text)![1]!.replaceAll(":", "").toLowerCase();

      const view = readCertificate(pemDecode(openssl(["x509", "-in", leafPem]).stdout, ["CERTIFICATE"]));
      expect(Buffer.from(authorityKeyIdentifierOf(view)!).toString("hex")).toBe(akiHex);
      expect(ariCertIdOf(view)).toBe(`${Buffer.from(akiHex, "hex").toString("base64url")}.AICquw`);
      const ca = readCertificate(pemDecode(openssl(["x509", "-in", caPem]).stdout, ["CERTIFICATE"]));
      // openssl req -x509 puts an AKI on its self-signed root too: the root's own SKI.
      expect(authorityKeyIdentifierOf(ca)).toEqual(ca.subjectKeyIdentifier);
    });
  });
});

describe("suggested renewal window (RFC 9773 §4.2)", () => {
  const notBefore = new Date("2030-01-01T00:00:00Z");
  const notAfter = new Date("2030-01-31T00:00:00Z"); // 30 days

  it("spans the default 2/3 to 90% of the lifetime, on whole seconds", () => {
    const window = suggestedWindow({
      notBefore,
      notAfter,
      revoked: false,
      now: notBefore,
      window: defaultRenewalWindow,
    });
    expect(window).toEqual({ start: new Date("2030-01-21T00:00:00Z"), end: new Date("2030-01-28T00:00:00Z") });
  });

  it("follows a profile's fractions, rounding down to the second", () => {
    const window = suggestedWindow({
      notBefore,
      notAfter: new Date(notBefore.getTime() + 100_000), // 100 s
      revoked: false,
      now: notBefore,
      window: { start: 0.333, end: 0.5 },
    });
    expect(window).toEqual({
      start: new Date(notBefore.getTime() + 33_000),
      end: new Date(notBefore.getTime() + 50_000),
    });
  });

  it("keeps the end after the start on a lifetime of a second", () => {
    const window = suggestedWindow({
      notBefore,
      notAfter: new Date(notBefore.getTime() + 1000),
      revoked: false,
      now: notBefore,
      window: { start: 0.5, end: 0.6 },
    });
    expect(window.end.getTime()).toBeGreaterThan(window.start.getTime());
  });

  it("puts a revoked certificate's window entirely in the past, so clients renew at once", () => {
    const now = new Date("2030-01-05T12:34:56.789Z");
    const window = suggestedWindow({ notBefore, notAfter, revoked: true, now, window: defaultRenewalWindow });
    expect(window.end.getTime()).toBeLessThan(now.getTime());
    expect(window.start.getTime()).toBeLessThan(window.end.getTime());
    expect(window.start.getMilliseconds()).toBe(0);
  });

  it("refuses a bad window or lifetime", () => {
    const base = { notBefore, notAfter, revoked: false, now: notBefore };
    for (const window of [
      { start: 0, end: 0.5 },
      { start: 0.5, end: 0.5 },
      { start: 0.6, end: 0.5 },
      { start: 0.5, end: 1 },
    ])
      expect(() => suggestedWindow({ ...base, window })).toThrow(RangeError);
    expect(() => suggestedWindow({ ...base, notAfter: notBefore, window: defaultRenewalWindow })).toThrow(RangeError);
  });

  it("asks clients to check again in six hours, inside the range RFC 9773 §4.3 tells them to accept", () => {
    expect(renewalInfoRetryAfterSeconds).toBe(21_600);
    expect(renewalInfoRetryAfterSeconds).toBeGreaterThanOrEqual(60);
    expect(renewalInfoRetryAfterSeconds).toBeLessThanOrEqual(86_400);
  });
});
