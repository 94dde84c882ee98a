import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { ChanceryError } from "../core/errors.ts";
import { createDefaultProfiles } from "../core/profiles/default-profiles.ts";
import { type Profile, parseProfile } from "../core/profiles/profile-schema.ts";
import { EcdsaCurve, KeyUsage, ProfileSchema } from "../gen/chancery/admin/v1/profile_pb.js";
import { applyUpdateMask } from "./field-mask.ts";
import { profileDefinitionToProto, profileInputFromProto } from "./profile-conversions.ts";

/** core → proto → wire → proto → core. */
function roundTrip(profile: Profile): Profile {
  const wire = toBinary(ProfileSchema, profileDefinitionToProto(profile));
  return parseProfile(profileInputFromProto(fromBinary(ProfileSchema, wire), profile.name));
}

/** A CA profile where every optional part of the model is present and no value is the default. */
const everything: Profile = parseProfile({
  name: "everything",
  description: "all of it",
  validity: { default: "30d", max: "60d" },
  keyAlgorithms: {
    ecdsaCurves: ["P-521"],
    rsa: { allowed: false, minBits: 3072, maxBits: 4096 },
    ed25519: false,
    ed448: true,
  },
  keyUsage: ["keyCertSign", "cRLSign", "nonRepudiation", "encipherOnly", "decipherOnly", "keyAgreement"],
  rsaKeyUsage: ["keyEncipherment", "dataEncipherment", "digitalSignature"],
  extendedKeyUsage: ["OCSPSigning", "1.3.6.1.4.1.99999.7"],
  basicConstraints: { ca: true, pathLen: 3 },
  nameConstraints: { permitted: { dns: ["corp.example"], ip: ["10.0.0.0/8"] }, excluded: { email: ["bad.example"] } },
  san: {
    allowedTypes: ["email", "uri"],
    patterns: { email: [".*@corp\\.example"], uri: ["urn:.*"] },
    required: true,
    maxCount: 3,
    allowWildcard: true,
  },
  subject: { keep: ["CN", "1.2.3.4.5"], required: ["1.2.3.4.5"], commonNameMustBeSan: true },
  certificatePolicies: [{ oid: "1.3.6.1.4.1.99999.1", cpsUri: "https://cps.example/", userNotice: "notice" }],
  customExtensions: [{ oid: "1.3.6.1.4.1.99999.9", critical: true, valueBase64: "BQA=" }],
  ocspMustStaple: true,
  revocationInfo: { crlDistributionPoint: false, ocsp: true, caIssuers: false },
  shortLived: { thresholdSeconds: "2d", noRevAvail: false },
  requiresApproval: { required: true, approvers: 10 },
  backdateSeconds: 0,
  renewalWindow: { start: 0.5, end: 0.75 },
});

describe("profile conversions", () => {
  it.each(createDefaultProfiles().map((p) => [p.name, p] as const))(
    "%s: core → proto → core is the same profile",
    (_, profile) => {
      expect(roundTrip(profile)).toEqual(profile);
    },
  );

  it("round-trips a profile with every optional part present and nothing at its default", () => {
    expect(roundTrip(everything)).toEqual(everything);
  });

  it("maps enums both ways", () => {
    const proto = profileDefinitionToProto(everything);
    expect(proto.keyAlgorithms?.ecdsaCurves).toEqual([EcdsaCurve.P521]);
    expect(proto.keyUsage).toEqual([
      KeyUsage.KEY_CERT_SIGN,
      KeyUsage.CRL_SIGN,
      KeyUsage.NON_REPUDIATION,
      KeyUsage.ENCIPHER_ONLY,
      KeyUsage.DECIPHER_ONLY,
      KeyUsage.KEY_AGREEMENT,
    ]);
    expect(proto.customExtensions[0]?.value).toEqual(new Uint8Array([5, 0]));
  });

  it("refuses unset and unknown enum values and fractional durations, naming the field", () => {
    const proto = profileDefinitionToProto(everything);
    const refused = (change: (p: typeof proto) => void) => {
      const copy = fromBinary(ProfileSchema, toBinary(ProfileSchema, proto));
      change(copy);
      try {
        profileInputFromProto(copy, "everything");
      } catch (err) {
        expect(err).toBeInstanceOf(ChanceryError);
        expect((err as ChanceryError).code).toBe("invalid_argument");
        return (err as ChanceryError).message;
      }
      throw new Error("accepted");
    };
    expect(refused((p) => p.keyUsage.push(KeyUsage.UNSPECIFIED))).toContain("keyUsage.6: must be set");
    expect(refused((p) => p.rsaKeyUsage.push(99 as KeyUsage))).toContain("rsaKeyUsage.3: must be set");
    expect(refused((p) => p.keyAlgorithms!.ecdsaCurves.push(EcdsaCurve.UNSPECIFIED))).toContain(
      "keyAlgorithms.ecdsaCurves.1",
    );
    expect(refused((p) => (p.backdate!.nanos = 1))).toContain("backdate: must be a whole");
    expect(refused((p) => (p.shortLived!.threshold!.seconds = -1n))).toContain("shortLived.threshold: must be a whole");
  });

  it("maps the renewal window, and leaves an unset bound to its default", () => {
    expect(profileDefinitionToProto(everything).renewalWindow).toMatchObject({ start: 0.5, end: 0.75 });
    const proto = profileDefinitionToProto(everything);
    proto.renewalWindow = create(ProfileSchema, { renewalWindow: { end: 0.95 } }).renewalWindow;
    expect(parseProfile(profileInputFromProto(proto, "everything")).renewalWindow).toEqual({ start: 2 / 3, end: 0.95 });
  });

  it("refuses a renewal window out of order or outside (0, 1), naming the field", () => {
    const refused = (renewalWindow: { start?: number; end?: number }) => {
      const proto = profileDefinitionToProto(everything);
      proto.renewalWindow = create(ProfileSchema, { renewalWindow }).renewalWindow;
      try {
        parseProfile(profileInputFromProto(proto, "everything"));
      } catch (err) {
        expect((err as ChanceryError).code).toBe("invalid_argument");
        return (err as ChanceryError).message;
      }
      throw new Error("accepted");
    };
    expect(refused({ start: 0.8, end: 0.8 })).toContain("renewalWindow.start: must be before renewalWindow.end");
    expect(refused({ start: 0.95 })).toContain("renewalWindow.start: must be before renewalWindow.end");
    expect(refused({ start: 0 })).toContain("renewalWindow.start");
    expect(refused({ end: 1 })).toContain("renewalWindow.end");
    expect(refused({ start: -0.1, end: 0.5 })).toContain("renewalWindow.start");
    expect(refused({ start: Number.NaN })).toContain("renewalWindow.start");
  });

  it("leaves unset messages and optional fields to the core defaults", () => {
    const input = profileInputFromProto(
      create(ProfileSchema, { validity: { default: { seconds: 60n }, max: { seconds: 120n } } }),
      "bare",
    );
    expect(parseProfile(input)).toEqual(parseProfile({ name: "bare", validity: { default: 60, max: 120 } }));
  });
});

describe("update masks", () => {
  const current = profileDefinitionToProto(everything);

  it("replaces nested fields and clears what the patch leaves unset", () => {
    const patch = create(ProfileSchema, { keyAlgorithms: { rsa: { minBits: 2048 } }, description: "new" });
    const merged = applyUpdateMask(
      ProfileSchema,
      current,
      patch,
      ["key_algorithms.rsa.min_bits", "key_algorithms.rsa.max_bits", "description", "san.patterns"],
      ["name"],
    );
    expect(merged.keyAlgorithms?.rsa).toMatchObject({ allowed: false, minBits: 2048, maxBits: undefined });
    expect(merged.keyAlgorithms?.ecdsaCurves).toEqual([EcdsaCurve.P521]);
    expect(merged.description).toBe("new");
    expect(merged.san?.patterns).toBeUndefined();
    expect(merged.san?.maxCount).toBe(3);
    // The input messages are left alone.
    expect(current.description).toBe("all of it");
    expect(current.keyAlgorithms?.rsa?.minBits).toBe(3072);
  });

  it("creates a message the current value lacks when a path goes into it", () => {
    const patch = create(ProfileSchema, { nameConstraints: { permittedDns: ["x.example"] } });
    const bare = create(ProfileSchema, { name: "profiles/x" });
    const merged = applyUpdateMask(ProfileSchema, bare, patch, ["name_constraints.permitted_dns"], ["name"]);
    expect(merged.nameConstraints?.permittedDns).toEqual(["x.example"]);
  });
});
