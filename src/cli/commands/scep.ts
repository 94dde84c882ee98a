import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { uuidPattern } from "../../core/uuid-pattern.ts";
import {
  type ScepEndpoint,
  ScepEndpoint_CaCertificateMode,
  ScepEndpoint_ChallengeMode,
  ScepEndpointSchema,
  ScepRaCertificateSchema,
} from "../../gen/chancery/admin/v1/scep_pb.js";
import type { AdminClients } from "../admin-client.ts";
import {
  bool,
  type Columns,
  type CommandContext,
  type CommandGroup,
  choose,
  durationSeconds,
  enumChoices,
  listAll,
  need,
  print,
  readStdin,
  str,
  time,
  UsageError,
} from "../cli-context.ts";
import { type ResourceCommand, runResourceCommand, unknownAction } from "../resource-command.ts";
import { resolveCa } from "./cert.ts";

const challengeModes = enumChoices(ScepEndpoint_ChallengeMode);
const caCertificateModes = enumChoices(ScepEndpoint_CaCertificateMode);

const enumLabel = (value: string | undefined) => (value ?? "").toLowerCase().replaceAll("_", "-");

const endpointColumns: Columns<typeof ScepEndpointSchema> = [
  ["NAME", (e) => e.name],
  ["ENDPOINT", (e) => e.endpointName],
  ["ENABLED", (e) => String(e.enabled ?? true)],
  ["CHALLENGE", (e) => enumLabel(ScepEndpoint_ChallengeMode[e.challengeMode])],
  ["PROFILE", (e) => e.profile.slice("profiles/".length)],
  ["RA NOT AFTER", (e) => time(e.raCertificate?.notAfter)],
  ["URL", (e) => e.url],
];

const raColumns: Columns<typeof ScepRaCertificateSchema> = [
  ["SERIAL", (r) => r.serial],
  ["NOT BEFORE", (r) => time(r.notBefore)],
  ["NOT AFTER", (r) => time(r.notAfter)],
];

/**
 * An endpoint argument: its resource name, its id, or its endpoint name
 * (what is in its URL). Looking a name up lists the endpoints, which only
 * admins may; operators minting challenges (chancery secret) give the id.
 */
export async function resolveEndpoint(api: AdminClients, arg: string | undefined): Promise<string> {
  const given = need(arg, "endpoint (scepEndpoints/ID, ID or its name)");
  if (given.startsWith("scepEndpoints/")) return given;
  if (uuidPattern.test(given)) return `scepEndpoints/${given}`;
  let endpoints: ScepEndpoint[];
  try {
    endpoints = await listAll(
      (pageToken) => api.scep.listScepEndpoints({ pageSize: 1000, pageToken }),
      (page) => page.scepEndpoints,
    );
  } catch (err) {
    if (err instanceof ConnectError && err.code === Code.PermissionDenied)
      throw new UsageError(`looking up the endpoint "${given}" by name needs the admin role: give scepEndpoints/ID`);
    throw err;
  }
  const found = endpoints.find((e) => e.endpointName === given);
  if (!found) throw new UsageError(`no SCEP endpoint named "${given}"`);
  return found.name;
}

/**
 * A secret flag's value; "-" reads it from standard input (keeping it out of
 * the shell history and the process list). Only one flag per command may.
 */
async function secret(context: CommandContext, flag: string, stdinTaken: { used: boolean }): Promise<string> {
  const value = str(context.flags, flag) ?? "";
  if (value !== "-") return value;
  if (stdinTaken.used) throw new UsageError(`only one secret flag can read standard input, not --${flag} as well`);
  stdinTaken.used = true;
  return (await readStdin()).replace(/\r?\n$/, "");
}

type EndpointInit = MessageInitShape<typeof ScepEndpointSchema>;

/** The endpoint fields given as flags, and their update_mask paths. */
async function endpointFlags(context: CommandContext): Promise<{ fields: EndpointInit; mask: string[] }> {
  const { api, flags } = context;
  const fields: EndpointInit = {};
  const mask: string[] = [];
  const given = (flag: string) => flags[flag] !== undefined;
  const stdin = { used: false };
  if (given("ca")) {
    fields.certificateAuthority = await resolveCa(api, str(flags, "ca"));
    mask.push("certificate_authority");
  }
  if (given("profile")) {
    const profile = need(str(flags, "profile"), "--profile");
    fields.profile = profile.startsWith("profiles/") ? profile : `profiles/${profile}`;
    mask.push("profile");
  }
  if (given("challenge-mode")) {
    fields.challengeMode = choose(
      challengeModes,
      need(str(flags, "challenge-mode"), "--challenge-mode"),
      "--challenge-mode",
    );
    mask.push("challenge_mode");
  }
  for (const [flag, field, path] of [
    ["static-challenge", "staticChallenge", "static_challenge"],
    ["intune-client-secret", "intuneClientSecret", "intune_client_secret"],
    ["webhook-secret", "webhookSecret", "webhook_secret"],
  ] as const) {
    if (!given(flag)) continue;
    fields[field] = need(await secret(context, flag, stdin), `--${flag}`);
    mask.push(path);
  }
  const intune: Record<string, string> = {};
  for (const [flag, field, path] of [
    ["intune-tenant", "tenant", "tenant"],
    ["intune-client-id", "clientId", "client_id"],
    ["intune-provider", "providerNameAndVersion", "provider_name_and_version"],
    ["intune-authority-url", "authorityUrl", "authority_url"],
    ["intune-graph-url", "graphUrl", "graph_url"],
    ["intune-resource-url", "intuneResourceUrl", "intune_resource_url"],
  ] as const) {
    if (!given(flag)) continue;
    intune[field] = str(flags, flag) ?? "";
    mask.push(`intune.${path}`);
  }
  if (Object.keys(intune).length > 0) fields.intune = intune;
  if (given("webhook-url")) {
    fields.webhook = { url: str(flags, "webhook-url") ?? "" };
    mask.push("webhook.url");
  }
  if (given("challenge-lifetime")) {
    const seconds = durationSeconds(
      need(str(flags, "challenge-lifetime"), "--challenge-lifetime"),
      "--challenge-lifetime",
    );
    fields.challengeLifetime = { seconds: BigInt(seconds) };
    mask.push("challenge_lifetime");
  }
  if (given("ca-cert-mode")) {
    fields.caCertificateMode = choose(
      caCertificateModes,
      need(str(flags, "ca-cert-mode"), "--ca-cert-mode"),
      "--ca-cert-mode",
    );
    mask.push("ca_certificate_mode");
  }
  if (given("next-ca")) {
    // --next-ca '' clears it.
    const next = str(flags, "next-ca");
    fields.nextCertificateAuthority = next ? await resolveCa(api, next, "--next-ca") : "";
    mask.push("next_certificate_authority");
  }
  for (const [flag, field, path] of [
    ["legacy-crypto", "legacyCrypto", "legacy_crypto"],
    ["renewal", "renewalAllowed", "renewal_allowed"],
    ["enabled", "enabled", "enabled"],
  ] as const) {
    if (!given(flag)) continue;
    fields[field] = bool(need(str(flags, flag), `--${flag}`), `--${flag}`);
    mask.push(path);
  }
  return { fields, mask };
}

const endpoints: ResourceCommand<typeof ScepEndpointSchema, EndpointInit> = {
  command: "scep endpoint",
  noun: "endpoint",
  schema: ScepEndpointSchema,
  columns: endpointColumns,
  resolve: resolveEndpoint,
  flags: endpointFlags,
  list: (api) =>
    listAll(
      (pageToken) => api.scep.listScepEndpoints({ pageSize: 1000, pageToken }),
      (page) => page.scepEndpoints,
    ),
  get: (api, name) => api.scep.getScepEndpoint({ name }),
  async create({ api, args, flags }, fields) {
    return api.scep.createScepEndpoint({
      scepEndpoint: {
        ...fields,
        endpointName: need(args[0], "endpoint name"),
        certificateAuthority: fields.certificateAuthority ?? (await resolveCa(api, undefined)),
      },
      requestId: str(flags, "request-id") ?? "",
    });
  },
  update: (api, name, fields, updateMask) =>
    api.scep.updateScepEndpoint({ scepEndpoint: { ...fields, name }, updateMask }),
  remove: (api, name) => api.scep.deleteScepEndpoint({ name }),
};

async function endpoint(action: string | undefined, context: CommandContext): Promise<number> {
  if (await runResourceCommand(endpoints, action, context)) return 0;
  if (action !== "rotate-ra") throw unknownAction(endpoints.command, action);
  const name = await resolveEndpoint(context.api, context.args[0]);
  print(context, ScepRaCertificateSchema, [await context.api.scep.rotateScepRaCertificate({ name })], raColumns);
  return 0;
}

/** chancery scep ...: ScepService, SCEP endpoints (admins); their one-time challenges are in commands/secret.ts. */
export const scep: CommandGroup = {
  name: "scep",
  usage: `  scep endpoint list | get <EP> | delete <EP> | rotate-ra <EP>   (EP: its name, id or scepEndpoints/ID)
  scep endpoint create <NAME> --ca <CA> --profile P --challenge-mode none|static|dynamic|intune|webhook
      [--static-challenge S] [--intune-tenant T --intune-client-id ID --intune-client-secret S]
      [--intune-provider P] [--intune-authority-url U] [--intune-graph-url U] [--intune-resource-url U]
      [--webhook-url URL --webhook-secret S] [--challenge-lifetime 1h] [--ca-cert-mode chain|ca]
      [--next-ca CA] [--legacy-crypto true|false] [--renewal true|false] [--enabled true|false] [--request-id ID]
      (a secret given as "-" is read from stdin)
  scep endpoint update <EP> [any create flag but the name; --next-ca '' clears it]
      (one-time challenges of a dynamic endpoint: chancery secret ... --scep-endpoint <EP>)
`,
  options: {
    ca: { type: "string" },
    profile: { type: "string" },
    "challenge-mode": { type: "string" },
    "static-challenge": { type: "string" },
    "intune-tenant": { type: "string" },
    "intune-client-id": { type: "string" },
    "intune-client-secret": { type: "string" },
    "intune-provider": { type: "string" },
    "intune-authority-url": { type: "string" },
    "intune-graph-url": { type: "string" },
    "intune-resource-url": { type: "string" },
    "webhook-url": { type: "string" },
    "webhook-secret": { type: "string" },
    "challenge-lifetime": { type: "string" },
    "ca-cert-mode": { type: "string" },
    "next-ca": { type: "string" },
    "legacy-crypto": { type: "string" },
    renewal: { type: "string" },
    enabled: { type: "string" },
    "request-id": { type: "string" },
  },
  async run(verb, context) {
    const [action, ...rest] = context.args;
    const sub = { ...context, args: rest };
    if (verb === "endpoint") return endpoint(action, sub);
    throw new UsageError('scep takes "endpoint"');
  },
};
