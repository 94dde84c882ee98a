import type { MessageInitShape } from "@bufbuild/protobuf";
import { create } from "@bufbuild/protobuf";
import { DurationSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { uuidPattern } from "../../core/uuid-pattern.ts";
import { type EstLabel, EstLabel_AuthMode, EstLabelSchema } from "../../gen/chancery/admin/v1/est_pb.js";
import type { AdminClients } from "../admin-client.ts";
import {
  bool,
  type Columns,
  type CommandContext,
  type CommandGroup,
  choose,
  durationSeconds,
  enumChoices,
  list,
  listAll,
  need,
  readText,
  str,
  UsageError,
} from "../cli-context.ts";
import { type ResourceCommand, runResourceCommand, unknownAction } from "../resource-command.ts";
import { resolveCa } from "./cert.ts";

const authModes = enumChoices(EstLabel_AuthMode);

const labelColumns: Columns<typeof EstLabelSchema> = [
  ["NAME", (l) => l.name],
  ["LABEL", (l) => l.label + (l.defaultLabel ? " (default)" : "")],
  ["ENABLED", (l) => String(l.enabled ?? true)],
  ["AUTH", (l) => (EstLabel_AuthMode[l.authMode] ?? "").toLowerCase()],
  ["PROFILE", (l) => l.profile.slice("profiles/".length)],
  ["BINDING", (l) => (l.channelBindingRequired ? "required" : "-")],
  ["KEYGEN", (l) => (l.serverKeygenAllowed ? "yes" : "no")],
  ["URL", (l) => l.url],
];

/**
 * A label argument: its resource name, its id, or its label (the path
 * segment). Looking a label up lists the labels, which only admins may;
 * operators minting secrets (chancery secret) give the id.
 */
export async function resolveLabel(api: AdminClients, arg: string | undefined): Promise<string> {
  const given = need(arg, "label (estLabels/ID, ID or its label)");
  if (given.startsWith("estLabels/")) return given;
  if (uuidPattern.test(given)) return `estLabels/${given}`;
  let labels: EstLabel[];
  try {
    labels = await listAll(
      (pageToken) => api.est.listEstLabels({ pageSize: 1000, pageToken }),
      (page) => page.estLabels,
    );
  } catch (err) {
    if (err instanceof ConnectError && err.code === Code.PermissionDenied)
      throw new UsageError(`looking up the label "${given}" by name needs the admin role: give estLabels/ID`);
    throw err;
  }
  const found = labels.find((l) => l.label === given);
  if (!found) throw new UsageError(`no EST label "${given}"`);
  return found.name;
}

type LabelInit = MessageInitShape<typeof EstLabelSchema>;

/**
 * The label fields given as flags, and their update_mask paths. A list flag
 * given empty (--client-ca '') clears the list. --anchor reads PEM files.
 */
async function labelFlags(context: CommandContext): Promise<{ fields: LabelInit; mask: string[] }> {
  const { api, flags } = context;
  const fields: LabelInit = {};
  const mask: string[] = [];
  const given = (flag: string) => flags[flag] !== undefined;
  const flag = (name: string) => bool(need(str(flags, name), `--${name}`), `--${name}`);
  if (given("ca")) {
    fields.certificateAuthority = await resolveCa(api, str(flags, "ca"));
    mask.push("certificate_authority");
  }
  if (given("profile")) {
    const profile = need(str(flags, "profile"), "--profile");
    fields.profile = profile.startsWith("profiles/") ? profile : `profiles/${profile}`;
    mask.push("profile");
  }
  if (given("auth")) {
    fields.authMode = choose(authModes, need(str(flags, "auth"), "--auth"), "--auth");
    mask.push("auth_mode");
  }
  if (given("client-ca")) {
    const cas = [];
    for (const ca of list(flags, "client-ca")) cas.push(await resolveCa(api, ca));
    fields.clientCertificateAuthorities = cas;
    mask.push("client_certificate_authorities");
  }
  if (given("anchor")) {
    fields.externalTrustAnchors = list(flags, "anchor").flatMap((path) =>
      [...readText(path).matchAll(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)].map((m) =>
        new TextEncoder().encode(m[0]),
      ),
    );
    mask.push("external_trust_anchors");
  }
  for (const [name, field, path] of [
    ["default", "defaultLabel", "default_label"],
    ["channel-binding", "channelBindingRequired", "channel_binding_required"],
    ["server-keygen", "serverKeygenAllowed", "server_keygen_allowed"],
    ["subject-change", "reenrollSubjectChangeAllowed", "reenroll_subject_change_allowed"],
    ["enabled", "enabled", "enabled"],
  ] as const) {
    if (!given(name)) continue;
    fields[field] = flag(name);
    mask.push(path);
  }
  if (given("secret-lifetime")) {
    fields.secretLifetime = create(DurationSchema, {
      seconds: BigInt(durationSeconds(need(str(flags, "secret-lifetime"), "--secret-lifetime"), "--secret-lifetime")),
    });
    mask.push("secret_lifetime");
  }
  return { fields, mask };
}

const labels: ResourceCommand<typeof EstLabelSchema, LabelInit> = {
  command: "est label",
  noun: "label",
  schema: EstLabelSchema,
  columns: labelColumns,
  resolve: resolveLabel,
  flags: labelFlags,
  list: (api) =>
    listAll(
      (pageToken) => api.est.listEstLabels({ pageSize: 1000, pageToken }),
      (page) => page.estLabels,
    ),
  get: (api, name) => api.est.getEstLabel({ name }),
  async create({ api, args, flags }, fields) {
    return api.est.createEstLabel({
      estLabel: {
        profile: "profiles/device",
        ...fields,
        label: need(args[0], "label"),
        certificateAuthority: fields.certificateAuthority ?? (await resolveCa(api, undefined)),
        authMode: fields.authMode ?? EstLabel_AuthMode.BASIC,
      },
      requestId: str(flags, "request-id") ?? "",
    });
  },
  update: (api, name, fields, updateMask) => api.est.updateEstLabel({ estLabel: { ...fields, name }, updateMask }),
  remove: (api, name) => api.est.deleteEstLabel({ name }),
};

async function label(action: string | undefined, context: CommandContext): Promise<number> {
  if (await runResourceCommand(labels, action, context)) return 0;
  throw unknownAction(labels.command, action);
}

/** chancery est ...: EstService, EST labels (admins); their one-time enrollment secrets are in commands/secret.ts. */
export const est: CommandGroup = {
  name: "est",
  usage: `  est label list | get <LABEL> | delete <LABEL>   (LABEL: its path segment, id or estLabels/ID)
  est label create <LABEL> --ca <CA> [--profile device] [--auth basic|certificate|either|both]
      [--client-ca <CA> --client-ca <CA2>] [--anchor manufacturer-ca.pem] [--default true|false]
      [--channel-binding true|false] [--server-keygen true|false] [--subject-change true|false]
      [--secret-lifetime 1d] [--enabled true|false] [--request-id ID]
  est label update <LABEL> [any create flag but the label; a list flag given '' clears the list]
      (one-time enrollment secrets of a label: chancery secret ... --est-label <LABEL>)
`,
  options: {
    ca: { type: "string" },
    profile: { type: "string" },
    auth: { type: "string" },
    "client-ca": { type: "string", multiple: true },
    anchor: { type: "string", multiple: true },
    default: { type: "string" },
    "channel-binding": { type: "string" },
    "server-keygen": { type: "string" },
    "subject-change": { type: "string" },
    "secret-lifetime": { type: "string" },
    enabled: { type: "string" },
    "request-id": { type: "string" },
  },
  async run(verb, context) {
    const [action, ...rest] = context.args;
    const sub = { ...context, args: rest };
    if (verb === "label") return label(action, sub);
    throw new UsageError('est takes "label"');
  },
};
