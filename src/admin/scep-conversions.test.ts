import { generateKeyPairSync } from "node:crypto";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { expectInvalidArgument } from "../../test/support/refusal.ts";
import { ChanceryError } from "../core/errors.ts";
import type { ScepEndpoint as CoreScepEndpoint } from "../core/scep/scep-types.ts";
import {
  ScepEndpoint_CaCertificateMode,
  ScepEndpoint_ChallengeMode,
  ScepEndpointSchema,
} from "../gen/chancery/admin/v1/scep_pb.js";
import { secretErrorFields } from "./enrollment-secret-conversions.ts";
import { applyUpdateMask } from "./field-mask.ts";
import {
  endpointChangeFromProto,
  endpointErrorFields,
  endpointToProto,
  immutableEndpointFields,
  newEndpointFromProto,
  withApiFieldName,
} from "./scep-conversions.ts";

const caId = "5d0b0f4e-2c1a-4c7e-9a55-0c3b2f6a1d10";
const nextCaId = "7e1c2a3b-4d5e-4f60-8a71-92b3c4d5e6f7";

const intuneEndpoint: CoreScepEndpoint = {
  id: "11111111-2222-4333-8444-555555555555",
  name: "intune-devices",
  caId,
  profileName: "device",
  challengeMode: "intune",
  intune: {
    tenant: "contoso.onmicrosoft.com",
    clientId: "c1d2",
    providerNameAndVersion: "Chancery/0.1",
    authorityUrl: "https://login.microsoftonline.com",
    graphUrl: "https://graph.microsoft.com",
    intuneResourceUrl: "https://api.manage.microsoft.com/",
  },
  webhook: null,
  challengeLifetimeSeconds: 900,
  caCertificateMode: "ca",
  nextCaId,
  legacyCrypto: true,
  renewalAllowed: false,
  enabled: false,
  createdAt: new Date("2025-01-02T03:04:05Z"),
  updatedAt: new Date("2025-01-03T03:04:05Z"),
};

/** The UpdateScepEndpoint path: current resource, patch and mask merged, then the core change. */
function change(
  current: CoreScepEndpoint,
  patch: Parameters<typeof create<typeof ScepEndpointSchema>>[1],
  mask: string[],
) {
  const merged = applyUpdateMask(
    ScepEndpointSchema,
    endpointToProto(current, "https://scep.example", null),
    create(ScepEndpointSchema, patch),
    mask,
    immutableEndpointFields,
  );
  return endpointChangeFromProto(merged, mask);
}

describe("SCEP endpoint conversions", () => {
  it("shows an endpoint with its URL, settings and RA certificate, and survives the wire", () => {
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const proto = endpointToProto(intuneEndpoint, "https://scep.example:8080/", {
      id: "ra-1",
      endpointId: intuneEndpoint.id,
      serialHex: "0a1b",
      certificateDer: Buffer.from([0x30, 0x03, 0x02, 0x01, 0x01]),
      privateKey,
      notBefore: new Date("2025-01-01T00:00:00Z"),
      notAfter: new Date("2026-01-01T00:00:00Z"),
    });
    const back = fromBinary(ScepEndpointSchema, toBinary(ScepEndpointSchema, proto));
    expect(back).toMatchObject({
      name: `scepEndpoints/${intuneEndpoint.id}`,
      endpointName: "intune-devices",
      url: "https://scep.example:8080/scep/intune-devices",
      certificateAuthority: `certificateAuthorities/${caId}`,
      profile: "profiles/device",
      challengeMode: ScepEndpoint_ChallengeMode.INTUNE,
      intune: { tenant: "contoso.onmicrosoft.com", clientId: "c1d2", graphUrl: "https://graph.microsoft.com" },
      caCertificateMode: ScepEndpoint_CaCertificateMode.CA,
      nextCertificateAuthority: `certificateAuthorities/${nextCaId}`,
      legacyCrypto: true,
      renewalAllowed: false,
      enabled: false,
      staticChallenge: "",
      intuneClientSecret: "",
      webhookSecret: "",
      raCertificate: { serial: "0a1b", certificateDer: new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01]) },
    });
    expect(back.challengeLifetime?.seconds).toBe(900n);
    expect(back.webhook).toBeUndefined();
    expect(endpointToProto(intuneEndpoint, "https://scep.example", null).raCertificate).toBeUndefined();
  });

  it("reads a new endpoint, leaving unset fields to the core's defaults", () => {
    const input = newEndpointFromProto(
      create(ScepEndpointSchema, {
        endpointName: "mdm",
        certificateAuthority: `certificateAuthorities/${caId}`,
        profile: "profiles/device",
        challengeMode: ScepEndpoint_ChallengeMode.INTUNE,
        intune: { tenant: "t", clientId: "c", graphUrl: "https://graph.test" },
        intuneClientSecret: "s3cret",
      }),
    );
    expect(input).toEqual({
      name: "mdm",
      caId,
      profileName: "device",
      challengeMode: "intune",
      staticChallenge: undefined,
      intune: { tenant: "t", clientId: "c", graphUrl: "https://graph.test" },
      intuneClientSecret: "s3cret",
      webhook: undefined,
      webhookSecret: undefined,
      challengeLifetimeSeconds: undefined,
      caCertificateMode: undefined,
      nextCaId: null,
      legacyCrypto: false,
      renewalAllowed: undefined,
      enabled: undefined,
    });
  });

  it("refuses a new endpoint without its required fields or with malformed ones", () => {
    const base = {
      endpointName: "x",
      certificateAuthority: `certificateAuthorities/${caId}`,
      profile: "profiles/device",
      challengeMode: ScepEndpoint_ChallengeMode.NONE,
    };
    const read = (over: object) => () => newEndpointFromProto(create(ScepEndpointSchema, { ...base, ...over }));
    expectInvalidArgument(read({ endpointName: "" }), /^scep_endpoint\.endpoint_name is required/);
    expectInvalidArgument(read({ certificateAuthority: "" }), /^scep_endpoint\.certificate_authority is required/);
    expectInvalidArgument(
      read({ certificateAuthority: "cas/1" }),
      /^scep_endpoint\.certificate_authority must look like/,
    );
    expectInvalidArgument(read({ profile: "" }), /^scep_endpoint\.profile is required/);
    expectInvalidArgument(
      read({ challengeMode: ScepEndpoint_ChallengeMode.UNSPECIFIED }),
      /^scep_endpoint\.challenge_mode/,
    );
    expectInvalidArgument(read({ challengeMode: 42 }), /^scep_endpoint\.challenge_mode/);
    expectInvalidArgument(read({ caCertificateMode: 9 }), /^scep_endpoint\.ca_certificate_mode/);
    expectInvalidArgument(
      read({ challengeLifetime: { seconds: 60n, nanos: 5 } }),
      /^scep_endpoint\.challenge_lifetime must be/,
    );
    expectInvalidArgument(read({ challengeLifetime: { seconds: -1n } }), /^scep_endpoint\.challenge_lifetime must be/);
    expectInvalidArgument(
      read({ nextCertificateAuthority: "profiles/x" }),
      /^scep_endpoint\.next_certificate_authority/,
    );
  });

  it("turns an update mask into a change of exactly the named fields", () => {
    expect(
      change(
        intuneEndpoint,
        { enabled: true, legacyCrypto: false, profile: "profiles/ignored", intune: { tenant: "fabrikam" } },
        ["enabled", "legacy_crypto", "intune.tenant"],
      ),
    ).toEqual({
      enabled: true,
      legacyCrypto: false,
      // The whole settings, the untouched ones as stored.
      intune: { ...intuneEndpoint.intune, tenant: "fabrikam" },
    });
    // Cleared by the mask: back to the create defaults.
    expect(
      change(intuneEndpoint, {}, [
        "enabled",
        "renewal_allowed",
        "challenge_lifetime",
        "ca_certificate_mode",
        "next_certificate_authority",
      ]),
    ).toEqual({
      enabled: true,
      renewalAllowed: true,
      challengeLifetimeSeconds: 3600,
      caCertificateMode: "chain",
      nextCaId: null,
    });
    expect(
      change(
        intuneEndpoint,
        {
          challengeMode: ScepEndpoint_ChallengeMode.WEBHOOK,
          webhook: { url: "https://hook.example/scep" },
          webhookSecret: "0123456789abcdef",
        },
        ["challenge_mode", "webhook", "webhook_secret"],
      ),
    ).toEqual({
      challengeMode: "webhook",
      webhook: { url: "https://hook.example/scep" },
      webhookSecret: "0123456789abcdef",
    });
  });

  it("replaces a secret named in the mask only with a new value; '*' keeps the secrets not given", () => {
    expectInvalidArgument(
      () => change(intuneEndpoint, {}, ["intune_client_secret"]),
      /^scep_endpoint\.intune_client_secret: give/,
    );
    expectInvalidArgument(
      () => change(intuneEndpoint, {}, ["*", "static_challenge"]),
      /^scep_endpoint\.static_challenge: give/,
    );
    const all = change(
      intuneEndpoint,
      {
        ...endpointToProto(intuneEndpoint, "https://scep.example", null),
        intuneClientSecret: "rotated",
        enabled: true,
      },
      ["*"],
    );
    expect(all).toMatchObject({ intuneClientSecret: "rotated", enabled: true, challengeMode: "intune" });
    expect(all).not.toHaveProperty("staticChallenge");
    expect(all).not.toHaveProperty("webhookSecret");
    expectInvalidArgument(
      () => change(intuneEndpoint, { endpointName: "renamed" }, ["endpoint_name"]),
      /cannot be updated/,
    );
    expectInvalidArgument(() => change(intuneEndpoint, {}, ["ra_certificate"]), /cannot be updated/);
    expectInvalidArgument(
      () => change(intuneEndpoint, {}, ["challenge_mode"]),
      /^scep_endpoint\.challenge_mode must be set/,
    );
  });
});

describe("withApiFieldName", () => {
  it("renames the core field a validation message starts with, and leaves everything else", () => {
    const renamed = withApiFieldName(
      new ChanceryError("invalid_argument", "ca_id: no CA with id x"),
      endpointErrorFields,
    ) as ChanceryError;
    expect(renamed).toMatchObject({
      code: "invalid_argument",
      message: "scep_endpoint.certificate_authority: no CA with id x",
    });
    expect(
      (withApiFieldName(new ChanceryError("invalid_argument", "intune.tenant: required"), endpointErrorFields) as Error)
        .message,
    ).toBe("scep_endpoint.intune.tenant: required");
    expect(
      (
        withApiFieldName(
          new ChanceryError("invalid_argument", "lifetime_seconds: too long"),
          secretErrorFields,
        ) as Error
      ).message,
    ).toBe("ttl: too long");
    const other = new ChanceryError("not_found", "ca_id: gone");
    expect(withApiFieldName(other, endpointErrorFields)).toBe(other);
    const unknownField = new ChanceryError("invalid_argument", "page_size: must be a whole number");
    expect(withApiFieldName(unknownField, endpointErrorFields)).toBe(unknownField);
    const plain = new Error("ca_id: boom");
    expect(withApiFieldName(plain, endpointErrorFields)).toBe(plain);
  });
});
