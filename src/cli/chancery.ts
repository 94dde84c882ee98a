import { parseArgs } from "node:util";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { AuditEventSchema } from "../gen/chancery/admin/v1/audit_pb.js";
import {
  CertificateAuthority_Kind,
  CertificateAuthority_State,
  CertificateAuthoritySchema,
  KeyAlgorithm,
} from "../gen/chancery/admin/v1/certificate_authority_pb.js";
import { CreateTokenResponseSchema, PersonalAccessTokenSchema } from "../gen/chancery/admin/v1/token_pb.js";
import { Role, UserSchema } from "../gen/chancery/admin/v1/user_pb.js";
import { type AdminClients, clientSettings, createAdminClients } from "./admin-client.ts";
import { type OutputFormat, printMessages } from "./output.ts";

const usage = `chancery — the Chancery admin CLI (npm run chancery -- <command>)

  whoami
  user list | get <users/ID> | create --username U [--role user|operator|admin] [--api-access]
  user update <users/ID> [--role R] [--disabled true|false] [--api-access true|false] [--subnets CIDR,...] [--cas NAME,...]
  token create | regenerate | get [users/ID/token] | revoke [users/ID/token]
  ca list | get <certificateAuthorities/ID> | enable <NAME> | disable <NAME>
  ca create-root --name N --cn CN [--org O] [--key ecdsa-p256|ecdsa-p384|rsa-2048|rsa-3072|rsa-4096|ed25519] [--days D] [--path-len N]
  ca create-intermediate --parent <certificateAuthorities/ID> --name N --cn CN [--org O] [--key K] [--days D] [--path-len N]
  audit list [--actor A] [--action X] [--target T] [--limit N] | export [same filters] | verify

Options: --server URL (CHANCERY_SERVER, default https://localhost:9443), --token T (CHANCERY_TOKEN),
         --ca-file PEM (CHANCERY_CA_FILE, default ./data/root-ca.pem), --output table|json
`;

const keys: Record<string, KeyAlgorithm> = {
  "ecdsa-p256": KeyAlgorithm.ECDSA_P256,
  "ecdsa-p384": KeyAlgorithm.ECDSA_P384,
  "rsa-2048": KeyAlgorithm.RSA_2048,
  "rsa-3072": KeyAlgorithm.RSA_3072,
  "rsa-4096": KeyAlgorithm.RSA_4096,
  ed25519: KeyAlgorithm.ED25519,
};
const roles: Record<string, Role> = { user: Role.USER, operator: Role.OPERATOR, admin: Role.ADMIN };

class UsageError extends Error {}

function need(value: string | undefined, flag: string): string {
  if (!value) throw new UsageError(`${flag} is required`);
  return value;
}

function bool(value: string, flag: string): boolean {
  if (value === "true" || value === "on") return true;
  if (value === "false" || value === "off") return false;
  throw new UsageError(`${flag} takes true or false`);
}

const time = (t: Parameters<typeof timestampDate>[0] | undefined) => (t ? timestampDate(t).toISOString() : "");

async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      server: { type: "string" },
      token: { type: "string" },
      "ca-file": { type: "string" },
      output: { type: "string", short: "o", default: "table" },
      username: { type: "string" },
      role: { type: "string" },
      "api-access": { type: "string" },
      disabled: { type: "string" },
      subnets: { type: "string" },
      cas: { type: "string" },
      name: { type: "string" },
      cn: { type: "string" },
      org: { type: "string" },
      key: { type: "string", default: "ecdsa-p256" },
      days: { type: "string", default: "3650" },
      "path-len": { type: "string" },
      parent: { type: "string" },
      actor: { type: "string" },
      action: { type: "string" },
      target: { type: "string" },
      limit: { type: "string", default: "50" },
      help: { type: "boolean", short: "h" },
    },
  });
  const [group, verb, arg] = positionals;
  if (values.help || !group) {
    process.stdout.write(usage);
    return values.help ? 0 : 2;
  }
  const format = values.output as OutputFormat;
  if (format !== "table" && format !== "json") throw new UsageError("--output is table or json");
  const api: AdminClients = createAdminClients(clientSettings(values, process.env));

  const userColumns: Parameters<typeof printMessages<typeof UserSchema>>[3] = [
    ["NAME", (u) => u.name],
    ["USERNAME", (u) => u.username],
    ["ROLE", (u) => Role[u.role] ?? ""],
    ["DISABLED", (u) => String(u.disabled)],
    ["API", (u) => String(u.apiAccess)],
    ["SUBNETS", (u) => u.allowedSubnets.join(",")],
  ];
  const caColumns: Parameters<typeof printMessages<typeof CertificateAuthoritySchema>>[3] = [
    ["NAME", (c) => c.name],
    ["DISPLAY NAME", (c) => c.displayName],
    ["KIND", (c) => CertificateAuthority_Kind[c.kind] ?? ""],
    ["STATE", (c) => CertificateAuthority_State[c.state] ?? ""],
    ["SUBJECT", (c) => c.subject],
    ["NOT AFTER", (c) => time(c.notAfter)],
  ];
  const tokenColumns: Parameters<typeof printMessages<typeof PersonalAccessTokenSchema>>[3] = [
    ["NAME", (t) => t.name],
    ["PREFIX", (t) => t.prefix],
    ["CREATED", (t) => time(t.createTime)],
    ["LAST USED", (t) => time(t.lastUsedTime)],
  ];
  const auditColumns: Parameters<typeof printMessages<typeof AuditEventSchema>>[3] = [
    ["SEQ", (e) => e.sequence.toString()],
    ["TIME", (e) => time(e.occurTime)],
    ["ACTOR", (e) => e.actor],
    ["ACTION", (e) => e.action],
    ["TARGET", (e) => e.target],
    ["SOURCE IP", (e) => e.sourceIp],
  ];
  const filter = { actor: values.actor ?? "", action: values.action ?? "", target: values.target ?? "" };
  const subject = () => [
    ...(values.org ? [{ type: "O", value: values.org }] : []),
    { type: "CN", value: need(values.cn, "--cn") },
  ];
  const key = () => {
    const k = keys[values.key ?? ""];
    if (k === undefined) throw new UsageError(`--key must be one of ${Object.keys(keys).join(", ")}`);
    return k;
  };
  const pathLen = values["path-len"] === undefined ? undefined : Number(values["path-len"]);

  switch (`${group} ${verb ?? ""}`.trim()) {
    case "whoami":
      printMessages(format, UserSchema, [await api.users.getCurrentUser({})], userColumns);
      return 0;
    case "user list":
      printMessages(format, UserSchema, (await api.users.listUsers({ pageSize: 1000 })).users, userColumns);
      return 0;
    case "user get":
      printMessages(format, UserSchema, [await api.users.getUser({ name: need(arg, "user name") })], userColumns);
      return 0;
    case "user create": {
      const role = values.role ? roles[values.role] : Role.USER;
      if (role === undefined) throw new UsageError("--role is user, operator or admin");
      const user = await api.users.createUser({
        user: {
          username: need(values.username, "--username"),
          role,
          apiAccess: values["api-access"] === undefined ? false : bool(values["api-access"], "--api-access"),
        },
      });
      printMessages(format, UserSchema, [user], userColumns);
      return 0;
    }
    case "user update": {
      const mask: string[] = [];
      const user: Record<string, unknown> = { name: need(arg, "user name") };
      if (values.role !== undefined) {
        const role = roles[values.role];
        if (role === undefined) throw new UsageError("--role is user, operator or admin");
        user["role"] = role;
        mask.push("role");
      }
      if (values.disabled !== undefined) {
        user["disabled"] = bool(values.disabled, "--disabled");
        mask.push("disabled");
      }
      if (values["api-access"] !== undefined) {
        user["apiAccess"] = bool(values["api-access"], "--api-access");
        mask.push("api_access");
      }
      if (values.subnets !== undefined) {
        user["allowedSubnets"] = values.subnets.split(",").filter(Boolean);
        mask.push("allowed_subnets");
      }
      if (values.cas !== undefined) {
        user["assignedCertificateAuthorities"] = values.cas.split(",").filter(Boolean);
        mask.push("assigned_certificate_authorities");
      }
      if (mask.length === 0)
        throw new UsageError("nothing to update: give --role, --disabled, --api-access, --subnets or --cas");
      printMessages(format, UserSchema, [await api.users.updateUser({ user, updateMask: mask })], userColumns);
      return 0;
    }
    case "token create":
    case "token regenerate": {
      const made = verb === "create" ? await api.tokens.createToken({}) : await api.tokens.regenerateToken({});
      if (format === "json") printMessages(format, CreateTokenResponseSchema, [made], []);
      else process.stdout.write(`${made.secret}\n(shown once: it cannot be displayed again)\n`);
      return 0;
    }
    case "token get":
      printMessages(format, PersonalAccessTokenSchema, [await api.tokens.getToken({ name: arg ?? "" })], tokenColumns);
      return 0;
    case "token revoke":
      await api.tokens.revokeToken({ name: arg ?? "" });
      process.stdout.write("token revoked\n");
      return 0;
    case "ca list":
      printMessages(
        format,
        CertificateAuthoritySchema,
        (await api.cas.listCertificateAuthorities({ pageSize: 1000 })).certificateAuthorities,
        caColumns,
      );
      return 0;
    case "ca get":
      printMessages(
        format,
        CertificateAuthoritySchema,
        [await api.cas.getCertificateAuthority({ name: need(arg, "CA name") })],
        caColumns,
      );
      return 0;
    case "ca enable":
    case "ca disable": {
      const name = need(arg, "CA name");
      const ca =
        verb === "enable"
          ? await api.cas.enableCertificateAuthority({ name })
          : await api.cas.disableCertificateAuthority({ name });
      printMessages(format, CertificateAuthoritySchema, [ca], caColumns);
      return 0;
    }
    case "ca create-root":
      printMessages(
        format,
        CertificateAuthoritySchema,
        [
          await api.cas.createRootCertificateAuthority({
            displayName: need(values.name, "--name"),
            subject: subject(),
            keyAlgorithm: key(),
            validityDays: Number(values.days),
            ...(pathLen === undefined ? {} : { pathLen }),
          }),
        ],
        caColumns,
      );
      return 0;
    case "ca create-intermediate":
      printMessages(
        format,
        CertificateAuthoritySchema,
        [
          await api.cas.createIntermediateCertificateAuthority({
            displayName: need(values.name, "--name"),
            parent: need(values.parent, "--parent"),
            subject: subject(),
            keyAlgorithm: key(),
            validityDays: Number(values.days),
            ...(pathLen === undefined ? {} : { pathLen }),
          }),
        ],
        caColumns,
      );
      return 0;
    case "audit list":
      printMessages(
        format,
        AuditEventSchema,
        (await api.audit.listAuditEvents({ filter, pageSize: Number(values.limit) })).auditEvents,
        auditColumns,
      );
      return 0;
    case "audit export":
      // One JSON object per line, oldest first: a stream a collector can take.
      for await (const event of api.audit.exportAuditEvents({ filter }))
        printMessages("json", AuditEventSchema, [event], [], (text) =>
          process.stdout.write(`${JSON.stringify(JSON.parse(text))}\n`),
        );
      return 0;
    case "audit verify": {
      const report = await api.audit.verifyAuditChain({});
      process.stdout.write(
        report.intact
          ? `audit chain intact: ${report.checkedEvents} events\n`
          : `audit chain BROKEN at event ${report.brokenAtSequence}: ${report.reason}\n`,
      );
      return report.intact ? 0 : 3;
    }
    default:
      throw new UsageError(`unknown command "${positionals.join(" ")}"`);
  }
}

run(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`chancery: ${err.message}\n\n${usage}`);
      process.exitCode = 2;
    } else if (err instanceof ConnectError) {
      process.stderr.write(`chancery: ${err.rawMessage} (${Code[err.code]})\n`);
      process.exitCode = 1;
    } else {
      process.stderr.write(`chancery: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    }
  },
);
