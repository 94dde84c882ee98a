import { describe, expect, it } from "vitest";
import { parseCaaIssueValue } from "./caa-issue-value.ts";

describe("parseCaaIssueValue (RFC 8659 §4.2)", () => {
  it("reads the issuer domain name and parameters", () => {
    const value = parseCaaIssueValue(
      "  CA.Example ; accounturi=https://ca.example/acme/acct/1 ;validationmethods = dns-01,http-01",
    );
    expect(value?.issuerDomainName).toBe("ca.example");
    expect(Object.fromEntries(value!.parameters)).toEqual({
      accounturi: ["https://ca.example/acme/acct/1"],
      validationmethods: ["dns-01,http-01"],
    });
  });

  it("reads an empty issuer domain name as no issuer", () => {
    expect(parseCaaIssueValue(";")).toEqual({ issuerDomainName: undefined, parameters: new Map() });
    expect(parseCaaIssueValue("")).toEqual({ issuerDomainName: undefined, parameters: new Map() });
    expect(parseCaaIssueValue(" ; policy=ev")?.issuerDomainName).toBeUndefined();
    // A ";" with no parameters after it is allowed by the grammar.
    expect(parseCaaIssueValue("ca.example;")?.issuerDomainName).toBe("ca.example");
  });

  it("refuses what the grammar does not allow", () => {
    for (const bad of [
      "ca..example",
      "-ca.example",
      "ca.example; a=b;",
      "ca.example; a",
      "ca.example; a=b c",
      "ca example",
    ])
      expect(parseCaaIssueValue(bad), bad).toBeUndefined();
  });

  it("keeps repeated parameters apart", () => {
    expect(parseCaaIssueValue("ca.example; accounturi=a; accounturi=b")?.parameters.get("accounturi")).toEqual([
      "a",
      "b",
    ]);
  });
});
