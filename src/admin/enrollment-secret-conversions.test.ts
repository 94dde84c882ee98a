import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { expectInvalidArgument } from "../../test/support/refusal.ts";
import type { EnrollmentSecret as CoreEnrollmentSecret } from "../core/enrollment-secrets/enrollment-secret-types.ts";
import { EnrollmentSecretSchema } from "../gen/chancery/admin/v1/enrollment_secret_pb.js";
import { scopeFromProto, secretInputFromProto, secretToProto } from "./enrollment-secret-conversions.ts";

const endpointId = "11111111-2222-4333-8444-555555555555";
const labelId = "66666666-7777-4888-9999-aaaaaaaaaaaa";

describe("enrollment secret conversions", () => {
  const record: CoreEnrollmentSecret = {
    id: "c0ffee00-0000-4000-8000-000000000001",
    scope: { kind: "scep_endpoint", id: endpointId },
    boundSubject: "CN=device-42,O=Example",
    boundSans: ["dns:device-42.example"],
    createdBy: "user:abc",
    createdAt: new Date("2025-01-01T00:00:00Z"),
    expiresAt: new Date("2025-01-01T01:00:00Z"),
    usedAt: new Date("2025-01-01T00:10:00Z"),
    usedBy: "tx-1",
    revokedAt: null,
  };

  it("shows a secret with its scope, never the secret, and survives the wire", () => {
    const proto = fromBinary(EnrollmentSecretSchema, toBinary(EnrollmentSecretSchema, secretToProto(record)));
    expect(proto).toMatchObject({
      name: `enrollmentSecrets/${record.id}`,
      scope: { case: "scepEndpoint", value: `scepEndpoints/${endpointId}` },
      boundSubject: "CN=device-42,O=Example",
      boundSubjectAltNames: ["dns:device-42.example"],
      creator: "users/abc",
      usedBy: "tx-1",
    });
    expect(proto.revokeTime).toBeUndefined();
    expect(EnrollmentSecretSchema.fields.map((f) => f.name)).not.toContain("secret");
    expect(
      secretToProto({
        ...record,
        scope: { kind: "est_label", id: labelId },
        boundSubject: null,
        boundSans: null,
        createdBy: "system",
        usedAt: null,
        usedBy: null,
      }),
    ).toMatchObject({
      scope: { case: "estLabel", value: `estLabels/${labelId}` },
      boundSubject: "",
      boundSubjectAltNames: [],
      creator: "system",
      usedBy: "",
    });
  });

  it("reads what to mint: the scope is required, the rest left to the core when unset", () => {
    const duration = (seconds: bigint, nanos = 0) =>
      ({ $typeName: "google.protobuf.Duration", seconds, nanos }) as const;
    expect(
      secretInputFromProto(
        create(EnrollmentSecretSchema, { scope: { case: "estLabel", value: `estLabels/${labelId}` } }),
        undefined,
      ),
    ).toEqual({ scope: { kind: "est_label", id: labelId } });
    expect(
      secretInputFromProto(
        create(EnrollmentSecretSchema, {
          scope: { case: "scepEndpoint", value: `scepEndpoints/${endpointId}` },
          boundSubject: "CN=a",
          boundSubjectAltNames: ["ip:10.0.0.1"],
          creator: "ignored",
        }),
        duration(600n),
      ),
    ).toEqual({
      scope: { kind: "scep_endpoint", id: endpointId },
      lifetimeSeconds: 600,
      boundSubject: "CN=a",
      boundSans: ["ip:10.0.0.1"],
    });
    expectInvalidArgument(
      () => secretInputFromProto(undefined, undefined),
      /^enrollment_secret\.scep_endpoint or .* is required/,
    );
    expectInvalidArgument(
      () => secretInputFromProto(create(EnrollmentSecretSchema, { boundSubject: "CN=a" }), undefined),
      /is required/,
    );
    expectInvalidArgument(
      () =>
        secretInputFromProto(
          create(EnrollmentSecretSchema, { scope: { case: "estLabel", value: `scepEndpoints/${endpointId}` } }),
          undefined,
        ),
      /^enrollment_secret\.est_label must look like "estLabels\/\{id\}"/,
    );
    expectInvalidArgument(
      () =>
        secretInputFromProto(
          create(EnrollmentSecretSchema, { scope: { case: "estLabel", value: `estLabels/${labelId}` } }),
          duration(0n),
        ),
      /^ttl must be a positive whole number of seconds/,
    );
    expect(scopeFromProto({ case: undefined })).toBeNull();
    expectInvalidArgument(
      () => scopeFromProto({ case: "scepEndpoint", value: "scepEndpoints/" }),
      /^scep_endpoint must look like/,
    );
  });
});
