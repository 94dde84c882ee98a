import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { asn1parse } from "../../src/core/x509/testing/openssl.ts";
import { runCli } from "../support/chancery-cli.ts";
import { connectJson } from "../support/test-gateway.ts";
import { basicAuth, makeCsr } from "./est-client.ts";
import { type EstTestEnv, startEstTestEnv } from "./est-test-env.ts";

let t: EstTestEnv;
beforeAll(async () => {
  t = await startEstTestEnv();
});
afterAll(async () => {
  await t?.stop();
});

const call = (procedure: string, body: unknown) =>
  connectJson(t.env, `chancery.admin.v1.EstService/${procedure}`, body, t.env.adminToken);

describe("EstService (admin API, Connect JSON)", () => {
  it("shows the default label a fresh gateway made, and creates, updates and deletes labels", async () => {
    const listed = await call("ListEstLabels", {});
    expect(listed.status).toBe(200);
    const labels = listed.json["estLabels"] as Array<Record<string, unknown>>;
    const fallback = labels.find((l) => l["label"] === "default")!;
    expect(fallback).toMatchObject({ defaultLabel: true, authMode: "AUTH_MODE_EITHER", profile: "profiles/device" });
    expect(fallback["url"]).toBe("https://localhost:8444/.well-known/est/default");

    const created = await call("CreateEstLabel", {
      estLabel: {
        label: "routers",
        certificateAuthority: `certificateAuthorities/${t.issuingId}`,
        profile: "profiles/device",
        authMode: "AUTH_MODE_CERTIFICATE",
        externalTrustAnchors: [Buffer.from(readFileSync(path.join(t.env.dataDir, "root-ca.pem"))).toString("base64")],
        channelBindingRequired: true,
      },
    });
    expect(created.status, JSON.stringify(created.json)).toBe(200);
    expect(created.json).toMatchObject({ label: "routers", channelBindingRequired: true, secretLifetime: "86400s" });
    const name = created.json["name"] as string;

    // Taking the default mark moves it.
    const updated = await call("UpdateEstLabel", {
      estLabel: { name, defaultLabel: true, serverKeygenAllowed: true },
      updateMask: ["default_label", "server_keygen_allowed"],
    });
    expect(updated.json).toMatchObject({ defaultLabel: true, serverKeygenAllowed: true, channelBindingRequired: true });
    const old = await call("GetEstLabel", { name: fallback["name"] });
    expect(old.json["defaultLabel"]).toBeUndefined();
    const served = await t.call({ method: "GET", path: "/.well-known/est/csrattrs" });
    // routers requires the channel binding: its csrattrs name challengePassword.
    expect(asn1parse(Buffer.from(served.text().replace(/\s+/g, ""), "base64"))).toContain("challengePassword");
    await call("UpdateEstLabel", {
      estLabel: { name: fallback["name"], defaultLabel: true },
      updateMask: ["default_label"],
    });

    const refused = await call("CreateEstLabel", {
      estLabel: {
        label: "no-anchor",
        certificateAuthority: `certificateAuthorities/${t.issuingId}`,
        profile: "profiles/device",
        authMode: "AUTH_MODE_CERTIFICATE",
      },
    });
    expect(refused.status).toBe(400);
    expect(refused.json["message"]).toMatch(/trust anchor/);
    const ca = await call("CreateEstLabel", {
      estLabel: {
        label: "ca-profile",
        certificateAuthority: `certificateAuthorities/${t.issuingId}`,
        profile: "profiles/nope",
        authMode: "AUTH_MODE_BASIC",
      },
    });
    expect(ca.status).toBe(400);

    expect((await call("DeleteEstLabel", { name })).status).toBe(200);
    expect((await call("GetEstLabel", { name })).status).toBe(404);
  });
});

describe("chancery est (CLI)", () => {
  const cli = (args: string[]) => runCli(t.env, args);

  it("creates a label, mints a secret (chancery secret) a device enrolls with, and reports refusals", async () => {
    const created = await cli(["est", "label", "create", "iot", "--ca", "issuing", "--auth", "basic", "-o", "json"]);
    expect(created.code, created.stderr).toBe(0);
    expect(JSON.parse(created.stdout)).toMatchObject({ label: "iot", authMode: "AUTH_MODE_BASIC" });
    const updated = await cli(["est", "label", "update", "iot", "--server-keygen", "true"]);
    expect(updated.code, updated.stderr).toBe(0);
    expect(updated.stdout).toMatch(/iot/);
    const secret = await cli(["secret", "create", "--est-label", "iot", "--subject", "CN=cli-device", "--ttl", "1h"]);
    expect(secret.code, secret.stderr).toBe(0);
    const enroll = await t.call({
      method: "POST",
      path: "/.well-known/est/iot/simpleenroll",
      headers: { "Content-Type": "application/pkcs10", Authorization: basicAuth("cli-device", secret.stdout.trim()) },
      body: makeCsr({ subject: [{ type: "CN", value: "cli-device" }] }).base64,
    });
    expect(enroll.status, enroll.text()).toBe(200);
    const listed = await cli(["secret", "list", "--est-label", "iot"]);
    expect(listed.stdout).toMatch(/certificate:[0-9a-f]+/);
    const missing = await cli(["est", "label", "get", "no-such-label"]);
    expect(missing.code).toBe(2);
    const bad = await cli(["est", "label", "create", "bad name", "--ca", "issuing"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/InvalidArgument/);
  });
});
