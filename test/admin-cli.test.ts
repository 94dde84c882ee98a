import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "./support/chancery-cli.ts";
import { startTestGateway, type TestGateway } from "./support/test-gateway.ts";

describe("chancery admin CLI against a running gateway", () => {
  let env: TestGateway;

  beforeAll(async () => {
    env = await startTestGateway({ adminUsername: "root-admin" });
  });
  afterAll(async () => env?.stop());

  const cli = (args: string[], extraEnv: NodeJS.ProcessEnv = {}) => runCli(env, args, { extraEnv });

  it("answers whoami, lists CAs as a table and as JSON, and verifies the audit chain", async () => {
    const me = await cli(["whoami"]);
    expect(me.code).toBe(0);
    expect(me.stdout).toMatch(/root-admin\s+ADMIN/);
    const table = await cli(["ca", "list"]);
    expect(table.stdout.split("\n")[0]).toMatch(/^NAME\s+DISPLAY NAME\s+KIND\s+STATE/);
    expect(table.stdout).toMatch(/issuing\s+INTERMEDIATE\s+ACTIVE/);
    const json = JSON.parse((await cli(["ca", "list", "-o", "json"])).stdout) as Array<{ displayName: string }>;
    expect(json.map((c) => c.displayName).sort()).toEqual(["issuing", "root"]);
    const verify = await cli(["audit", "verify"]);
    expect(verify).toMatchObject({ code: 0 });
    expect(verify.stdout).toMatch(/audit chain intact: \d+ events/);
  });

  it("creates a user and a CA, and the audit log shows both", async () => {
    const user = await cli(["user", "create", "--username", "bob", "--role", "operator", "--api-access", "true"]);
    expect(user.code).toBe(0);
    expect(user.stdout).toMatch(/bob\s+OPERATOR/);
    const ca = await cli([
      "ca",
      "create-root",
      "--name",
      "cli-root",
      "--cn",
      "CLI Root",
      "--key",
      "ed25519",
      "--days",
      "30",
    ]);
    expect(ca.code).toBe(0);
    const events = await cli(["audit", "list", "--action", "ca.", "-o", "json"]);
    expect(events.stdout).toContain("ca.create_root");
    const exported = (await cli(["audit", "export", "--action", "user."])).stdout.trim().split("\n");
    expect(exported.map((line) => (JSON.parse(line) as { action: string }).action)).toContain("user.create");
  });

  it("fails with the server's reason and a non-zero exit code, and explains bad usage", async () => {
    const anonymous = await cli(["ca", "list"], { CHANCERY_TOKEN: "" });
    expect(anonymous.code).toBe(1);
    expect(anonymous.stderr).toMatch(/Unauthenticated/);
    const usage = await cli(["ca", "create-root", "--name", "x"]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("--cn is required");
  });
});
