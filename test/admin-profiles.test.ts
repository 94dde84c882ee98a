import { create, type DescField, isFieldSet, type JsonObject, type MessageInitShape, toJson } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { grpcUnary } from "../src/admin/testing/grpc-test-client.ts";
import { opensslCsr } from "../src/core/x509/testing/openssl.ts";
import type { Gateway } from "../src/gateway.ts";
import { AuditService } from "../src/gen/chancery/admin/v1/audit_pb.js";
import {
  EcdsaCurve,
  KeyUsage,
  type Profile,
  ProfileSchema,
  ProfileService,
  SubjectAltNameType,
} from "../src/gen/chancery/admin/v1/profile_pb.js";
import { Role, UserService } from "../src/gen/chancery/admin/v1/user_pb.js";
import { bearer, startTestGateway, type TestGateway } from "./support/test-gateway.ts";

/** A profile as a plain init object (never the message form), so tests can spread and override fields. */
type ProfileInit = Exclude<MessageInitShape<typeof ProfileSchema>, Profile>;

const seconds = (s: number) => ({ seconds: BigInt(s) });
const day = 86_400;

/** A CA profile (so name constraints are allowed) with every field of Profile set to a non-default value. */
function everyField(name: string): ProfileInit {
  return {
    name: `profiles/${name}`,
    description: "Every field set",
    validity: { default: seconds(30 * day), max: seconds(60 * day) },
    keyAlgorithms: {
      ecdsaCurves: [EcdsaCurve.P256, EcdsaCurve.P521],
      rsa: { allowed: true, minBits: 3072, maxBits: 4096 },
      ed25519: false,
      ed448: true,
    },
    keyUsage: [KeyUsage.DIGITAL_SIGNATURE, KeyUsage.KEY_CERT_SIGN, KeyUsage.CRL_SIGN],
    rsaKeyUsage: [KeyUsage.KEY_ENCIPHERMENT],
    extendedKeyUsage: ["serverAuth", "1.3.6.1.4.1.99999.7"],
    basicConstraints: { ca: true, pathLen: 0 },
    nameConstraints: {
      permittedDns: ["corp.example"],
      excludedDns: ["bad.corp.example"],
      permittedIp: ["10.0.0.0/8"],
      excludedIp: ["10.9.0.0/16"],
      permittedEmail: ["corp.example"],
      excludedEmail: ["bad@corp.example"],
      permittedUri: [".corp.example"],
      excludedUri: ["bad.corp.example"],
    },
    san: {
      allowedTypes: [SubjectAltNameType.DNS, SubjectAltNameType.IP, SubjectAltNameType.EMAIL, SubjectAltNameType.URI],
      patterns: {
        dns: [".*\\.corp\\.example"],
        ip: ["10\\..*"],
        email: [".*@corp\\.example"],
        uri: ["https://.*\\.corp\\.example/.*"],
      },
      required: true,
      maxCount: 5,
      allowWildcard: true,
      otherNames: ["upn"],
    },
    subject: { keep: ["CN", "O", "OU", "serialNumber", "OGRN"], required: ["CN", "O"], commonNameMustBeSan: true },
    certificatePolicies: [
      { oid: "2.23.140.1.2.1" },
      { policy: "qes-organisation" },
      { oid: "1.3.6.1.4.1.99999.1.2", cpsUri: "https://pki.corp.example/cps", userNotice: "Test certificates only" },
    ],
    // UTF8String "hi".
    customExtensions: [{ oid: "1.3.6.1.4.1.99999.9", critical: true, value: new Uint8Array([0x0c, 0x02, 0x68, 0x69]) }],
    ocspMustStaple: true,
    revocationInfo: { crlDistributionPoint: false, ocsp: true, caIssuers: false },
    shortLived: { threshold: seconds(3 * day), noRevAvail: false },
    requiresApproval: { required: true, approvers: 2 },
    backdate: seconds(120),
    renewalWindow: { start: 0.5, end: 0.8 },
  };
}

/** A small valid leaf profile. */
function leaf(name: string): ProfileInit {
  return {
    name: `profiles/${name}`,
    validity: { default: seconds(day), max: seconds(7 * day) },
    keyUsage: [KeyUsage.DIGITAL_SIGNATURE],
    san: { allowedTypes: [SubjectAltNameType.DNS] },
  };
}

/**
 * The status of a call that must fail, with its message decoded: connect-node
 * percent-encodes grpc-message with encodeURIComponent and grpc-js undoes it
 * with decodeURI, which leaves "%3A" and the like in place.
 */
async function failure(promise: Promise<unknown>): Promise<{ code: grpc.status; message: string }> {
  try {
    await promise;
  } catch (err) {
    const { code, details } = err as grpc.ServiceError;
    return { code, message: decodeURIComponent(details) };
  }
  throw new Error("the call succeeded");
}

/** One field of a Profile in its JSON form, so bytes, durations and enums compare by value. */
function fieldJson(profile: Profile, field: DescField): unknown {
  return (toJson(ProfileSchema, profile, { alwaysEmitImplicit: true }) as JsonObject)[field.jsonName];
}

const definitionFields = ProfileSchema.fields.filter((f) => f.name !== "create_time" && f.name !== "update_time");

describe("ProfileService on a running gateway", () => {
  let env: TestGateway;
  let gateway: Gateway;
  let client: grpc.Client;
  let admin: grpc.Metadata;
  let operator: grpc.Metadata;
  let user: grpc.Metadata;

  async function tokenFor(username: string, role: Role): Promise<grpc.Metadata> {
    const made = await grpcUnary(
      client,
      UserService.method.createUser,
      { user: { username, role, apiAccess: true } },
      admin,
    );
    return bearer((await gateway.tokens.create(made.name.slice("users/".length), { actor: "test" })).secret);
  }

  const call = {
    create: (init: MessageInitShape<typeof ProfileSchema>, as = admin) =>
      grpcUnary(client, ProfileService.method.createProfile, { profile: init }, as),
    get: (name: string, as = admin) => grpcUnary(client, ProfileService.method.getProfile, { name }, as),
    list: (pageSize: number, pageToken = "", as = admin) =>
      grpcUnary(client, ProfileService.method.listProfiles, { pageSize, pageToken }, as),
    update: (init: ProfileInit, updateMask: string[], as = admin) =>
      grpcUnary(client, ProfileService.method.updateProfile, { profile: init, updateMask }, as),
    delete: (name: string, as = admin) => grpcUnary(client, ProfileService.method.deleteProfile, { name }, as),
  };

  beforeAll(async () => {
    env = await startTestGateway();
    gateway = env.gateway;
    client = env.client;
    admin = bearer(env.adminToken);
    operator = await tokenFor("olivia", Role.OPERATOR);
    user = await tokenFor("ursula", Role.USER);
  });
  afterAll(async () => env?.stop());

  it("creates a profile with every field set and gets it back equal, field by field", async () => {
    const sent = create(ProfileSchema, everyField("everything"));
    // If Profile gains a field, this sample must set it too.
    for (const field of definitionFields) expect(isFieldSet(sent, field), `sample sets ${field.name}`).toBe(true);

    const created = await call.create(sent);
    const got = await call.get("profiles/everything");
    for (const field of definitionFields) {
      expect(fieldJson(created, field), `create returns ${field.name}`).toEqual(fieldJson(sent, field));
      expect(fieldJson(got, field), `get returns ${field.name}`).toEqual(fieldJson(sent, field));
    }
    expect(got.createTime).toBeDefined();
    expect(got.updateTime).toEqual(got.createTime);

    // The core holds the same profile in its own terms.
    const stored = (await gateway.profiles.get("everything")).profile;
    expect(stored.validity).toEqual({ default: 30 * day, max: 60 * day });
    expect(stored.keyAlgorithms).toEqual({
      ecdsaCurves: ["P-256", "P-521"],
      rsa: { allowed: true, minBits: 3072, maxBits: 4096 },
      ed25519: false,
      ed448: true,
    });
    expect(stored.keyUsage).toEqual(["digitalSignature", "keyCertSign", "cRLSign"]);
    expect(stored.customExtensions).toEqual([{ oid: "1.3.6.1.4.1.99999.9", critical: true, valueBase64: "DAJoaQ==" }]);
    expect(stored.shortLived).toEqual({ thresholdSeconds: 3 * day, noRevAvail: false });
    expect(stored.backdateSeconds).toBe(120);
    expect(stored.nameConstraints?.excluded?.ip).toEqual(["10.9.0.0/16"]);
  });

  it("fills the core defaults for what a create leaves unset, and takes the name from profile_id", async () => {
    const created = await grpcUnary(
      client,
      ProfileService.method.createProfile,
      { profileId: "minimal", profile: { validity: { default: seconds(day), max: seconds(2 * day) } } },
      admin,
    );
    expect(created.name).toBe("profiles/minimal");
    expect(created.description).toBe("");
    expect(created.keyAlgorithms).toMatchObject({
      ecdsaCurves: [EcdsaCurve.P256, EcdsaCurve.P384],
      rsa: { allowed: true, minBits: 2048, maxBits: 8192 },
      ed25519: true,
      ed448: false,
    });
    expect(created.keyUsage).toEqual([KeyUsage.DIGITAL_SIGNATURE]);
    expect(created.basicConstraints?.ca).toBe(false);
    expect(created.basicConstraints?.pathLen).toBeUndefined();
    expect(created.nameConstraints).toBeUndefined();
    expect(created.san).toMatchObject({
      allowedTypes: [SubjectAltNameType.DNS],
      required: false,
      maxCount: 100,
      allowWildcard: false,
    });
    expect(created.subject).toMatchObject({ keep: ["CN"], required: [], commonNameMustBeSan: false });
    expect(created.revocationInfo).toMatchObject({ crlDistributionPoint: true, ocsp: true, caIssuers: true });
    expect(created.shortLived).toMatchObject({ threshold: seconds(0), noRevAvail: true });
    expect(created.requiresApproval).toMatchObject({ required: false, approvers: 1 });
    expect(created.backdate).toMatchObject(seconds(60));
  });

  it("lists every profile by name across pages", async () => {
    await call.create(leaf("page-a"));
    await call.create(leaf("page-b"));
    const expected = (await gateway.profiles.list()).map((p) => `profiles/${p.profile.name}`);
    expect(expected).toContain("profiles/tls-server");
    const seen: string[] = [];
    let token = "";
    let pages = 0;
    do {
      const page = await call.list(2, token);
      expect(page.profiles.length).toBeLessThanOrEqual(2);
      seen.push(...page.profiles.map((p) => p.name));
      token = page.nextPageToken;
      pages++;
    } while (token);
    expect(seen).toEqual(expected);
    expect(pages).toBe(Math.ceil(expected.length / 2));
    expect((await call.list(0)).profiles.map((p) => p.name)).toEqual(expected);
    await expect(call.list(2, "bm90LWEtdG9rZW4")).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    await expect(call.list(-1)).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
  });

  it("updates only the fields named in update_mask", async () => {
    // Direct edits of a profile that requires approval are refused; this one does not.
    await call.create({ ...everyField("masked"), requiresApproval: { required: false } });
    const before = await call.get("profiles/masked");
    // The patch differs everywhere; only the masked paths may take effect.
    const patch: ProfileInit = {
      ...leaf("masked"),
      description: "changed",
      validity: { default: seconds(day), max: seconds(90 * day) },
      keyAlgorithms: { rsa: { minBits: 2048 } },
      ocspMustStaple: false,
    };
    const updated = await call.update(patch, [
      "description",
      "validity.max",
      "key_algorithms.rsa.min_bits",
      "backdate",
    ]);
    expect(updated.description).toBe("changed");
    expect(updated.validity).toEqual({ ...before.validity, max: expect.objectContaining(seconds(90 * day)) });
    expect(updated.keyAlgorithms).toEqual({
      ...before.keyAlgorithms,
      rsa: { ...before.keyAlgorithms!.rsa, minBits: 2048 },
    });
    // Named in the mask but unset in the patch: back to the core default (60 seconds).
    expect(updated.backdate).toEqual(expect.objectContaining(seconds(60)));
    for (const field of definitionFields) {
      if (["description", "validity", "key_algorithms", "backdate"].includes(field.name)) continue;
      const key = field.localName as keyof Profile;
      expect(updated[key], `${field.name} unchanged`).toEqual(before[key]);
    }
    expect(updated.createTime).toEqual(before.createTime);
    expect(updated.updateTime).not.toEqual(before.updateTime);
    expect(await call.get("profiles/masked")).toEqual(updated);

    // "*" replaces everything but the name and times.
    const replaced = await call.update(leaf("masked"), ["*"]);
    expect(replaced.description).toBe("");
    expect(replaced.basicConstraints).toEqual(expect.objectContaining({ ca: false }));
    expect(replaced.nameConstraints).toBeUndefined();
    expect(replaced.createTime).toEqual(before.createTime);
  });

  it("refuses bad update masks and updates of missing profiles", async () => {
    await call.create(leaf("mask-errors"));
    for (const [mask, mentions] of [
      [["nope"], '"nope" is not a field'],
      [["name"], '"name" cannot be updated'],
      [["create_time"], '"create_time" cannot be updated'],
      [["key_usage.bits"], "not a message field"],
      [["san.nope"], '"san.nope" is not a field'],
      [[], "update_mask must name the fields"],
    ] as const) {
      expect(await failure(call.update(leaf("mask-errors"), [...mask])), mask.join(",")).toMatchObject({
        code: grpc.status.INVALID_ARGUMENT,
        message: expect.stringContaining(mentions),
      });
    }
    await expect(call.update(leaf("no-such-profile"), ["description"])).rejects.toMatchObject({
      code: grpc.status.NOT_FOUND,
    });
  });

  it("answers INVALID_ARGUMENT naming the field the core schema or the mapping refuses", async () => {
    const cases: Array<[string, ProfileInit, string]> = [
      [
        "default above max",
        { ...leaf("bad"), validity: { default: seconds(10 * day), max: seconds(5 * day) } },
        "validity.default: must not exceed validity.max",
      ],
      ["no validity", { ...leaf("bad"), validity: undefined }, "validity"],
      ["max unset", { ...leaf("bad"), validity: { default: seconds(day) } }, "validity.max"],
      [
        "fractional duration",
        { ...leaf("bad"), validity: { default: { seconds: 1n, nanos: 5 }, max: seconds(day) } },
        "validity.default: must be a whole, non-negative number of seconds",
      ],
      ["unset key usage", { ...leaf("bad"), keyUsage: [KeyUsage.UNSPECIFIED] }, "keyUsage.0"],
      ["small RSA", { ...leaf("bad"), keyAlgorithms: { rsa: { minBits: 1024 } } }, "keyAlgorithms.rsa.minBits"],
      [
        "keyCertSign on a leaf",
        { ...leaf("bad"), keyUsage: [KeyUsage.KEY_CERT_SIGN] },
        "keyUsage: keyCertSign requires basicConstraints.ca",
      ],
      ["bad EKU", { ...leaf("bad"), extendedKeyUsage: ["serverAuthX"] }, "extendedKeyUsage.0"],
      [
        "bad pattern",
        { ...leaf("bad"), san: { allowedTypes: [SubjectAltNameType.DNS], patterns: { dns: ["("] } } },
        "san.patterns.dns.0",
      ],
      [
        "bad DER",
        { ...leaf("bad"), customExtensions: [{ oid: "1.2.3.4", value: new Uint8Array([1]) }] },
        "customExtensions.0.valueBase64",
      ],
      ["backdate over a day", { ...leaf("bad"), backdate: seconds(2 * day) }, "backdateSeconds: must be at most 1 day"],
      ["bad name", { ...leaf("Bad_Name") }, "name: lower-case letters"],
    ];
    for (const [what, init, mentions] of cases) {
      expect(await failure(call.create(init)), what).toMatchObject({
        code: grpc.status.INVALID_ARGUMENT,
        message: expect.stringContaining(mentions),
      });
    }
    await expect(call.get("profiles/bad")).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });

    await expect(
      grpcUnary(client, ProfileService.method.createProfile, { profileId: "one", profile: leaf("two") }, admin),
    ).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    await expect(grpcUnary(client, ProfileService.method.createProfile, {}, admin)).rejects.toMatchObject({
      code: grpc.status.INVALID_ARGUMENT,
    });
    await expect(call.create(leaf("tls-server"))).rejects.toMatchObject({ code: grpc.status.ALREADY_EXISTS });

    // An update that would make the profile invalid changes nothing.
    await call.create(leaf("stays-valid"));
    const before = await call.get("profiles/stays-valid");
    expect(
      await failure(
        call.update({ ...leaf("stays-valid"), validity: { default: seconds(8 * day) } }, ["validity.default"]),
      ),
    ).toMatchObject({
      code: grpc.status.INVALID_ARGUMENT,
      message: expect.stringContaining("validity.default: must not exceed validity.max"),
    });
    expect(await call.get("profiles/stays-valid")).toEqual(before);
  });

  it("deletes an unused profile, audited, and refuses one certificates were issued under", async () => {
    await call.create(leaf("unused"));
    await call.delete("profiles/unused");
    await expect(call.get("profiles/unused")).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
    await expect(call.delete("profiles/unused")).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
    const events = await grpcUnary(
      client,
      AuditService.method.listAuditEvents,
      { filter: { action: "profile.delete" } },
      admin,
    );
    expect(events.auditEvents).toHaveLength(1);
    expect(events.auditEvents[0]!.actor).toMatch(/^user:/);
    expect(events.auditEvents[0]!.details).toMatchObject({ name: "unused", definition: { name: "unused" } });

    await call.create(leaf("in-use"));
    const issuing = (await gateway.cas.list()).find((ca) => ca.name === "issuing")!;
    await gateway.issuance.issue({
      caId: issuing.id,
      profileName: "in-use",
      csrDer: opensslCsr({ subject: "/CN=app.example.com", sans: "DNS:app.example.com" }),
      approved: { sans: [{ type: "dns", value: "app.example.com" }] },
      requester: "test",
      sourceProtocol: "admin",
    });
    expect(await failure(call.delete("profiles/in-use"))).toMatchObject({
      code: grpc.status.FAILED_PRECONDITION,
      message: expect.stringContaining("certificates were issued under it"),
    });
    expect((await call.get("profiles/in-use")).name).toBe("profiles/in-use");
    await expect(call.delete("nonsense")).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
  });

  it("lets operators read but not write, and plain users do neither", async () => {
    expect((await call.get("profiles/tls-server", operator)).name).toBe("profiles/tls-server");
    expect((await call.list(0, "", operator)).profiles.length).toBeGreaterThan(0);
    await call.create(leaf("guarded"));
    for (const as of [operator, user]) {
      for (const attempt of [
        () => call.create(leaf("sneaky"), as),
        () => call.update({ ...leaf("guarded"), description: "x" }, ["description"], as),
        () => call.delete("profiles/guarded", as),
      ])
        await expect(attempt()).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED });
    }
    await expect(call.get("profiles/tls-server", user)).rejects.toMatchObject({
      code: grpc.status.PERMISSION_DENIED,
    });
    await expect(call.list(0, "", user)).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED });
    await expect(
      grpcUnary(client, ProfileService.method.getProfile, { name: "profiles/tls-server" }),
    ).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    expect((await call.get("profiles/guarded")).description).toBe("");
    await expect(call.get("profiles/sneaky")).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
  });
});
