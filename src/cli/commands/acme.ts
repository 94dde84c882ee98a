import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { uuidPattern } from "../../core/uuid-pattern.ts";
import {
  AcmeDirectory_AuthorizationMode,
  AcmeDirectory_ChallengeType,
  AcmeDirectorySchema,
  CreateExternalAccountKeyResponseSchema,
  ExternalAccountKeySchema,
} from "../../gen/chancery/admin/v1/acme_pb.js";
import type { AdminClients } from "../admin-client.ts";
import {
  bool,
  type Columns,
  type CommandContext,
  type CommandGroup,
  choose,
  durationSeconds,
  enumChoices,
  int,
  list,
  listAll,
  need,
  print,
  str,
  time,
  UsageError,
} from "../cli-context.ts";
import { printMessages } from "../output.ts";
import { type ResourceCommand, runResourceCommand, unknownAction } from "../resource-command.ts";
import { resolveCa } from "./cert.ts";

const modes = enumChoices(AcmeDirectory_AuthorizationMode);
const challengeTypes = enumChoices(AcmeDirectory_ChallengeType);

const directoryColumns: Columns<typeof AcmeDirectorySchema> = [
  ["NAME", (d) => d.name],
  ["DISPLAY NAME", (d) => d.displayName],
  ["ENABLED", (d) => String(d.enabled ?? true)],
  ["MODE", (d) => (AcmeDirectory_AuthorizationMode[d.authorizationMode] ?? "").toLowerCase().replaceAll("_", "-")],
  ["PROFILES", (d) => d.allowedProfiles.map((p) => p.slice("profiles/".length)).join(",")],
  ["EAB", (d) => (d.externalAccountRequired ? "required" : "optional")],
  ["URL", (d) => d.directoryUrl],
];

const keyColumns: Columns<typeof ExternalAccountKeySchema> = [
  ["KEY ID", (k) => k.keyId],
  ["LABEL", (k) => k.label],
  ["CREATED", (k) => time(k.createTime)],
  ["EXPIRES", (k) => time(k.expireTime)],
  ["BOUND", (k) => time(k.bindTime)],
  ["REVOKED", (k) => time(k.revokeTime)],
];

/** A directory argument: its resource name, its id, or its display name (what is in its URL). */
async function resolveDirectory(api: AdminClients, arg: string | undefined): Promise<string> {
  const given = need(arg, "directory (acmeDirectories/ID, ID or its name)");
  if (given.startsWith("acmeDirectories/")) return given;
  if (uuidPattern.test(given)) return `acmeDirectories/${given}`;
  const { acmeDirectories } = await api.acme.listAcmeDirectories({ pageSize: 1000 });
  const found = acmeDirectories.find((d) => d.displayName === given);
  if (!found) throw new UsageError(`no ACME directory named "${given}"`);
  return found.name;
}

const profileName = (p: string) => (p.startsWith("profiles/") ? p : `profiles/${p}`);

type DirectoryInit = MessageInitShape<typeof AcmeDirectorySchema>;

/**
 * The directory fields given as flags, and their update_mask paths. A list
 * flag given empty (--trusted '') clears the list.
 */
async function directoryFlags(context: CommandContext): Promise<{ fields: DirectoryInit; mask: string[] }> {
  const { api, flags } = context;
  const fields: DirectoryInit = {};
  const mask: string[] = [];
  const given = (flag: string) => flags[flag] !== undefined;
  if (given("ca")) {
    fields.certificateAuthority = await resolveCa(api, str(flags, "ca"));
    mask.push("certificate_authority");
  }
  if (given("profile")) {
    fields.allowedProfiles = list(flags, "profile").map(profileName);
    mask.push("allowed_profiles");
  }
  if (given("default-profile")) {
    fields.defaultProfile = profileName(need(str(flags, "default-profile"), "--default-profile"));
    mask.push("default_profile");
  }
  if (given("mode")) {
    fields.authorizationMode = choose(modes, need(str(flags, "mode"), "--mode"), "--mode");
    mask.push("authorization_mode");
  }
  if (given("trusted")) {
    fields.trustedIdentifiers = list(flags, "trusted");
    mask.push("trusted_identifiers");
  }
  if (given("challenge")) {
    fields.challengeTypes = list(flags, "challenge").map((c) => choose(challengeTypes, c, "--challenge"));
    mask.push("challenge_types");
  }
  if (given("eab-required")) {
    fields.externalAccountRequired = bool(need(str(flags, "eab-required"), "--eab-required"), "--eab-required");
    mask.push("external_account_required");
  }
  if (given("caa-check")) {
    fields.caaCheck = bool(need(str(flags, "caa-check"), "--caa-check"), "--caa-check");
    mask.push("caa_check");
  }
  if (given("caa-identity")) {
    fields.caaIdentities = list(flags, "caa-identity");
    mask.push("caa_identities");
  }
  if (given("tos")) {
    fields.termsOfServiceUrl = str(flags, "tos") ?? "";
    mask.push("terms_of_service_url");
  }
  if (given("website")) {
    fields.websiteUrl = str(flags, "website") ?? "";
    mask.push("website_url");
  }
  if (given("enabled")) {
    fields.enabled = bool(need(str(flags, "enabled"), "--enabled"), "--enabled");
    mask.push("enabled");
  }
  const limits: Record<string, number> = {};
  for (const [flag, field, path] of [
    ["orders-per-hour", "ordersPerAccountPerHour", "orders_per_account_per_hour"],
    ["accounts-per-ip-per-hour", "newAccountsPerIpPerHour", "new_accounts_per_ip_per_hour"],
    ["orders-per-name-set-per-week", "ordersPerIdentifierSetPerWeek", "orders_per_identifier_set_per_week"],
  ] as const) {
    const value = int(str(flags, flag), `--${flag}`);
    if (value === undefined) continue;
    limits[field] = value;
    mask.push(`rate_limits.${path}`);
  }
  if (Object.keys(limits).length > 0) fields.rateLimits = limits;
  return { fields, mask };
}

const directories: ResourceCommand<typeof AcmeDirectorySchema, DirectoryInit> = {
  command: "acme directory",
  noun: "directory",
  schema: AcmeDirectorySchema,
  columns: directoryColumns,
  resolve: resolveDirectory,
  flags: directoryFlags,
  list: async (api) => (await api.acme.listAcmeDirectories({ pageSize: 1000 })).acmeDirectories,
  get: (api, name) => api.acme.getAcmeDirectory({ name }),
  async create({ api, args, flags }, fields) {
    return api.acme.createAcmeDirectory({
      acmeDirectory: {
        // Every challenge type unless told otherwise: what a public-style ACME server offers.
        challengeTypes: [...challengeTypes.values()],
        ...fields,
        displayName: need(args[0], "directory name"),
        certificateAuthority: fields.certificateAuthority ?? (await resolveCa(api, undefined)),
      },
      requestId: str(flags, "request-id") ?? "",
    });
  },
  update: (api, name, fields, updateMask) =>
    api.acme.updateAcmeDirectory({ acmeDirectory: { ...fields, name }, updateMask }),
  remove: (api, name) => api.acme.deleteAcmeDirectory({ name }),
};

async function directory(action: string | undefined, context: CommandContext): Promise<number> {
  if (await runResourceCommand(directories, action, context)) return 0;
  throw unknownAction(directories.command, action);
}

async function eab(action: string | undefined, context: CommandContext): Promise<number> {
  const { api, args, flags } = context;
  switch (action) {
    case "create": {
      const parent = await resolveDirectory(api, args[0]);
      const expires = str(flags, "expires");
      const made = await api.acme.createExternalAccountKey({
        parent,
        externalAccountKey: {
          label: str(flags, "label") ?? "",
          ...(expires
            ? { expireTime: timestampFromDate(new Date(Date.now() + durationSeconds(expires, "--expires") * 1000)) }
            : {}),
        },
        requestId: str(flags, "request-id") ?? "",
      });
      if (context.format === "json") printMessages("json", CreateExternalAccountKeyResponseSchema, [made], []);
      else {
        // What ACME clients take: certbot --eab-kid / --eab-hmac-key, lego --eab.kid / --eab.hmac.
        process.stdout.write(`key id:   ${made.externalAccountKey?.keyId ?? ""}\nhmac key: ${made.hmacKey}\n`);
        process.stderr.write("(the HMAC key is shown once: it cannot be displayed again)\n");
      }
      return 0;
    }
    case "list": {
      const parent = await resolveDirectory(api, args[0]);
      const keys = await listAll(
        (pageToken) => api.acme.listExternalAccountKeys({ parent, pageSize: 1000, pageToken }),
        (page) => page.externalAccountKeys,
      );
      print(context, ExternalAccountKeySchema, keys, keyColumns);
      return 0;
    }
    case "revoke": {
      const keyId = need(args[1], "key id");
      const name = keyId.startsWith("acmeDirectories/")
        ? keyId
        : `${await resolveDirectory(api, args[0])}/externalAccountKeys/${keyId}`;
      print(context, ExternalAccountKeySchema, [await api.acme.revokeExternalAccountKey({ name })], keyColumns);
      return 0;
    }
    default:
      throw new UsageError(`unknown command "acme eab ${action ?? ""}"`);
  }
}

/** chancery acme ...: AcmeService, ACME directories and their external account keys (admins). */
export const acme: CommandGroup = {
  name: "acme",
  usage: `  acme directory list | get <DIR> | delete <DIR>   (DIR: its name, id or acmeDirectories/ID)
  acme directory create <NAME> --ca <CA> --profile P [--profile P2] [--default-profile P] [--request-id ID]
      [--mode challenge|eab-trusted] [--trusted '*.corp.example' --trusted 10.0.0.0/8]
      [--challenge http-01,dns-01,tls-alpn-01] [--eab-required true|false] [--caa-check true|false]
      [--caa-identity pki.example] [--tos URL] [--website URL] [--enabled true|false]
      [--orders-per-hour N] [--accounts-per-ip-per-hour N] [--orders-per-name-set-per-week N]   (0 = default)
  acme directory update <DIR> [any create flag but the name; a list flag given '' clears the list]
  acme eab create <DIR> [--label L] [--expires 30d] [--request-id ID]   (prints the key id and HMAC key, once)
  acme eab list <DIR> | revoke <DIR> <KEY_ID>
`,
  options: {
    ca: { type: "string" },
    profile: { type: "string", multiple: true },
    "default-profile": { type: "string" },
    mode: { type: "string" },
    trusted: { type: "string", multiple: true },
    challenge: { type: "string", multiple: true },
    "eab-required": { type: "string" },
    "caa-check": { type: "string" },
    "caa-identity": { type: "string", multiple: true },
    tos: { type: "string" },
    website: { type: "string" },
    enabled: { type: "string" },
    "orders-per-hour": { type: "string" },
    "accounts-per-ip-per-hour": { type: "string" },
    "orders-per-name-set-per-week": { type: "string" },
    "request-id": { type: "string" },
    label: { type: "string" },
    expires: { type: "string" },
  },
  async run(verb, context) {
    const [action, ...rest] = context.args;
    const sub = { ...context, args: rest };
    if (verb === "directory") return directory(action, sub);
    if (verb === "eab") return eab(action, sub);
    throw new UsageError('acme takes "directory" or "eab"');
  },
};
