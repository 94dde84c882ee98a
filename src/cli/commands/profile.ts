import { basename, extname } from "node:path";
import { type DescMessage, fromJson, type JsonValue, type MessageShape } from "@bufbuild/protobuf";
import type { Duration } from "@bufbuild/protobuf/wkt";
import { parse as parseYaml } from "yaml";
import { type Profile, ProfileSchema } from "../../gen/chancery/admin/v1/profile_pb.js";
import { RequestSchema } from "../../gen/chancery/admin/v1/request_pb.js";
import {
  type Columns,
  type CommandContext,
  type CommandGroup,
  InputError,
  list,
  need,
  print,
  readText,
  resourceName,
  str,
  UsageError,
} from "../cli-context.ts";
import { requestColumns } from "./request.ts";

/** Seconds as the largest whole unit: "90d", "12h", "45s". */
export function durationText(d: Duration | undefined): string {
  if (!d) return "";
  const seconds = Number(d.seconds);
  for (const [unit, size] of [
    ["d", 86_400],
    ["h", 3600],
    ["m", 60],
  ] as const)
    if (seconds >= size && seconds % size === 0) return `${seconds / size}${unit}`;
  return `${seconds}s`;
}

const profileColumns: Columns<typeof ProfileSchema> = [
  ["NAME", (p) => p.name],
  ["DEFAULT", (p) => durationText(p.validity?.default)],
  ["MAX", (p) => durationText(p.validity?.max)],
  ["CA", (p) => String(p.basicConstraints?.ca ?? false)],
  ["APPROVERS", (p) => (p.requiresApproval?.required ? String(p.requiresApproval.approvers ?? 1) : "-")],
  ["DESCRIPTION", (p) => p.description],
];

/**
 * A message from a JSON or YAML file (YAML is a superset of JSON, so one
 * parser reads both) in the proto JSON form, the same form `-o json` prints:
 * `chancery profile get X -o json > x.json`, edit, `profile update --file x.json`.
 */
export function readMessageFile<D extends DescMessage>(schema: D, path: string): MessageShape<D> {
  const text = readText(path);
  let value: unknown;
  try {
    value = parseYaml(text);
  } catch (err) {
    throw new InputError(`${path} is neither JSON nor YAML: ${(err as Error).message}`);
  }
  try {
    return fromJson(schema, value as JsonValue);
  } catch (err) {
    throw new InputError(`${path} is not a ${schema.typeName}: ${(err as Error).message}`);
  }
}

/** The top-level fields a file sets, by proto name: the update mask when --mask is not given. */
function fieldsIn(path: string): string[] {
  const value = parseYaml(readText(path)) as Record<string, unknown> | null;
  if (!value || typeof value !== "object") return [];
  const out: string[] = [];
  for (const key of Object.keys(value)) {
    const field = ProfileSchema.fields.find((f) => f.jsonName === key || f.name === key);
    if (field && !["name", "create_time", "update_time"].includes(field.name)) out.push(field.name);
  }
  return out;
}

/** The profile of --file, named by the argument or the file (name field, else the file name). */
function profileFromFile(context: CommandContext): { profile: Profile; name: string } {
  const file = need(str(context.flags, "file"), "--file");
  const profile = readMessageFile(ProfileSchema, file);
  const name = context.args[0]
    ? resourceName(context.args[0], "profiles", "profile name")
    : profile.name || `profiles/${basename(file, extname(file))}`;
  if (profile.name && profile.name !== name) throw new UsageError(`${file} names ${profile.name}, not ${name}`);
  profile.name = name;
  return { profile, name };
}

/** chancery profile ...: ProfileService (and, with --propose, a profile change through the approval queue). */
export const profile: CommandGroup = {
  name: "profile",
  usage: `  profile list | get <NAME> | delete <NAME> [--propose [--comment C]]
  profile create [NAME] --file profile.json|yaml
  profile update [NAME] --file profile.json|yaml [--mask field,field.sub,...|*] [--propose [--comment C]]
`,
  options: {
    file: { type: "string", short: "f" },
    mask: { type: "string", multiple: true },
    propose: { type: "boolean" },
    comment: { type: "string" },
  },
  async run(verb, context) {
    const { api, args, flags } = context;
    switch (verb) {
      case "list":
        print(context, ProfileSchema, (await api.profiles.listProfiles({ pageSize: 1000 })).profiles, profileColumns);
        return 0;
      case "get":
        print(
          context,
          ProfileSchema,
          [await api.profiles.getProfile({ name: resourceName(args[0], "profiles", "profile name") })],
          profileColumns,
        );
        return 0;
      case "create": {
        const { profile: p, name } = profileFromFile(context);
        const made = await api.profiles.createProfile({ profile: p, profileId: name.slice("profiles/".length) });
        print(context, ProfileSchema, [made], profileColumns);
        return 0;
      }
      case "update": {
        const { profile: p } = profileFromFile(context);
        const mask = list(flags, "mask");
        const updateMask = mask.length > 0 ? mask : fieldsIn(need(str(flags, "file"), "--file"));
        if (updateMask.length === 0) throw new UsageError("the file sets no field to update; give --mask");
        if (flags["propose"]) {
          // Profiles that require approval change only through the queue (RequestService).
          const made = await api.requests.createRequest({
            request: {
              change: { case: "profileChange", value: { profile: p, updateMask } },
              comment: str(flags, "comment") ?? "",
            },
          });
          print(context, RequestSchema, [made], requestColumns);
          return 0;
        }
        print(context, ProfileSchema, [await api.profiles.updateProfile({ profile: p, updateMask })], profileColumns);
        return 0;
      }
      case "delete": {
        const name = resourceName(args[0], "profiles", "profile name");
        if (flags["propose"]) {
          const made = await api.requests.createRequest({
            request: { change: { case: "profileDeletion", value: { name } }, comment: str(flags, "comment") ?? "" },
          });
          print(context, RequestSchema, [made], requestColumns);
          return 0;
        }
        await api.profiles.deleteProfile({ name });
        process.stdout.write(`deleted ${name}\n`);
        return 0;
      }
      default:
        throw new UsageError(`unknown command "profile ${verb ?? ""}"`);
    }
  },
};
