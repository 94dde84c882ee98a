import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { containsSecret } from "../src/admin/idempotency.ts";
import { CreateExternalAccountKeyResponseSchema } from "../src/gen/chancery/admin/v1/acme_pb.js";
import { runCli } from "./support/chancery-cli.ts";
import { connectJson, startTestGateway, type TestGateway } from "./support/test-gateway.ts";

const acme = "chancery.admin.v1.AcmeService";

/** AcmeService over Connect JSON, as curl or a browser client sends it. */
describe("AcmeService on a running gateway", () => {
  let env: TestGateway;
  let issuingCa: string;
  const call = (method: string, body: unknown, token = env.adminToken) =>
    connectJson(env, `${acme}/${method}`, body, token);

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
  });
  afterAll(async () => {
    await env?.stop();
  });

  it("has the default directory a fresh gateway makes on its issuing CA", async () => {
    const listed = await call("ListAcmeDirectories", {});
    expect(listed.status).toBe(200);
    const [only, ...rest] = listed.json["acmeDirectories"] as Array<Record<string, unknown>>;
    expect(rest).toEqual([]);
    expect(only).toMatchObject({
      displayName: "default",
      directoryUrl: "https://localhost:8443/acme/default/directory",
      certificateAuthority: issuingCa,
      allowedProfiles: ["profiles/tls-server"],
      defaultProfile: "profiles/tls-server",
      authorizationMode: "AUTHORIZATION_MODE_CHALLENGE",
      challengeTypes: ["CHALLENGE_TYPE_HTTP_01", "CHALLENGE_TYPE_DNS_01", "CHALLENGE_TYPE_TLS_ALPN_01"],
      caaCheck: true,
      enabled: true,
      rateLimits: {
        ordersPerAccountPerHour: 300,
        newAccountsPerIpPerHour: 50,
        ordersPerIdentifierSetPerWeek: 100,
      },
    });
    expect(only!["name"]).toMatch(/^acmeDirectories\/[0-9a-f-]{36}$/);
  });

  it("creates a directory (idempotently), updates it by mask, and refuses bad input", async () => {
    const body = {
      acmeDirectory: {
        displayName: "internal",
        certificateAuthority: issuingCa,
        allowedProfiles: ["profiles/tls-server", "profiles/tls-client"],
        authorizationMode: "AUTHORIZATION_MODE_EAB_TRUSTED",
        trustedIdentifiers: ["*.corp.example", "10.0.0.0/8"],
        externalAccountRequired: true,
        caaCheck: false,
        rateLimits: { ordersPerAccountPerHour: 20 },
      },
      requestId: "5f0c7a52-4a53-4cf4-9d0b-8a1e2a0f9c01",
    };
    const created = await call("CreateAcmeDirectory", body);
    expect(created.status).toBe(200);
    expect(created.json).toMatchObject({
      displayName: "internal",
      directoryUrl: "https://localhost:8443/acme/internal/directory",
      defaultProfile: "profiles/tls-server",
      authorizationMode: "AUTHORIZATION_MODE_EAB_TRUSTED",
      externalAccountRequired: true,
      caaCheck: false,
      rateLimits: { ordersPerAccountPerHour: 20, newAccountsPerIpPerHour: 50 },
    });
    expect(created.json["challengeTypes"]).toBeUndefined();
    // AIP-155: the retry gets the first answer instead of ALREADY_EXISTS.
    expect(await call("CreateAcmeDirectory", body)).toEqual(created);
    const again = await call("CreateAcmeDirectory", { ...body, requestId: "" });
    expect(again.json["code"]).toBe("already_exists");

    const name = created.json["name"] as string;
    const updated = await call("UpdateAcmeDirectory", {
      acmeDirectory: {
        name,
        enabled: false,
        displayName: "ignored",
        rateLimits: { ordersPerAccountPerHour: 0, newAccountsPerIpPerHour: 5 },
      },
      updateMask: ["enabled", "rate_limits.orders_per_account_per_hour"],
    });
    expect(updated.status).toBe(200);
    expect(updated.json).toMatchObject({
      displayName: "internal",
      enabled: false,
      rateLimits: { ordersPerAccountPerHour: 300, newAccountsPerIpPerHour: 50 },
      trustedIdentifiers: ["*.corp.example", "10.0.0.0/8"],
    });
    const rename = await call("UpdateAcmeDirectory", {
      acmeDirectory: { name, displayName: "other" },
      updateMask: ["display_name"],
    });
    expect(rename.json["code"]).toBe("invalid_argument");
    const badMode = await call("UpdateAcmeDirectory", {
      acmeDirectory: { name, authorizationMode: "AUTHORIZATION_MODE_CHALLENGE" },
      updateMask: ["authorization_mode"],
    });
    expect(badMode.json).toMatchObject({ code: "invalid_argument" });
    expect(badMode.json["message"]).toMatch(/^challenge_types: at least one is required in challenge mode/);
    expect(await call("GetAcmeDirectory", { name })).toEqual(updated);

    const noChallenges = await call("CreateAcmeDirectory", {
      acmeDirectory: {
        displayName: "broken",
        certificateAuthority: issuingCa,
        allowedProfiles: ["profiles/tls-server"],
      },
    });
    expect(noChallenges.json).toMatchObject({
      code: "invalid_argument",
      message: "challenge_types: at least one is required in challenge mode",
    });
    const missing = await call("GetAcmeDirectory", { name: "acmeDirectories/00000000-0000-4000-8000-000000000000" });
    expect(missing.json["code"]).toBe("not_found");
  });

  it("makes an EAB key shown once, lists keys without it, and revokes", async () => {
    expect(containsSecret(CreateExternalAccountKeyResponseSchema)).toBe(true);
    const directories = (await call("ListAcmeDirectories", {})).json["acmeDirectories"] as Array<{
      name: string;
      displayName: string;
    }>;
    const parent = directories.find((d) => d.displayName === "default")!.name;
    const request = {
      parent,
      externalAccountKey: { label: "build-agent", expireTime: new Date(Date.now() + 86_400_000).toISOString() },
      requestId: "c5a1f0a8-2b8a-4a8e-9a2b-0d3f5e6a7b80",
    };
    const made = await call("CreateExternalAccountKey", request);
    expect(made.status).toBe(200);
    const hmacKey = made.json["hmacKey"] as string;
    expect(Buffer.from(hmacKey, "base64url")).toHaveLength(32);
    const key = made.json["externalAccountKey"] as Record<string, unknown>;
    expect(key).toMatchObject({ label: "build-agent", creator: expect.stringMatching(/^users\//) });
    expect(key["name"]).toBe(`${parent}/externalAccountKeys/${key["keyId"]}`);
    // The secret is never stored for a replay: the retry is refused instead of making a second key.
    const replay = await call("CreateExternalAccountKey", request);
    expect(replay.json["code"]).toBe("already_exists");

    const listed = await call("ListExternalAccountKeys", { parent });
    expect(listed.status).toBe(200);
    expect(listed.json["externalAccountKeys"]).toEqual([key]);
    expect(JSON.stringify(listed.json)).not.toContain(hmacKey);

    const revoked = await call("RevokeExternalAccountKey", { name: key["name"] });
    expect(revoked.status).toBe(200);
    expect(revoked.json["revokeTime"]).toBeDefined();
    const foreign = await call("RevokeExternalAccountKey", {
      name: `${directories.find((d) => d.displayName === "internal")!.name}/externalAccountKeys/${key["keyId"]}`,
    });
    expect(foreign.json["code"]).toBe("not_found");
  });

  it("drives directories and keys from the CLI", async () => {
    const cli = (args: string[]) => runCli(env, ["acme", ...args]);

    const made = await cli([
      "directory",
      "create",
      "cli-dir",
      "--ca",
      "issuing",
      "--profile",
      "tls-server",
      "--mode",
      "eab-trusted",
      "--trusted",
      "*.lab.example",
      "--eab-required",
      "true",
      "--orders-per-hour",
      "12",
    ]);
    expect(made, made.stderr).toMatchObject({ code: 0 });
    expect(made.stdout).toMatch(
      /cli-dir\s+true\s+eab-trusted\s+tls-server\s+required\s+https:\/\/localhost:8443\/acme\/cli-dir\/directory/,
    );
    const updated = await cli(["directory", "update", "cli-dir", "--enabled", "false", "--trusted", ""]);
    expect(updated).toMatchObject({ code: 1 });
    expect(updated.stderr).toMatch(/eab_trusted mode needs at least one pattern/);
    const disabled = await cli(["directory", "update", "cli-dir", "--enabled", "false", "-o", "json"]);
    expect(JSON.parse(disabled.stdout)).toMatchObject({ enabled: false, rateLimits: { ordersPerAccountPerHour: 12 } });

    const key = await cli(["eab", "create", "cli-dir", "--label", "from-cli", "--expires", "7d"]);
    expect(key, key.stderr).toMatchObject({ code: 0 });
    const [, keyId, hmacKey] = /key id:\s+(\S+)\nhmac key:\s+(\S+)/.exec(key.stdout) ?? [];
    expect(Buffer.from(hmacKey!, "base64url")).toHaveLength(32);
    const keys = await cli(["eab", "list", "cli-dir"]);
    expect(keys.stdout).toMatch(new RegExp(`${keyId}\\s+from-cli`));
    expect(keys.stdout).not.toContain(hmacKey);
    expect(await cli(["eab", "revoke", "cli-dir", keyId!])).toMatchObject({ code: 0 });
    const deleted = await cli(["directory", "delete", "cli-dir"]);
    expect(deleted).toMatchObject({ code: 0, stdout: expect.stringMatching(/^deleted acmeDirectories\//) });
  });

  it("refuses every RPC to callers below admin", async () => {
    const operator = await env.gateway.users.create(
      { username: "acme-operator", role: "operator", apiAccess: true },
      { actor: "test" },
    );
    const token = (await env.gateway.tokens.create(operator.id, { actor: "test" })).secret;
    for (const method of ["ListAcmeDirectories", "CreateAcmeDirectory", "CreateExternalAccountKey"]) {
      const refused = await call(method, {}, token);
      expect({ method, status: refused.status, code: refused.json["code"] }).toEqual({
        method,
        status: 403,
        code: "permission_denied",
      });
    }
    const anonymous = await connectJson(env, `${acme}/ListAcmeDirectories`, {});
    expect(anonymous.json["code"]).toBe("unauthenticated");
  });
});
