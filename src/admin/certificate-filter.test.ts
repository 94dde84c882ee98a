import { describe, expect, it } from "vitest";
import { isChanceryError } from "../core/errors.ts";
import { parseCertificateFilter } from "./certificate-filter.ts";

const caId = "0b6c3f4e-8a1d-4c2b-9e7f-1a2b3c4d5e6f";

function refusal(filter: string): string {
  try {
    parseCertificateFilter(filter);
  } catch (err) {
    if (isChanceryError(err, "invalid_argument")) return err.message;
    throw err;
  }
  throw new Error(`"${filter}" was accepted`);
}

describe("certificate list filter", () => {
  it("reads an empty filter as no conditions", () => {
    expect(parseCertificateFilter("")).toEqual({ notAfter: [] });
    expect(parseCertificateFilter("  \n ")).toEqual({ notAfter: [] });
  });

  it("reads every field joined by AND", () => {
    expect(
      parseCertificateFilter(
        `ca = "certificateAuthorities/${caId.toUpperCase()}" AND profile = "tls-server" AND state = "VALID" ` +
          `AND not_after < "2027-01-01T00:00:00Z" AND not_after >= "2026-01-01T01:00:00+01:00" ` +
          `AND san : "Example.com" AND requester = "user:42"`,
      ),
    ).toEqual({
      caId,
      profileName: "tls-server",
      state: "valid",
      notAfter: [
        { op: "<", at: new Date("2027-01-01T00:00:00Z") },
        { op: ">=", at: new Date("2026-01-01T00:00:00Z") },
      ],
      sanContains: "Example.com",
      requester: "user:42",
    });
  });

  it("takes the aliases, resource-name profiles, STATE_ names, escapes and no spaces", () => {
    expect(
      parseCertificateFilter(
        `certificate_authority="certificateAuthorities/${caId}" AND profile="profiles/device" AND state="STATE_EXPIRED"` +
          ` AND subject_alt_names:"a\\"b\\\\c"`,
      ),
    ).toEqual({ caId, profileName: "device", state: "expired", notAfter: [], sanContains: 'a"b\\c' });
    expect(parseCertificateFilter('not_after <= "2027-01-01T00:00:00.5Z"').notAfter).toEqual([
      { op: "<=", at: new Date("2027-01-01T00:00:00.500Z") },
    ]);
  });

  it("passes SAN text through as written, however short: *, %, _ and \\ are not wildcards", () => {
    for (const [filter, needle] of [
      ['san : "%"', "%"],
      ['san : "a_b"', "a_b"],
      ['san : "*.Example.com"', "*.Example.com"],
      ['san : "x\\\\y"', "x\\y"],
      ['san : "q"', "q"],
      ['san : " "', " "],
    ])
      expect(parseCertificateFilter(filter!).sanContains, filter).toBe(needle);
  });

  it("refuses what it does not support, saying what and where", () => {
    expect(refusal('state = "VALID" OR state = "EXPIRED"')).toMatch(/OR is not supported \(at position 17\)/);
    expect(refusal('NOT state = "VALID"')).toMatch(/NOT is not supported/);
    expect(refusal('(state = "VALID")')).toMatch(/parentheses are not supported/);
    expect(refusal('-state = "VALID"')).toMatch(/negation/);
    expect(refusal('state = "VALID" and profile = "x"')).toMatch(/write AND in upper case/);
    expect(refusal('state = "VALID" profile = "x"')).toMatch(/expected AND between terms at position 17/);
    expect(refusal('state = "VALID" AND')).toMatch(/a term must follow AND/);
    expect(refusal('subject = "CN=x"')).toMatch(/unknown field "subject"/);
    expect(refusal("state = VALID")).toMatch(/expected a double-quoted value/);
    expect(refusal('state != "VALID"')).toMatch(/state takes =, not !=/);
    expect(refusal('san = "example.com"')).toMatch(/san takes :, not =/);
    expect(refusal('not_after = "2027-01-01T00:00:00Z"')).toMatch(/not_after takes < <= > >=/);
    expect(refusal("state")).toMatch(/expected an operator after state at the end/);
    expect(refusal('state = "valid"')).toMatch(/state must be "VALID", "REVOKED" or "EXPIRED"/);
    expect(refusal('state = "VALID" AND state = "EXPIRED"')).toMatch(/state appears more than once/);
    expect(refusal('not_after < "2027-01-01T00:00:00Z" AND not_after <= "2028-01-01T00:00:00Z"')).toMatch(
      /one lower and one upper bound/,
    );
    expect(refusal('ca = "certificateAuthorities/nope"')).toMatch(/ca must be "certificateAuthorities\/\{id\}"/);
    expect(refusal(`ca = "${caId}"`)).toMatch(/ca must be/);
    expect(refusal('profile = "profiles/a/b"')).toMatch(/profile must be/);
    expect(refusal('san : ""')).toMatch(/san needs a non-empty value/);
    expect(refusal('requester = ""')).toMatch(/requester needs a non-empty value/);
    expect(refusal('san : "abc')).toMatch(/not closed/);
    expect(refusal('san : "a\\nb"')).toMatch(/only \\" and \\\\ may be escaped/);
    expect(refusal('san : "x" AND requester = "y" AND #')).toMatch(/unexpected "#"/);
    expect(refusal(`san : "${"x".repeat(2100)}"`)).toMatch(/longer than 2048/);
  });

  it("refuses times that are not RFC 3339 or do not exist, instead of rolling them over", () => {
    for (const time of [
      "2027-02-30T00:00:00Z",
      "2027-13-01T00:00:00Z",
      "2027-01-01T24:00:00Z",
      "2027-01-01T00:60:00Z",
      "2027-01-01",
      "2027-01-01T00:00:00",
      "2027-01-01 00:00:00Z",
      "2027-01-01T00:00:00+24:00",
      "tomorrow",
    ])
      expect(refusal(`not_after < "${time}"`)).toMatch(/RFC 3339/);
  });
});
