import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { containsSecret } from "../src/admin/idempotency.ts";
import { grpcUnary } from "../src/admin/testing/grpc-test-client.ts";
import {
  CreateEnrollmentSecretResponseSchema,
  EnrollmentSecretService,
} from "../src/gen/chancery/admin/v1/enrollment_secret_pb.js";
import { findEnrollmentSecretHash } from "../src/store/enrollment-secret-store.ts";
import { runCli } from "./support/chancery-cli.ts";
import { bearer, connectJson, startTestGateway, type TestGateway } from "./support/test-gateway.ts";

const service = "chancery.admin.v1.EnrollmentSecretService";

type Json = Record<string, unknown>;

/**
 * EnrollmentSecretService over Connect JSON (as curl sends it), over real
 * gRPC, and through `chancery secret`: one-time secrets of SCEP endpoints
 * and EST labels alike, and who may handle which.
 */
describe("EnrollmentSecretService on a running gateway", () => {
  let env: TestGateway;
  let issuingCa: string;
  let otherCa: string;
  let operatorToken: string;
  let userToken: string;
  /** Scopes on the issuing CA (assigned to the operator) and on another CA, as the API names them. */
  let scepOwn: string;
  let scepForeign: string;
  let estOwn: string;
  let estForeign: string;
  const call = (method: string, body: unknown, token = env.adminToken) =>
    connectJson(env, `${service}/${method}`, body, token);

  async function admin(procedure: string, body: unknown): Promise<Json> {
    const answer = await connectJson(env, `chancery.admin.v1.${procedure}`, body, env.adminToken);
    expect(answer.status, JSON.stringify(answer.json)).toBe(200);
    return answer.json;
  }

  async function scepEndpoint(endpointName: string, ca: string, mode = "CHALLENGE_MODE_DYNAMIC"): Promise<string> {
    const made = await admin("ScepService/CreateScepEndpoint", {
      scepEndpoint: {
        endpointName,
        certificateAuthority: ca,
        profile: "profiles/device",
        challengeMode: mode,
        challengeLifetime: "900s",
        ...(mode === "CHALLENGE_MODE_STATIC" ? { staticChallenge: "a static secret" } : {}),
      },
    });
    return made["name"] as string;
  }

  async function estLabel(label: string, ca: string, authMode = "AUTH_MODE_BASIC"): Promise<string> {
    const made = await admin("EstService/CreateEstLabel", {
      estLabel: {
        label,
        certificateAuthority: ca,
        profile: "profiles/device",
        authMode,
        secretLifetime: "7200s",
        ...(authMode === "AUTH_MODE_CERTIFICATE" ? { clientCertificateAuthorities: [ca] } : {}),
      },
    });
    return made["name"] as string;
  }

  async function account(username: string, role: "user" | "operator", assignedCaIds: string[] = []) {
    const user = await env.gateway.users.create({ username, role, apiAccess: true }, { actor: "test" });
    if (assignedCaIds.length > 0) await env.gateway.users.update(user.id, { assignedCaIds }, { actor: "test" });
    return (await env.gateway.tokens.create(user.id, { actor: "test" })).secret;
  }

  const idOf = (name: string) => name.slice(name.lastIndexOf("/") + 1);
  const lifetimeMs = (record: Json) =>
    new Date(record["expireTime"] as string).getTime() - new Date(record["createTime"] as string).getTime();

  beforeAll(async () => {
    env = await startTestGateway();
    const cas = await admin("CertificateAuthorityService/ListCertificateAuthorities", {});
    const list = cas["certificateAuthorities"] as Array<{ name: string; displayName: string }>;
    issuingCa = list.find((ca) => ca.displayName === "issuing")!.name;
    const other = await admin("CertificateAuthorityService/CreateRootCertificateAuthority", {
      displayName: "secrets-other-root",
      subject: [{ type: "CN", value: "Secrets Other Root" }],
      keyAlgorithm: "KEY_ALGORITHM_ECDSA_P256",
      validityDays: 30,
    });
    otherCa = other["name"] as string;
    operatorToken = await account("secrets-operator", "operator", [idOf(issuingCa)]);
    userToken = await account("secrets-user", "user");
    scepOwn = await scepEndpoint("mdm-own", issuingCa);
    scepForeign = await scepEndpoint("mdm-foreign", otherCa);
    estOwn = await estLabel("routers-own", issuingCa);
    estForeign = await estLabel("routers-foreign", otherCa);
  });
  afterAll(async () => {
    await env?.stop();
  });

  it("mints secrets for an endpoint and a label, shown once and kept as a hash, idempotently refused on replay", async () => {
    expect(containsSecret(CreateEnrollmentSecretResponseSchema)).toBe(true);
    const request = {
      enrollmentSecret: {
        scepEndpoint: scepOwn,
        boundSubject: "cn=device-1, O=Example",
        boundSubjectAltNames: ["DNS:Device-1.Example"],
      },
      ttl: "600s",
      requestId: "2b7c9e1f-0a3d-4c5e-8f6a-1b2c3d4e5f60",
    };
    const minted = await call("CreateEnrollmentSecret", request);
    expect(minted.status, JSON.stringify(minted.json)).toBe(200);
    const secret = minted.json["secret"] as string;
    expect(secret).toMatch(/^[0-9a-f]{40}$/);
    const record = minted.json["enrollmentSecret"] as Json;
    expect(record).toMatchObject({
      name: expect.stringMatching(/^enrollmentSecrets\/[0-9a-f-]{36}$/),
      scepEndpoint: scepOwn,
      boundSubject: "CN=device-1,O=Example",
      boundSubjectAltNames: ["dns:device-1.example"],
      creator: expect.stringMatching(/^users\//),
    });
    expect(record).not.toHaveProperty("estLabel");
    expect(lifetimeMs(record)).toBe(600_000);
    const hash = await findEnrollmentSecretHash(env.gateway.pool, idOf(record["name"] as string));
    expect(hash?.toString("hex")).not.toContain(secret);
    // The secret is never kept for a replay: the retry is refused instead of minting a second one.
    expect((await call("CreateEnrollmentSecret", request)).json["code"]).toBe("already_exists");

    // Without a ttl: the endpoint's challenge_lifetime, the label's secret_lifetime.
    const scepPlain = await call("CreateEnrollmentSecret", { enrollmentSecret: { scepEndpoint: scepOwn } });
    expect(lifetimeMs(scepPlain.json["enrollmentSecret"] as Json)).toBe(900_000);
    const estPlain = await call("CreateEnrollmentSecret", { enrollmentSecret: { estLabel: estOwn } });
    expect(estPlain.status, JSON.stringify(estPlain.json)).toBe(200);
    expect(estPlain.json["enrollmentSecret"]).toMatchObject({ estLabel: estOwn });
    expect(lifetimeMs(estPlain.json["enrollmentSecret"] as Json)).toBe(7_200_000);

    const got = await call("GetEnrollmentSecret", { name: record["name"] });
    expect(got.json).toEqual(record);
    expect(JSON.stringify(got.json)).not.toContain(secret);
  });

  it("refuses what cannot be minted, with the field to fix", async () => {
    const refused = async (body: Json) => (await call("CreateEnrollmentSecret", body)).json;
    expect(await refused({})).toMatchObject({
      code: "invalid_argument",
      message: expect.stringMatching(/^enrollment_secret\.scep_endpoint or enrollment_secret\.est_label is required/),
    });
    expect(await refused({ enrollmentSecret: { scepEndpoint: estOwn } })).toMatchObject({
      code: "invalid_argument",
      message: expect.stringMatching(/^enrollment_secret\.scep_endpoint must look like "scepEndpoints\/\{id\}"/),
    });
    const scope = { scepEndpoint: scepOwn };
    expect((await refused({ enrollmentSecret: scope, ttl: "5s" }))["message"]).toMatch(/^ttl: /);
    expect((await refused({ enrollmentSecret: scope, ttl: "1.5s" }))["message"]).toMatch(/^ttl must be/);
    expect((await refused({ enrollmentSecret: { ...scope, boundSubject: "CN" } }))["message"]).toMatch(
      /^enrollment_secret\.bound_subject: /,
    );
    expect((await refused({ enrollmentSecret: { ...scope, boundSubjectAltNames: ["x"] } }))["message"]).toMatch(
      /^enrollment_secret\.bound_subject_alt_names: /,
    );
    // Only where the protocol takes one-time secrets: a dynamic endpoint, a label that accepts HTTP Basic.
    const staticEndpoint = await scepEndpoint("mdm-static", issuingCa, "CHALLENGE_MODE_STATIC");
    expect(await refused({ enrollmentSecret: { scepEndpoint: staticEndpoint } })).toMatchObject({
      code: "failed_precondition",
      message: expect.stringMatching(/one-time challenges need dynamic mode/),
    });
    const certificateLabel = await estLabel("idevid", issuingCa, "AUTH_MODE_CERTIFICATE");
    expect(await refused({ enrollmentSecret: { estLabel: certificateLabel } })).toMatchObject({
      code: "failed_precondition",
      message: expect.stringMatching(/client certificates only/),
    });
    const unknown = "00000000-0000-4000-8000-000000000000";
    expect(await refused({ enrollmentSecret: { estLabel: `estLabels/${unknown}` } })).toMatchObject({
      code: "not_found",
      message: `no EST label with id ${unknown}`,
    });
  });

  it("lists a scope's secrets oldest first, a page at a time, shows what spent one, and revokes", async () => {
    const endpoint = await scepEndpoint("mdm-list", issuingCa);
    const names: string[] = [];
    const secrets: string[] = [];
    for (let i = 0; i < 3; i++) {
      const made = await call("CreateEnrollmentSecret", { enrollmentSecret: { scepEndpoint: endpoint } });
      names.push((made.json["enrollmentSecret"] as Json)["name"] as string);
      secrets.push(made.json["secret"] as string);
    }
    // Spent by an enrolment (the SCEP front end's call), which the list then shows.
    const spent = await env.gateway.enrollmentSecrets.spend({
      scope: { kind: "scep_endpoint", id: idOf(endpoint) },
      secret: secrets[0]!,
      usedBy: "transaction-1",
      csrSubject: "CN=x",
      csrSans: [],
    });
    expect(spent).toMatchObject({ ok: true });

    const listed = await call("ListEnrollmentSecrets", { scepEndpoint: endpoint });
    expect(listed.status).toBe(200);
    const all = listed.json["enrollmentSecrets"] as Json[];
    expect(all.map((s) => s["name"])).toEqual(names);
    expect(all[0]).toMatchObject({ usedBy: "transaction-1", useTime: expect.any(String) });
    for (const secret of secrets) expect(JSON.stringify(listed.json)).not.toContain(secret);
    const firstPage = await call("ListEnrollmentSecrets", { scepEndpoint: endpoint, pageSize: 2 });
    expect(firstPage.json["enrollmentSecrets"]).toEqual(all.slice(0, 2));
    const secondPage = await call("ListEnrollmentSecrets", {
      scepEndpoint: endpoint,
      pageSize: 2,
      pageToken: firstPage.json["nextPageToken"],
    });
    expect(secondPage.json["enrollmentSecrets"]).toEqual(all.slice(2));
    expect(secondPage.json["nextPageToken"]).toBeUndefined();
    // Every secret, unscoped (admins): both protocols'.
    const everything = (await call("ListEnrollmentSecrets", { pageSize: 1000 })).json["enrollmentSecrets"] as Json[];
    expect(everything.some((s) => s["estLabel"])).toBe(true);
    expect(everything.map((s) => s["name"])).toEqual(expect.arrayContaining(names));

    const revoked = await call("RevokeEnrollmentSecret", { name: names[1] });
    expect(revoked.status).toBe(200);
    expect(revoked.json["revokeTime"]).toBeDefined();
    const usedOne = await call("RevokeEnrollmentSecret", { name: names[0] });
    expect(usedOne.json).toMatchObject({
      code: "failed_precondition",
      message: expect.stringMatching(/transaction-1/),
    });
    const spentAfterRevoke = await env.gateway.enrollmentSecrets.spend({
      scope: { kind: "scep_endpoint", id: idOf(endpoint) },
      secret: secrets[1]!,
      usedBy: "transaction-2",
      csrSubject: "CN=x",
      csrSans: [],
    });
    expect(spentAfterRevoke).toEqual({ ok: false, reason: "revoked" });
    expect((await call("RevokeEnrollmentSecret", { name: endpoint })).json["code"]).toBe("invalid_argument");
    expect((await call("GetEnrollmentSecret", { name: "enrollmentSecrets/nope" })).json["code"]).toBe("not_found");
  });

  it("lets operators handle the secrets of their CAs' endpoints and labels only, users nothing, admins everything", async () => {
    const codes = async (token: string | undefined) => {
      const outcome = async (method: string, body: unknown) => {
        // Without a token: no Authorization header at all (call() would send the admin's).
        const answer = token ? await call(method, body, token) : await connectJson(env, `${service}/${method}`, body);
        return answer.status === 200 ? "ok" : (answer.json["code"] as string);
      };
      const cases: Record<string, string> = {};
      for (const [scopeName, scope] of Object.entries({
        scepOwn: { scepEndpoint: scepOwn },
        scepForeign: { scepEndpoint: scepForeign },
        estOwn: { estLabel: estOwn },
        estForeign: { estLabel: estForeign },
      })) {
        // Minted by the admin, for the calls on an existing secret.
        const minted = await call("CreateEnrollmentSecret", { enrollmentSecret: scope });
        const name = (minted.json["enrollmentSecret"] as Json)["name"];
        cases[`mint ${scopeName}`] = await outcome("CreateEnrollmentSecret", { enrollmentSecret: scope });
        cases[`list ${scopeName}`] = await outcome("ListEnrollmentSecrets", scope);
        cases[`get ${scopeName}`] = await outcome("GetEnrollmentSecret", { name });
        cases[`revoke ${scopeName}`] = await outcome("RevokeEnrollmentSecret", { name });
      }
      cases["list all"] = await outcome("ListEnrollmentSecrets", {});
      return cases;
    };
    const expected = (own: string, foreign: string, all: string) => ({
      ...Object.fromEntries(
        ["scepOwn", "estOwn"].flatMap((scope) => ["mint", "list", "get", "revoke"].map((m) => [`${m} ${scope}`, own])),
      ),
      ...Object.fromEntries(
        ["scepForeign", "estForeign"].flatMap((scope) =>
          ["mint", "list", "get", "revoke"].map((m) => [`${m} ${scope}`, foreign]),
        ),
      ),
      "list all": all,
    });
    expect(await codes(operatorToken)).toEqual(expected("ok", "not_found", "permission_denied"));
    expect(await codes(userToken)).toEqual(expected("permission_denied", "permission_denied", "permission_denied"));
    expect(await codes(env.adminToken)).toEqual(expected("ok", "ok", "ok"));
    expect(await codes(undefined)).toEqual(expected("unauthenticated", "unauthenticated", "unauthenticated"));

    // Hidden in the words of a scope, or a secret, that does not exist.
    const hidden = await call("ListEnrollmentSecrets", { scepEndpoint: scepForeign }, operatorToken);
    expect(hidden.json["message"]).toBe(`no SCEP endpoint with id ${idOf(scepForeign)}`);
    const foreignLabel = await call(
      "CreateEnrollmentSecret",
      { enrollmentSecret: { estLabel: estForeign } },
      operatorToken,
    );
    expect(foreignLabel.json["message"]).toBe(`no EST label with id ${idOf(estForeign)}`);
    const foreignSecret = (
      (await call("CreateEnrollmentSecret", { enrollmentSecret: { estLabel: estForeign } })).json[
        "enrollmentSecret"
      ] as Json
    )["name"] as string;
    const hiddenSecret = await call("GetEnrollmentSecret", { name: foreignSecret }, operatorToken);
    expect(hiddenSecret.json["message"]).toBe(`no enrollment secret with id ${idOf(foreignSecret)}`);

    // The operator's secret is audited under the operator.
    const minted = await call("CreateEnrollmentSecret", { enrollmentSecret: { scepEndpoint: scepOwn } }, operatorToken);
    const byAdmin = await call("CreateEnrollmentSecret", { enrollmentSecret: { scepEndpoint: scepOwn } });
    expect((minted.json["enrollmentSecret"] as Json)["creator"]).not.toBe(
      (byAdmin.json["enrollmentSecret"] as Json)["creator"],
    );
  });

  it("answers over real gRPC (@grpc/grpc-js)", async () => {
    const minted = await grpcUnary(
      env.client,
      EnrollmentSecretService.method.createEnrollmentSecret,
      { enrollmentSecret: { scope: { case: "estLabel", value: estOwn } }, ttl: { seconds: 120n } },
      bearer(operatorToken),
    );
    expect(minted.secret).toMatch(/^[0-9a-f]{40}$/);
    expect(minted.enrollmentSecret?.scope).toEqual({ case: "estLabel", value: estOwn });
    const read = await grpcUnary(
      env.client,
      EnrollmentSecretService.method.getEnrollmentSecret,
      { name: minted.enrollmentSecret!.name },
      bearer(operatorToken),
    );
    expect(read.expireTime).toEqual(minted.enrollmentSecret?.expireTime);
  });

  it("drives secrets from the CLI (chancery secret), for endpoints and labels named as admins and operators can", async () => {
    const cli = (args: string[], token = env.adminToken) => runCli(env, ["secret", ...args], { token });

    const minted = await cli([
      "create",
      "--scep-endpoint",
      "mdm-own",
      "--subject",
      "CN=cli-device",
      "--san",
      "dns:cli-device.example",
      "--ttl",
      "5m",
    ]);
    expect(minted, minted.stderr).toMatchObject({ code: 0 });
    const secret = minted.stdout.trim();
    expect(secret).toMatch(/^[0-9a-f]{40}$/);
    expect(minted.stderr).toMatch(/shown once/);
    const id = /enrollmentSecrets\/([0-9a-f-]{36})/.exec(minted.stderr)![1]!;
    const listed = await cli(["list", "--scep-endpoint", "mdm-own"]);
    expect(listed.stdout).toMatch(/^ID\s+SCOPE\s+STATE\s+SUBJECT\s+SANS/);
    expect(listed.stdout).toMatch(
      new RegExp(`${id}\\s+${scepOwn}\\s+active\\s+CN=cli-device\\s+dns:cli-device.example`),
    );
    expect(listed.stdout).not.toContain(secret);
    const got = await cli(["get", id, "-o", "json"]);
    expect(JSON.parse(got.stdout)).toMatchObject({ name: `enrollmentSecrets/${id}`, scepEndpoint: scepOwn });
    const revoked = await cli(["revoke", `enrollmentSecrets/${id}`]);
    expect(revoked, revoked.stderr).toMatchObject({ code: 0 });
    expect(revoked.stdout).toMatch(new RegExp(`${id}\\s+${scepOwn}\\s+revoked`));

    const forLabel = await cli(["create", "--est-label", "routers-own", "-o", "json"]);
    expect(forLabel, forLabel.stderr).toMatchObject({ code: 0 });
    expect(JSON.parse(forLabel.stdout)).toMatchObject({
      secret: expect.stringMatching(/^[0-9a-f]{40}$/),
      enrollmentSecret: { estLabel: estOwn },
    });

    // An operator names the scope by its id: looking a name up is for admins.
    const byName = await cli(["create", "--scep-endpoint", "mdm-own"], operatorToken);
    expect(byName.code).toBe(2);
    expect(byName.stderr).toMatch(/needs the admin role: give scepEndpoints\/ID/);
    const labelByName = await cli(["create", "--est-label", "routers-own"], operatorToken);
    expect(labelByName.code).toBe(2);
    expect(labelByName.stderr).toMatch(/needs the admin role: give estLabels\/ID/);
    const byId = await cli(["create", "--scep-endpoint", idOf(scepOwn)], operatorToken);
    expect(byId, byId.stderr).toMatchObject({ code: 0 });
    const foreign = await cli(["list", "--est-label", estForeign], operatorToken);
    expect(foreign.code).toBe(1);
    expect(foreign.stderr).toMatch(/NotFound/);

    const both = await cli(["create", "--scep-endpoint", "mdm-own", "--est-label", "routers-own"]);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/not both/);
    const neither = await cli(["create"]);
    expect(neither.code).toBe(2);
    expect(neither.stderr).toMatch(/--scep-endpoint or --est-label is required/);
  });
});
