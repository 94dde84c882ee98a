import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pemEncode } from "../src/core/x509/pem.ts";
import { openssl, opensslCsr } from "../src/core/x509/testing/openssl.ts";
import { runCli } from "./support/chancery-cli.ts";
import { startTestGateway, type TestGateway } from "./support/test-gateway.ts";

/**
 * The CLI's service command groups (token enrollment, profile, cert,
 * request, registry) run as a separate process against a real gateway,
 * each with a happy path and a refusal: JSON output is the proto JSON form,
 * errors name the Connect code and exit non-zero.
 */
describe("chancery CLI command groups against a running gateway", () => {
  let env: TestGateway;
  let scratch: string;

  beforeAll(async () => {
    env = await startTestGateway();
    scratch = mkdtempSync(path.join(tmpdir(), "chancery-cli-"));
  });
  afterAll(async () => {
    await env?.stop();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  const cli = (args: string[], extraEnv: NodeJS.ProcessEnv = {}, stdin?: string) =>
    runCli(env, args, { extraEnv, stdin });
  const ok = async (args: string[], extraEnv: NodeJS.ProcessEnv = {}, stdin?: string) => {
    const result = await cli(args, extraEnv, stdin);
    expect(result, `chancery ${args.join(" ")}`).toMatchObject({ code: 0 });
    return result.stdout;
  };
  const json = async <T = Record<string, unknown>>(args: string[], extraEnv: NodeJS.ProcessEnv = {}) =>
    JSON.parse(await ok([...args, "-o", "json"], extraEnv)) as T;
  const file = (name: string, content: string | Uint8Array) => {
    const at = path.join(scratch, name);
    writeFileSync(at, content);
    return at;
  };

  /** A new user with API access and their first token, made the way the issue asks: enroll, then redeem. */
  async function enrolledUser(username: string, role = "user") {
    const user = await json<{ name: string }>([
      "user",
      "create",
      "--username",
      username,
      "--role",
      role,
      "--api-access",
      "true",
    ]);
    const code = (await ok(["token", "enroll", user.name, "--ttl", "1h"])).trim();
    const token = (await ok(["token", "redeem", code], { CHANCERY_TOKEN: "" })).trim();
    return { name: user.name, token };
  }

  it("token: an admin enrolls a user, the user redeems the code without a token, and a used code is refused", async () => {
    const user = await json<{ name: string }>(["user", "create", "--username", "erin", "--api-access", "true"]);
    const enrolled = await json<{ code: string; enrollment: { name: string; prefix: string; expireTime: string } }>([
      "token",
      "enroll",
      user.name,
      "--ttl",
      "2h",
    ]);
    expect(enrolled.code).toMatch(/^chancery_enr_/);
    expect(enrolled.enrollment).toMatchObject({
      name: `${user.name}/tokenEnrollment`,
      prefix: enrolled.code.slice(0, 19),
    });
    const shown = await ok(["token", "enrollment", "get", user.name]);
    expect(shown).toMatch(/^NAME\s+PREFIX\s+CREATOR\s+CREATED\s+EXPIRES/);
    expect(shown).toContain(enrolled.enrollment.prefix);

    // The code from stdin ("-"), with no token at all.
    const redeemed = await cli(["token", "redeem", "-"], { CHANCERY_TOKEN: "" }, `${enrolled.code}\n`);
    expect(redeemed.code).toBe(0);
    const token = redeemed.stdout.trim();
    expect(token).toMatch(/^chancery_pat_[A-Za-z0-9_-]{49}$/);
    expect(redeemed.stderr).toContain("shown once");
    expect(await ok(["whoami"], { CHANCERY_TOKEN: token })).toMatch(/erin\s+USER/);

    const again = await cli(["token", "redeem", enrolled.code], { CHANCERY_TOKEN: "" });
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/invalid, used or expired enrollment code.*\(Unauthenticated\)/);
    const gone = await cli(["token", "enrollment", "get", user.name]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain("(NotFound)");
    // Not an admin: no codes for others.
    const refused = await cli(["token", "enroll", user.name], { CHANCERY_TOKEN: token });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("(PermissionDenied)");
  });

  it("profile: create from YAML, read as table and proto JSON, update by mask, delete; invalid input is refused", async () => {
    const yaml = file(
      "lab-web.yaml",
      `description: lab web servers
validity: { default: 2592000s, max: 7776000s }
keyUsage: [KEY_USAGE_DIGITAL_SIGNATURE]
extendedKeyUsage: [serverAuth]
san: { allowedTypes: [SUBJECT_ALT_NAME_TYPE_DNS], required: true }
`,
    );
    const created = await ok(["profile", "create", "--file", yaml]);
    expect(created).toMatch(/^NAME\s+DEFAULT\s+MAX/);
    expect(created).toMatch(/profiles\/lab-web\s+30d\s+90d\s+false\s+-\s+lab web servers/);
    expect(await ok(["profile", "list"])).toContain("profiles/lab-web");

    const got = await json<{ name: string; description: string; extendedKeyUsage: string[] }>([
      "profile",
      "get",
      "lab-web",
    ]);
    expect(got).toMatchObject({ name: "profiles/lab-web", extendedKeyUsage: ["serverAuth"] });

    // Round trip: what -o json prints is what --file takes; only the fields the file sets are replaced.
    const patch = file("patch.json", JSON.stringify({ description: "edited through the CLI" }));
    const updated = await json<{ description: string; extendedKeyUsage: string[] }>([
      "profile",
      "update",
      "lab-web",
      "--file",
      patch,
    ]);
    expect(updated).toMatchObject({ description: "edited through the CLI", extendedKeyUsage: ["serverAuth"] });
    const copy = file("copy.json", JSON.stringify({ ...got, name: "profiles/lab-web-copy" }));
    expect(await ok(["profile", "create", "--file", copy])).toContain("profiles/lab-web-copy");

    const invalid = file("bad.yaml", "validity: { default: 7776000s, max: 2592000s }\n");
    const refused = await cli(["profile", "update", "lab-web", "--file", invalid, "--mask", "validity"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/validity\.default.*\(InvalidArgument\)/);
    const notProto = await cli(["profile", "create", "x", "--file", file("junk.json", '{"colour": "blue"}')]);
    expect(notProto.code).toBe(2);
    expect(notProto.stderr).toContain("is not a chancery.admin.v1.Profile");

    // A profile that requires approval changes only through the queue: --propose submits the change there.
    const guarded = file("guarded.json", JSON.stringify({ requiresApproval: { required: true } }));
    await ok(["profile", "update", "lab-web-copy", "--file", guarded]);
    const direct = await cli(["profile", "update", "lab-web-copy", "--file", patch]);
    expect(direct.code).toBe(1);
    expect(direct.stderr).toMatch(/requires approval.*\(FailedPrecondition\)/);
    const proposed = await json<{ kind: string; state: string; profile: string }>([
      "profile",
      "update",
      "lab-web-copy",
      "--file",
      patch,
      "--propose",
      "--comment",
      "reword",
    ]);
    expect(proposed).toMatchObject({
      kind: "KIND_PROFILE_CHANGE",
      state: "STATE_PENDING",
      profile: "profiles/lab-web-copy",
    });

    expect(await ok(["profile", "delete", "lab-web"])).toBe("deleted profiles/lab-web\n");
    const missing = await cli(["profile", "delete", "lab-web"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("(NotFound)");
  });

  it("cert: issue from a CSR through a CA named by display name, list by filter, download PEM, revoke", async () => {
    const csr = file("web.csr", pemEncode("CERTIFICATE REQUEST", opensslCsr({ subject: "/CN=web.example.com" })));
    const issued = await json<{ name: string; serialHex: string; subject: string; profile: string }>([
      "cert",
      "issue",
      "--csr",
      csr,
      "--ca",
      "issuing",
      "--profile",
      "tls-server",
      "--san",
      "web.example.com",
      "--san",
      "dns:www.example.com",
    ]);
    expect(issued).toMatchObject({ subject: "CN=web.example.com", profile: "profiles/tls-server" });

    const listed = await ok(["cert", "list", "--state", "valid", "--san", "www.example", "--ca", "issuing"]);
    expect(listed.split("\n")[0]).toMatch(/^NAME\s+SUBJECT\s+PROFILE\s+STATE\s+NOT AFTER\s+REQUESTER/);
    expect(listed).toMatch(new RegExp(`${issued.name}\\s+CN=web.example.com\\s+tls-server\\s+VALID`));
    const none = await json<unknown[]>(["cert", "list", "--filter", 'san : "nothing-like-this"']);
    expect(none).toEqual([]);

    const leaf = path.join(scratch, "web.pem");
    await ok(["cert", "pem", issued.serialHex, "--out", leaf]);
    const subject = openssl(["x509", "-noout", "-subject", "-in", leaf]);
    expect(subject.stdout).toMatch(/CN\s*=\s*web\.example\.com/);
    const chain = await ok(["cert", "chain", issued.name]);
    expect(chain.match(/-----BEGIN CERTIFICATE-----/g)?.length).toBeGreaterThanOrEqual(2);

    const revoked = await ok(["cert", "revoke", issued.serialHex, "--reason", "key-compromise"]);
    expect(revoked).toMatch(/REVOKED/);
    expect((await json<{ revocationReason: string }>(["cert", "get", issued.name])).revocationReason).toBe(
      "REVOCATION_REASON_KEY_COMPROMISE",
    );

    const unknown = await cli(["cert", "get", "00ff00ff"]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("(NotFound)");
    const badReason = await cli(["cert", "revoke", issued.serialHex, "--reason", "because"]);
    expect(badReason.code).toBe(2);
    expect(badReason.stderr).toContain("--reason must be one of");
    const noSans = await cli(["cert", "issue", "--csr", csr, "--ca", "no-such-ca", "--profile", "tls-server"]);
    expect(noSans.code).toBe(2);
    expect(noSans.stderr).toContain("--ca no-such-ca: no CA you may use has that display name");
  });

  it("request: a user submits, an admin lists with counts and approves, the user exports a PKCS#12; rejects need a reason", async () => {
    const alice = await enrolledUser("alice-requests");
    const before = await json<{ pending?: string }>(["request", "counts"]);
    const submitted = await json<{ name: string; state: string }>(
      [
        "request",
        "submit",
        "--cn",
        "app.example.com",
        "--san",
        "app.example.com",
        "--key",
        "ecdsa-p256",
        "--comment",
        "for the app",
      ],
      { CHANCERY_TOKEN: alice.token },
    );
    expect(submitted.state).toBe("STATE_PENDING");
    const id = submitted.name.slice("requests/".length);

    const pending = await ok(["request", "list", "--state", "pending"]);
    expect(pending.split("\n")[0]).toMatch(/^NAME\s+STATE\s+KIND\s+REQUESTER/);
    expect(pending).toContain(submitted.name);
    // The totals line counts everything the admin sees, profile changes of other tests included.
    const total = Number(before.pending ?? 0) + 1;
    expect(pending).toMatch(new RegExp(`pending ${total}\\s+issued \\d+\\s+rejected \\d+`));
    expect(await json<{ pending: string }>(["request", "counts"])).toMatchObject({ pending: String(total) });

    // The requester cannot approve their own request.
    const own = await cli(["request", "approve", id, "--ca", "issuing", "--profile", "tls-server"], {
      CHANCERY_TOKEN: alice.token,
    });
    expect(own.code).toBe(1);
    expect(own.stderr).toContain("(PermissionDenied)");

    const approved = await json<{ state: string; certificate: string }>([
      "request",
      "approve",
      id,
      "--ca",
      "issuing",
      "--profile",
      "tls-server",
    ]);
    expect(approved.state).toBe("STATE_ISSUED");
    expect(approved.certificate).toMatch(/^certificates\/[0-9a-f]+$/);

    const p12 = path.join(scratch, "app.p12");
    await ok(["request", "export-p12", id, "--out", p12], {
      CHANCERY_TOKEN: alice.token,
      CHANCERY_P12_PASSPHRASE: "correct horse battery",
    });
    const parsed = openssl(["pkcs12", "-in", p12, "-nokeys", "-passin", "pass:correct horse battery"]);
    expect(parsed.ok, parsed.stderr).toBe(true);
    expect(parsed.stdout).toContain("app.example.com");

    const second = await json<{ name: string }>(
      ["request", "submit", "--free-form", "--comment", "a cert for the lab"],
      {
        CHANCERY_TOKEN: alice.token,
      },
    );
    const noReason = await cli(["request", "reject", second.name]);
    expect(noReason.code).toBe(2);
    expect(noReason.stderr).toContain("--reason is required");
    const rejected = await json<{ state: string; rejectionReason: string }>([
      "request",
      "reject",
      second.name,
      "--reason",
      "use the lab CA",
    ]);
    expect(rejected).toMatchObject({ state: "STATE_REJECTED", rejectionReason: "use the lab CA" });
    expect(await ok(["request", "get", second.name])).toMatch(/STATE_REJECTED|REJECTED/);
  });

  it("registry: lists the built-ins, creates, reads and deletes OID and policy entries; built-ins stay", async () => {
    expect(await ok(["registry", "oid", "list"])).toMatch(/objectIdentifiers\/upn\s+1\.3\.6\.1\.4\.1\.311\.20\.2\.3/);
    const created = await json<{ name: string; placement: string }>([
      "registry",
      "oid",
      "create",
      "lab-tag",
      "--oid",
      "1.3.6.1.4.1.99999.42",
      "--display-name",
      "Lab tag",
      "--placement",
      "extension",
      "--value-type",
      "utf8-string",
    ]);
    expect(created).toMatchObject({ name: "objectIdentifiers/lab-tag", placement: "PLACEMENT_EXTENSION" });
    expect(await ok(["registry", "oid", "get", "lab-tag"])).toContain("Lab tag");
    expect(await ok(["registry", "oid", "delete", "objectIdentifiers/lab-tag"])).toBe(
      "deleted objectIdentifiers/lab-tag\n",
    );
    const builtin = await cli(["registry", "oid", "delete", "upn"]);
    expect(builtin.code).toBe(1);
    expect(builtin.stderr).toContain("(FailedPrecondition)");

    expect(await ok(["registry", "policy", "list"])).toContain("certificatePolicies/qes-individual");
    await ok([
      "registry",
      "policy",
      "create",
      "lab-policy",
      "--oid",
      "1.3.6.1.4.1.99999.43",
      "--display-name",
      "Lab policy",
      "--cps-uri",
      "https://pki.example.com/cps",
    ]);
    expect(await json<{ cpsUri: string }>(["registry", "policy", "get", "lab-policy"])).toMatchObject({
      cpsUri: "https://pki.example.com/cps",
    });
    await ok(["registry", "policy", "delete", "lab-policy"]);
    const gone = await cli(["registry", "policy", "get", "lab-policy"]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain("(NotFound)");
  });

  it("request submit --san otherName:upn:...: the request carries the UPN as the registry names it", async () => {
    const submitted = await json<{
      name: string;
      subjectAltNames: { type: string; value: string; otherName: string }[];
    }>(["request", "submit", "--cn", "alice", "--san", "otherName:upn:alice@corp.example", "--key", "ecdsa-p256"]);
    expect(submitted.subjectAltNames).toEqual([
      { type: "TYPE_OTHER_NAME", value: "alice@corp.example", otherName: "upn" },
    ]);
    await ok(["request", "reject", submitted.name.slice("requests/".length), "--reason", "test over"]);
    const malformed = await cli(["request", "submit", "--cn", "alice", "--san", "otherName:alice@corp.example"]);
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toContain("otherName:<registry id>:<value>");
  });
});
