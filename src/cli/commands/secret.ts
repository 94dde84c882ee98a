import { timestampDate } from "@bufbuild/protobuf/wkt";
import {
  CreateEnrollmentSecretResponseSchema,
  type EnrollmentSecret,
  EnrollmentSecretSchema,
} from "../../gen/chancery/admin/v1/enrollment_secret_pb.js";
import type { AdminClients } from "../admin-client.ts";
import {
  type Columns,
  type CommandContext,
  type CommandGroup,
  durationSeconds,
  list,
  listAll,
  parseSan,
  print,
  resourceName,
  str,
  time,
  UsageError,
} from "../cli-context.ts";
import { printMessages } from "../output.ts";
import { resolveLabel } from "./est.ts";
import { resolveEndpoint } from "./scep.ts";

/** What a secret can still do, as of now on this machine's clock. */
function secretState(s: EnrollmentSecret): string {
  if (s.revokeTime) return "revoked";
  if (s.useTime) return "used";
  if (s.expireTime && timestampDate(s.expireTime).getTime() <= Date.now()) return "expired";
  return "active";
}

const secretColumns: Columns<typeof EnrollmentSecretSchema> = [
  ["ID", (s) => s.name.slice(s.name.lastIndexOf("/") + 1)],
  ["SCOPE", (s) => s.scope.value ?? ""],
  ["STATE", secretState],
  ["SUBJECT", (s) => s.boundSubject],
  ["SANS", (s) => s.boundSubjectAltNames.join(",")],
  ["CREATED", (s) => time(s.createTime)],
  ["EXPIRES", (s) => time(s.expireTime)],
  ["USED", (s) => time(s.useTime)],
  ["USED BY", (s) => s.usedBy],
];

/** --scep-endpoint or --est-label as the API's scope oneof; undefined when neither is given. */
async function scopeFlag(
  context: CommandContext,
): Promise<{ case: "scepEndpoint" | "estLabel"; value: string } | undefined> {
  const endpoint = str(context.flags, "scep-endpoint");
  const label = str(context.flags, "est-label");
  if (endpoint !== undefined && label !== undefined)
    throw new UsageError("give --scep-endpoint or --est-label, not both: a secret is spent in one place");
  if (endpoint !== undefined) return { case: "scepEndpoint", value: await resolveEndpoint(context.api, endpoint) };
  if (label !== undefined) return { case: "estLabel", value: await resolveLabel(context.api, label) };
  return undefined;
}

const secretName = (arg: string | undefined) =>
  resourceName(arg, "enrollmentSecrets", "secret (its id or enrollmentSecrets/ID)");

async function listSecrets(api: AdminClients, scope: Awaited<ReturnType<typeof scopeFlag>>) {
  return listAll(
    (pageToken) => api.secrets.listEnrollmentSecrets({ ...(scope ? { scope } : {}), pageSize: 1000, pageToken }),
    (page) => page.enrollmentSecrets,
  );
}

/** chancery secret ...: EnrollmentSecretService, one-time enrollment secrets of SCEP endpoints and EST labels. */
export const secret: CommandGroup = {
  name: "secret",
  usage: `  secret create --scep-endpoint <EP> | --est-label <LABEL> [--subject 'CN=device-42,O=Example']
      [--san dns:x --san ip:y] [--ttl 15m] [--request-id ID]
      (prints the secret once: the SCEP challengePassword, or the EST HTTP Basic password)
  secret get <ID> | revoke <ID>   (ID: the secret's id or enrollmentSecrets/ID)
  secret list [--scep-endpoint <EP> | --est-label <LABEL>]   (without either: every secret, admins only)
      (EP, LABEL: a name, an id, or scepEndpoints/ID, estLabels/ID; operators give an id)
`,
  options: {
    "scep-endpoint": { type: "string" },
    "est-label": { type: "string" },
    subject: { type: "string" },
    san: { type: "string", multiple: true },
    ttl: { type: "string" },
    "request-id": { type: "string" },
  },
  async run(verb, context) {
    const { api, args, flags } = context;
    switch (verb) {
      case "create": {
        const scope = await scopeFlag(context);
        if (!scope) throw new UsageError("--scep-endpoint or --est-label is required: where the secret can be spent");
        const ttl = str(flags, "ttl");
        const sans = list(flags, "san").map((text) => {
          const san = parseSan(text);
          return san.type === "otherName" ? `otherName:${san.otherName}:${san.value}` : `${san.type}:${san.value}`;
        });
        const made = await api.secrets.createEnrollmentSecret({
          enrollmentSecret: { scope, boundSubject: str(flags, "subject") ?? "", boundSubjectAltNames: sans },
          ...(ttl === undefined ? {} : { ttl: { seconds: BigInt(durationSeconds(ttl, "--ttl")) } }),
          requestId: str(flags, "request-id") ?? "",
        });
        if (context.format === "json") printMessages("json", CreateEnrollmentSecretResponseSchema, [made], []);
        else {
          // Alone on stdout, so `$(chancery secret create ...)` captures exactly the secret.
          process.stdout.write(`${made.secret}\n`);
          process.stderr.write(
            `(${made.enrollmentSecret?.name ?? ""}: shown once; single use; expires ${time(made.enrollmentSecret?.expireTime)})\n`,
          );
        }
        return 0;
      }
      case "get":
        print(
          context,
          EnrollmentSecretSchema,
          [await api.secrets.getEnrollmentSecret({ name: secretName(args[0]) })],
          secretColumns,
        );
        return 0;
      case "list":
        print(context, EnrollmentSecretSchema, await listSecrets(api, await scopeFlag(context)), secretColumns);
        return 0;
      case "revoke":
        print(
          context,
          EnrollmentSecretSchema,
          [await api.secrets.revokeEnrollmentSecret({ name: secretName(args[0]) })],
          secretColumns,
        );
        return 0;
      default:
        throw new UsageError(`unknown command "secret ${verb ?? ""}"`);
    }
  },
};
