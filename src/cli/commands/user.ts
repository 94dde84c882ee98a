import { Role, UserSchema } from "../../gen/chancery/admin/v1/user_pb.js";
import { bool, type Columns, type CommandGroup, need, print, str, UsageError } from "../cli-context.ts";

const roles: Record<string, Role> = { user: Role.USER, operator: Role.OPERATOR, admin: Role.ADMIN };

function role(value: string): Role {
  const found = roles[value];
  if (found === undefined) throw new UsageError("--role is user, operator or admin");
  return found;
}

export const userColumns: Columns<typeof UserSchema> = [
  ["NAME", (u) => u.name],
  ["USERNAME", (u) => u.username],
  ["ROLE", (u) => Role[u.role] ?? ""],
  ["DISABLED", (u) => String(u.disabled)],
  ["API", (u) => String(u.apiAccess)],
  ["SUBNETS", (u) => u.allowedSubnets.join(",")],
];

/** chancery whoami: the caller's own account. */
export const whoami: CommandGroup = {
  name: "whoami",
  usage: "  whoami\n",
  options: {},
  async run(verb, context) {
    if (verb !== undefined) throw new UsageError("whoami takes no arguments");
    print(context, UserSchema, [await context.api.users.getCurrentUser({})], userColumns);
    return 0;
  },
};

/** chancery user ...: UserService. */
export const user: CommandGroup = {
  name: "user",
  usage: `  user list | get <users/ID> | create --username U [--role user|operator|admin] [--api-access true|false]
  user update <users/ID> [--role R] [--disabled true|false] [--api-access true|false] [--subnets CIDR,...] [--cas NAME,...]
`,
  options: {
    username: { type: "string" },
    role: { type: "string" },
    "api-access": { type: "string" },
    disabled: { type: "string" },
    subnets: { type: "string" },
    cas: { type: "string" },
  },
  async run(verb, context) {
    const { api, flags, args } = context;
    switch (verb) {
      case "list":
        print(context, UserSchema, (await api.users.listUsers({ pageSize: 1000 })).users, userColumns);
        return 0;
      case "get":
        print(context, UserSchema, [await api.users.getUser({ name: need(args[0], "user name") })], userColumns);
        return 0;
      case "create": {
        const apiAccess = str(flags, "api-access");
        const made = await api.users.createUser({
          user: {
            username: need(str(flags, "username"), "--username"),
            role: role(str(flags, "role") ?? "user"),
            apiAccess: apiAccess === undefined ? false : bool(apiAccess, "--api-access"),
          },
        });
        print(context, UserSchema, [made], userColumns);
        return 0;
      }
      case "update": {
        const mask: string[] = [];
        const changes: Record<string, unknown> = { name: need(args[0], "user name") };
        const set = (flag: string, field: string, path: string, convert: (v: string) => unknown) => {
          const value = str(flags, flag);
          if (value === undefined) return;
          changes[field] = convert(value);
          mask.push(path);
        };
        set("role", "role", "role", role);
        set("disabled", "disabled", "disabled", (v) => bool(v, "--disabled"));
        set("api-access", "apiAccess", "api_access", (v) => bool(v, "--api-access"));
        set("subnets", "allowedSubnets", "allowed_subnets", (v) => v.split(",").filter(Boolean));
        set("cas", "assignedCertificateAuthorities", "assigned_certificate_authorities", (v) =>
          v.split(",").filter(Boolean),
        );
        if (mask.length === 0)
          throw new UsageError("nothing to update: give --role, --disabled, --api-access, --subnets or --cas");
        print(context, UserSchema, [await api.users.updateUser({ user: changes, updateMask: mask })], userColumns);
        return 0;
      }
      default:
        throw new UsageError(`unknown command "user ${verb ?? ""}"`);
    }
  },
};
