import { describe, expect, it } from "vitest";
import { createDefaultProfiles } from "../profiles/default-profiles.ts";
import { parseProfile } from "../profiles/profile-schema.ts";
import { concretePolicyParts, createRegistrySnapshot, resolveProfile } from "./resolve-profile.ts";

describe("a profile allowing a custom otherName entry", () => {
  // Regression: building the certificate template read the resolved profile's policy parts against the
  // built-in registry, which failed on the custom otherName id the profile still names (by id, for policy),
  // so no certificate could be issued under such a profile.
  it("resolves, and its resolved form yields its policy parts", () => {
    const device = createDefaultProfiles().find((p) => p.name === "device")!;
    const profile = parseProfile({
      ...device,
      name: "device-ids",
      san: { ...device.san, otherNames: ["upn", "employee-id"] },
    });
    const registry = createRegistrySnapshot({
      objectIdentifiers: [
        {
          id: "employee-id",
          oid: "1.3.6.1.4.1.99999.7",
          displayName: "Employee number",
          valueType: "printableString",
          placement: "san_other_name",
          valuePattern: undefined,
          builtin: false,
          createdAt: undefined,
          updatedAt: undefined,
        },
      ],
      certificatePolicies: [],
    });
    const resolved = resolveProfile(profile, registry, "failed_precondition");
    expect([...resolved.otherNames.keys()]).toEqual(["upn", "employee-id"]);
    expect(resolved.profile.san.otherNames).toEqual(["upn", "employee-id"]);
    expect(concretePolicyParts(resolved.profile)).toEqual({ certificatePolicies: [], customExtensions: [] });
  });
});
