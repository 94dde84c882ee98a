import {
  CreateTokenEnrollmentResponseSchema,
  type CreateTokenResponse,
  CreateTokenResponseSchema,
  PersonalAccessTokenSchema,
  TokenEnrollmentSchema,
} from "../../gen/chancery/admin/v1/token_pb.js";
import {
  type Columns,
  type CommandContext,
  type CommandGroup,
  durationSeconds,
  need,
  print,
  readStdin,
  str,
  time,
  UsageError,
} from "../cli-context.ts";
import { printMessages } from "../output.ts";

const tokenColumns: Columns<typeof PersonalAccessTokenSchema> = [
  ["NAME", (t) => t.name],
  ["PREFIX", (t) => t.prefix],
  ["CREATED", (t) => time(t.createTime)],
  ["LAST USED", (t) => time(t.lastUsedTime)],
];

const enrollmentColumns: Columns<typeof TokenEnrollmentSchema> = [
  ["NAME", (e) => e.name],
  ["PREFIX", (e) => e.prefix],
  ["CREATOR", (e) => e.creator],
  ["CREATED", (e) => time(e.createTime)],
  ["EXPIRES", (e) => time(e.expireTime)],
];

/** "users/ID" or "users/ID/tokenEnrollment" -> the enrollment's name. */
function enrollmentName(arg: string | undefined): string {
  const user = need(arg, "user name (users/ID)").replace(/\/tokenEnrollment$/, "");
  if (!/^users\/[^/]+$/.test(user)) throw new UsageError(`"${arg}" is not a user name like users/ID`);
  return `${user}/tokenEnrollment`;
}

/** A secret goes to stdout alone on its line, so `$(chancery token ...)` captures exactly it; the note to stderr. */
function showSecret(context: CommandContext, made: CreateTokenResponse): void {
  if (context.format === "json") printMessages("json", CreateTokenResponseSchema, [made], []);
  else {
    process.stdout.write(`${made.secret}\n`);
    process.stderr.write("(shown once: it cannot be displayed again)\n");
  }
}

/** chancery token ...: TokenService, enrollment codes included. */
export const token: CommandGroup = {
  name: "token",
  usage: `  token create | regenerate | get [users/ID/token] | revoke [users/ID/token]
  token enroll <users/ID> [--ttl 24h]   (admins: a one-time code for the user's first token)
  token enrollment get|delete <users/ID>
  token redeem <CODE|->   (no token needed: exchanges a code for your token; "-" reads it from stdin)
`,
  options: { ttl: { type: "string" } },
  async run(verb, context) {
    const { api, args, flags } = context;
    switch (verb) {
      case "create":
      case "regenerate": {
        const made = verb === "create" ? await api.tokens.createToken({}) : await api.tokens.regenerateToken({});
        showSecret(context, made);
        return 0;
      }
      case "get":
        print(context, PersonalAccessTokenSchema, [await api.tokens.getToken({ name: args[0] ?? "" })], tokenColumns);
        return 0;
      case "revoke":
        await api.tokens.revokeToken({ name: args[0] ?? "" });
        process.stdout.write("token revoked\n");
        return 0;
      case "enroll": {
        const parent = enrollmentName(args[0]).replace(/\/tokenEnrollment$/, "");
        const ttl = str(flags, "ttl");
        const made = await api.tokens.createTokenEnrollment({
          parent,
          ...(ttl === undefined ? {} : { ttl: { seconds: BigInt(durationSeconds(ttl, "--ttl")) } }),
        });
        if (context.format === "json") printMessages("json", CreateTokenEnrollmentResponseSchema, [made], []);
        else {
          process.stdout.write(`${made.code}\n`);
          process.stderr.write(
            `(shown once; single use; expires ${time(made.enrollment?.expireTime)}. ` +
              "The user runs: chancery token redeem <code>)\n",
          );
        }
        return 0;
      }
      case "enrollment": {
        const [action, user] = args;
        const name = enrollmentName(user);
        if (action === "get") {
          print(context, TokenEnrollmentSchema, [await api.tokens.getTokenEnrollment({ name })], enrollmentColumns);
          return 0;
        }
        if (action === "delete") {
          await api.tokens.deleteTokenEnrollment({ name });
          process.stdout.write("enrollment code withdrawn\n");
          return 0;
        }
        throw new UsageError('token enrollment takes "get" or "delete"');
      }
      case "redeem": {
        // "-" keeps the code out of the shell history and the process list.
        const arg = need(args[0], "the enrollment code");
        const code = arg === "-" ? (await readStdin()).trim() : arg;
        showSecret(context, await api.tokens.redeemTokenEnrollment({ code }));
        return 0;
      }
      default:
        throw new UsageError(`unknown command "token ${verb ?? ""}"`);
    }
  },
};
