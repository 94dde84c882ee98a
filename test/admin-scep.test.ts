import { X509Certificate } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { containsSecret } from "../src/admin/idempotency.ts";
import { grpcUnary } from "../src/admin/testing/grpc-test-client.ts";
import { ScepEndpointSchema, ScepService } from "../src/gen/chancery/admin/v1/scep_pb.js";
import { runCli } from "./support/chancery-cli.ts";
import { bearer, connectJson, startTestGateway, type TestGateway } from "./support/test-gateway.ts";

const scep = "chancery.admin.v1.ScepService";

type Json = Record<string, unknown>;

/** ScepService over Connect JSON (as curl sends it), one call over real gRPC, and the CLI. */
describe("ScepService on a running gateway", () => {
  let env: TestGateway;
  let issuingCa: string;
  let operatorToken: string;
  let userToken: string;
  const call = (method: string, body: unknown, token = env.adminToken) =>
    connectJson(env, `${scep}/${method}`, body, token);

  /** A new endpoint on `ca` (the issuing CA unless told), created by the admin; its resource. */
  async function endpoint(endpointName: string, fields: Json = {}, ca = issuingCa): Promise<Json> {
    const made = await call("CreateScepEndpoint", {
      scepEndpoint: {
        endpointName,
        certificateAuthority: ca,
        profile: "profiles/device",
        challengeMode: "CHALLENGE_MODE_DYNAMIC",
        ...fields,
      },
    });
    expect(made.status, JSON.stringify(made.json)).toBe(200);
    return made.json;
  }

  async function account(username: string, role: "user" | "operator", assignedCaIds: string[] = []) {
    const user = await env.gateway.users.create({ username, role, apiAccess: true }, { actor: "test" });
    if (assignedCaIds.length > 0) await env.gateway.users.update(user.id, { assignedCaIds }, { actor: "test" });
    return (await env.gateway.tokens.create(user.id, { actor: "test" })).secret;
  }

  beforeAll(async () => {
    env = await startTestGateway();
    const cas = await connectJson(
      env,
      "chancery.admin.v1.CertificateAuthorityService/ListCertificateAuthorities",
      {},
      env.adminToken,
    );
    const list = cas.json["certificateAuthorities"] as Array<{ name: string; displayName: string }>;
    issuingCa = list.find((ca) => ca.displayName === "issuing")!.name;
    operatorToken = await account("scep-operator", "operator", [issuingCa.slice("certificateAuthorities/".length)]);
    userToken = await account("scep-user", "user");
  });
  afterAll(async () => {
    await env?.stop();
  });

  it("creates an endpoint (idempotently) with its RA certificate, reads, lists, updates by mask and deletes it", async () => {
    const body = {
      scepEndpoint: {
        endpointName: "mdm-static",
        certificateAuthority: issuingCa,
        profile: "profiles/device",
        challengeMode: "CHALLENGE_MODE_STATIC",
        staticChallenge: "first static secret",
      },
      requestId: "9a4f3c1e-6b2d-4e8f-a1c3-5d7e9f0b2a41",
    };
    const created = await call("CreateScepEndpoint", body);
    expect(created.status, JSON.stringify(created.json)).toBe(200);
    expect(created.json).toMatchObject({
      endpointName: "mdm-static",
      certificateAuthority: issuingCa,
      profile: "profiles/device",
      challengeMode: "CHALLENGE_MODE_STATIC",
      challengeLifetime: "3600s",
      caCertificateMode: "CA_CERTIFICATE_MODE_CHAIN",
      renewalAllowed: true,
      enabled: true,
    });
    expect(created.json["name"]).toMatch(/^scepEndpoints\/[0-9a-f-]{36}$/);
    expect(created.json["url"]).toMatch(/^https?:\/\/[^/]+\/scep\/mdm-static$/);
    // The RA certificate a SCEP client encrypts to: RSA, issued by the endpoint's CA.
    const ra = created.json["raCertificate"] as Json;
    const raCert = new X509Certificate(Buffer.from(ra["certificateDer"] as string, "base64"));
    expect(raCert.publicKey.asymmetricKeyType).toBe("rsa");
    expect(raCert.serialNumber.toLowerCase().replace(/^0+/, "")).toBe((ra["serial"] as string).replace(/^0+/, ""));
    expect(new Date(ra["notAfter"] as string).getTime()).toBe(new Date(raCert.validTo).getTime());
    expect(created.json).not.toHaveProperty("staticChallenge");
    expect(JSON.stringify(created.json)).not.toContain("first static secret");

    // AIP-155 with a resource that has secret fields: the retry is refused, it makes no second endpoint.
    expect(containsSecret(ScepEndpointSchema)).toBe(true);
    const replay = await call("CreateScepEndpoint", body);
    expect(replay.json).toMatchObject({ code: "already_exists" });
    expect(replay.json["message"]).toMatch(/has completed/);
    const again = await call("CreateScepEndpoint", { ...body, requestId: "" });
    expect(again.json["code"]).toBe("already_exists");

    const name = created.json["name"] as string;
    expect(await call("GetScepEndpoint", { name })).toEqual(created);
    const listed = await call("ListScepEndpoints", {});
    expect(listed.json["scepEndpoints"]).toContainEqual(created.json);

    const updated = await call("UpdateScepEndpoint", {
      scepEndpoint: { name, enabled: false, legacyCrypto: true, endpointName: "ignored", renewalAllowed: false },
      updateMask: ["enabled", "legacy_crypto"],
    });
    expect(updated.status, JSON.stringify(updated.json)).toBe(200);
    expect(updated.json).toMatchObject({
      endpointName: "mdm-static",
      enabled: false,
      legacyCrypto: true,
      renewalAllowed: true,
    });

    // The static secret: replaced only when given, and then really replaced.
    const emptySecret = await call("UpdateScepEndpoint", {
      scepEndpoint: { name },
      updateMask: ["static_challenge"],
    });
    expect(emptySecret.json).toMatchObject({ code: "invalid_argument" });
    expect(emptySecret.json["message"]).toMatch(/^scep_endpoint\.static_challenge: give the new value/);
    const rotated = await call("UpdateScepEndpoint", {
      scepEndpoint: { name, staticChallenge: "second static secret" },
      updateMask: ["static_challenge"],
    });
    expect(rotated.status).toBe(200);
    expect(JSON.stringify(rotated.json)).not.toContain("second static secret");
    const core = await env.gateway.scep.endpoints.get(name.slice("scepEndpoints/".length));
    expect(env.gateway.scep.endpoints.matchesStaticChallenge(core, "second static secret")).toBe(true);
    expect(env.gateway.scep.endpoints.matchesStaticChallenge(core, "first static secret")).toBe(false);

    // Another mode needs its own secret in the same call; its settings come back, its secret never.
    const noSecret = await call("UpdateScepEndpoint", {
      scepEndpoint: { name, challengeMode: "CHALLENGE_MODE_WEBHOOK", webhook: { url: "https://hook.example/scep" } },
      updateMask: ["challenge_mode", "webhook"],
    });
    expect(noSecret.json).toMatchObject({ code: "invalid_argument" });
    expect(noSecret.json["message"]).toMatch(/^scep_endpoint\.webhook_secret: /);
    const intune = await call("UpdateScepEndpoint", {
      scepEndpoint: {
        name,
        challengeMode: "CHALLENGE_MODE_INTUNE",
        intune: { tenant: "contoso.onmicrosoft.com", clientId: "0f1e2d3c" },
        intuneClientSecret: "intune client secret value",
      },
      updateMask: ["challenge_mode", "intune", "intune_client_secret"],
    });
    expect(intune.status, JSON.stringify(intune.json)).toBe(200);
    expect(intune.json).toMatchObject({
      challengeMode: "CHALLENGE_MODE_INTUNE",
      intune: {
        tenant: "contoso.onmicrosoft.com",
        clientId: "0f1e2d3c",
        authorityUrl: "https://login.microsoftonline.com",
        graphUrl: "https://graph.microsoft.com",
      },
    });
    expect(JSON.stringify(intune.json)).not.toContain("intune client secret value");
    expect(await env.gateway.scep.endpoints.validationSecret(await env.gateway.scep.endpoints.get(core.id))).toBe(
      "intune client secret value",
    );
    const tenant = await call("UpdateScepEndpoint", {
      scepEndpoint: { name, intune: { tenant: "fabrikam.onmicrosoft.com" } },
      updateMask: ["intune.tenant"],
    });
    expect(tenant.json).toMatchObject({
      intune: { tenant: "fabrikam.onmicrosoft.com", clientId: "0f1e2d3c" },
    });

    const rename = await call("UpdateScepEndpoint", {
      scepEndpoint: { name, endpointName: "other" },
      updateMask: ["endpoint_name"],
    });
    expect(rename.json["code"]).toBe("invalid_argument");

    expect(await call("DeleteScepEndpoint", { name })).toEqual({ status: 200, json: {} });
    expect((await call("GetScepEndpoint", { name })).json["code"]).toBe("not_found");
  });

  it("refuses malformed endpoints with InvalidArgument naming the API field", async () => {
    const refused = async (fields: Json, message: RegExp) => {
      const answer = await call("CreateScepEndpoint", {
        scepEndpoint: {
          endpointName: "refused",
          certificateAuthority: issuingCa,
          profile: "profiles/device",
          challengeMode: "CHALLENGE_MODE_NONE",
          ...fields,
        },
      });
      expect(answer.status).toBe(400);
      expect(answer.json).toMatchObject({ code: "invalid_argument" });
      expect(answer.json["message"]).toMatch(message);
      // AIP-193: every admin error carries a google.rpc.ErrorInfo.
      expect(answer.json["details"]).toEqual([expect.objectContaining({ type: "google.rpc.ErrorInfo" })]);
    };
    await refused({ endpointName: "" }, /^scep_endpoint\.endpoint_name is required/);
    await refused({ endpointName: "Not_A_Path" }, /^scep_endpoint\.endpoint_name: /);
    await refused({ certificateAuthority: "" }, /^scep_endpoint\.certificate_authority is required/);
    await refused(
      { certificateAuthority: "certificateAuthorities/00000000-0000-4000-8000-000000000000" },
      /^scep_endpoint\.certificate_authority: no CA/,
    );
    await refused({ profile: "profiles/no-such-profile" }, /^scep_endpoint\.profile: no profile/);
    await refused({ challengeMode: "CHALLENGE_MODE_UNSPECIFIED" }, /^scep_endpoint\.challenge_mode /);
    await refused({ challengeMode: "CHALLENGE_MODE_STATIC" }, /^scep_endpoint\.static_challenge: required/);
    await refused(
      { challengeMode: "CHALLENGE_MODE_STATIC", staticChallenge: "short" },
      /^scep_endpoint\.static_challenge: must be 8 to 255/,
    );
    await refused({ staticChallenge: "a static secret" }, /^scep_endpoint\.static_challenge: only used in static/);
    await refused({ challengeLifetime: "10s" }, /^scep_endpoint\.challenge_lifetime: /);
    await refused(
      {
        challengeMode: "CHALLENGE_MODE_WEBHOOK",
        webhook: { url: "http://hook.example/scep" },
        webhookSecret: "0123456789abcdef",
      },
      /^scep_endpoint\.webhook\.url: must be https/,
    );
    await refused({ nextCertificateAuthority: issuingCa }, /^scep_endpoint\.next_certificate_authority: /);
    expect((await call("ListScepEndpoints", { pageToken: "bogus" })).json["code"]).toBe("invalid_argument");
  });

  it("rotates the RA certificate: a new serial, which the endpoint shows from then on", async () => {
    const made = await endpoint("mdm-rotate");
    const before = (made["raCertificate"] as Json)["serial"];
    const rotated = await call("RotateScepRaCertificate", { name: made["name"] });
    expect(rotated.status, JSON.stringify(rotated.json)).toBe(200);
    expect(rotated.json["serial"]).toMatch(/^[0-9a-f]+$/);
    expect(rotated.json["serial"]).not.toBe(before);
    new X509Certificate(Buffer.from(rotated.json["certificateDer"] as string, "base64"));
    const read = await call("GetScepEndpoint", { name: made["name"] });
    expect((read.json["raCertificate"] as Json)["serial"]).toBe(rotated.json["serial"]);
    const missing = await call("RotateScepRaCertificate", {
      name: "scepEndpoints/00000000-0000-4000-8000-000000000000",
    });
    expect(missing.json["code"]).toBe("not_found");
  });

  it("keeps endpoints and RA rotation for admins: operators, even of the endpoint's CA, and users are refused", async () => {
    const own = await endpoint("mdm-operator-own");
    const codes = async (token: string | undefined) => {
      const outcome = async (method: string, body: unknown) => {
        const answer = token ? await call(method, body, token) : await connectJson(env, `${scep}/${method}`, body);
        return answer.status === 200 ? "ok" : (answer.json["code"] as string);
      };
      return {
        createEndpoint: await outcome("CreateScepEndpoint", {
          scepEndpoint: {
            endpointName: `role-${Math.random().toString(16).slice(2, 10)}`,
            certificateAuthority: issuingCa,
            profile: "profiles/device",
            challengeMode: "CHALLENGE_MODE_NONE",
          },
        }),
        getEndpoint: await outcome("GetScepEndpoint", { name: own["name"] }),
        listEndpoints: await outcome("ListScepEndpoints", {}),
        updateEndpoint: await outcome("UpdateScepEndpoint", {
          scepEndpoint: { name: own["name"], enabled: true },
          updateMask: ["enabled"],
        }),
        rotateRa: await outcome("RotateScepRaCertificate", { name: own["name"] }),
        deleteEndpoint: await outcome("DeleteScepEndpoint", {
          name: (await endpoint(`gone-${Math.random().toString(16).slice(2, 10)}`))["name"],
        }),
      };
    };
    const adminOnly = {
      createEndpoint: "permission_denied",
      getEndpoint: "permission_denied",
      listEndpoints: "permission_denied",
      updateEndpoint: "permission_denied",
      rotateRa: "permission_denied",
      deleteEndpoint: "permission_denied",
    };
    expect(await codes(operatorToken)).toEqual(adminOnly);
    expect(await codes(userToken)).toEqual(adminOnly);
    const everything = Object.fromEntries(Object.keys(adminOnly).map((k) => [k, "ok"]));
    expect(await codes(env.adminToken)).toEqual(everything);
    expect(Object.values(await codes(undefined)).every((code) => code === "unauthenticated")).toBe(true);
  });

  it("answers over real gRPC (@grpc/grpc-js), errors with their gRPC status", async () => {
    const made = await endpoint("mdm-grpc");
    const read = await grpcUnary(
      env.client,
      ScepService.method.getScepEndpoint,
      { name: made["name"] as string },
      bearer(env.adminToken),
    );
    expect(read.endpointName).toBe("mdm-grpc");
    expect(read.raCertificate?.certificateDer).toBeInstanceOf(Uint8Array);
    const denied = await grpcUnary(
      env.client,
      ScepService.method.rotateScepRaCertificate,
      { name: read.name },
      bearer(operatorToken),
    ).catch((err: grpc.ServiceError) => err);
    expect((denied as grpc.ServiceError).code).toBe(grpc.status.PERMISSION_DENIED);
  });

  it("drives endpoints from the CLI", async () => {
    const cli = (args: string[], options: { token?: string; stdin?: string } = {}) =>
      runCli(env, ["scep", ...args], options);

    // The static secret from stdin: never on the command line.
    const made = await cli(
      [
        "endpoint",
        "create",
        "cli-scep",
        "--ca",
        "issuing",
        "--profile",
        "device",
        "--challenge-mode",
        "static",
        "--static-challenge",
        "-",
      ],
      { stdin: "cli static secret\n" },
    );
    expect(made, made.stderr).toMatchObject({ code: 0 });
    expect(made.stdout).toMatch(/^NAME\s+ENDPOINT\s+ENABLED\s+CHALLENGE\s+PROFILE\s+RA NOT AFTER\s+URL/);
    expect(made.stdout).toMatch(
      /scepEndpoints\/\S+\s+cli-scep\s+true\s+static\s+device\s+\S+\s+http\S+\/scep\/cli-scep/,
    );
    const core = await env.gateway.scep.endpoints.getByName("cli-scep");
    expect(env.gateway.scep.endpoints.matchesStaticChallenge(core, "cli static secret")).toBe(true);

    const dynamic = await cli([
      "endpoint",
      "update",
      "cli-scep",
      "--challenge-mode",
      "dynamic",
      "--challenge-lifetime",
      "10m",
      "-o",
      "json",
    ]);
    expect(dynamic, dynamic.stderr).toMatchObject({ code: 0 });
    expect(JSON.parse(dynamic.stdout)).toMatchObject({
      challengeMode: "CHALLENGE_MODE_DYNAMIC",
      challengeLifetime: "600s",
    });
    const bad = await cli(["endpoint", "update", "cli-scep", "--ca-cert-mode", "sideways"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--ca-cert-mode must be one of chain, ca/);

    const before = JSON.parse((await cli(["endpoint", "get", "cli-scep", "-o", "json"])).stdout).raCertificate.serial;
    const rotated = await cli(["endpoint", "rotate-ra", "cli-scep"]);
    expect(rotated, rotated.stderr).toMatchObject({ code: 0 });
    expect(rotated.stdout).toMatch(/^SERIAL\s+NOT BEFORE\s+NOT AFTER/);
    expect(rotated.stdout).not.toContain(before);

    const refused = await cli(["endpoint", "delete", `scepEndpoints/${core.id}`], { token: operatorToken });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/PermissionDenied/);

    const deleted = await cli(["endpoint", "delete", "cli-scep"]);
    expect(deleted).toMatchObject({ code: 0, stdout: expect.stringMatching(/^deleted scepEndpoints\//) });
  });
});
