import { type ParseArgsOptionsConfig, parseArgs } from "node:util";
import { Code, ConnectError } from "@connectrpc/connect";
import { clientSettings, createAdminClients } from "./admin-client.ts";
import { type CommandGroup, type Flags, InputError, UsageError } from "./cli-context.ts";
import { acme } from "./commands/acme.ts";
import { audit } from "./commands/audit.ts";
import { ca } from "./commands/ca.ts";
import { cert } from "./commands/cert.ts";
import { est } from "./commands/est.ts";
import { profile } from "./commands/profile.ts";
import { registry } from "./commands/registry.ts";
import { request } from "./commands/request.ts";
import { scep } from "./commands/scep.ts";
import { secret } from "./commands/secret.ts";
import { token } from "./commands/token.ts";
import { user, whoami } from "./commands/user.ts";
import type { OutputFormat } from "./output.ts";

/** One command group per admin API service (and whoami), each in commands/. */
const groups: readonly CommandGroup[] = [
  whoami,
  user,
  token,
  ca,
  profile,
  cert,
  request,
  audit,
  registry,
  acme,
  scep,
  est,
  secret,
];

/** Flags every command takes. */
const globalOptions = {
  server: { type: "string" },
  token: { type: "string" },
  "ca-file": { type: "string" },
  output: { type: "string", short: "o", default: "table" },
  help: { type: "boolean", short: "h" },
} satisfies ParseArgsOptionsConfig;

const usage = `chancery — the Chancery admin CLI (npm run chancery -- <command>)

${groups.map((g) => g.usage.trimEnd()).join("\n")}

Options: --server URL (CHANCERY_SERVER, default https://localhost:9443), --token T (CHANCERY_TOKEN),
         --ca-file PEM (CHANCERY_CA_FILE, default ./data/root-ca.pem), --output|-o table|json
Names: a resource name ("profiles/tls-server") or, for profile, cert, request and registry, its id alone.
Errors: the server's message and Connect code on stderr, exit 1; bad usage exits 2.
`;

/**
 * The group is the first argument that is neither a global flag nor its
 * value; its own flags are known only once the group is, so the command
 * line is parsed in full after that.
 */
function findGroup(argv: readonly string[]): CommandGroup | undefined {
  const withValue = new Set(["--server", "--token", "--ca-file", "--output", "-o"]);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (withValue.has(arg)) {
      i++;
      continue;
    }
    if (arg.startsWith("-")) continue;
    return groups.find((g) => g.name === arg) ?? undefined;
  }
  return undefined;
}

async function run(argv: string[]): Promise<number> {
  const group = findGroup(argv);
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { ...globalOptions, ...(group?.options ?? {}) },
  });
  if (values.help || !group) {
    if (!values.help && positionals.length > 0) throw new UsageError(`unknown command "${positionals.join(" ")}"`);
    process.stdout.write(usage);
    return values.help ? 0 : 2;
  }
  const format = values.output as OutputFormat;
  if (format !== "table" && format !== "json") throw new UsageError("--output is table or json");
  const [, verb, ...args] = positionals;
  return group.run(verb, {
    api: createAdminClients(clientSettings(values, process.env)),
    format,
    flags: values as Flags,
    args,
    env: process.env,
  });
}

run(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof InputError) {
      process.stderr.write(`chancery: ${err.message}\n`);
      process.exitCode = 2;
    } else if (err instanceof UsageError || (err instanceof TypeError && isParseArgsError(err))) {
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

/** node:util parseArgs refuses unknown or malformed flags with these codes: bad usage, not a failure. */
function isParseArgsError(err: TypeError & { code?: unknown }): boolean {
  return typeof err.code === "string" && err.code.startsWith("ERR_PARSE_ARGS_");
}
