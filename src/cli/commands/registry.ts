import {
  CertificatePolicySchema,
  ObjectIdentifier_Placement,
  ObjectIdentifier_ValueType,
  ObjectIdentifierSchema,
} from "../../gen/chancery/admin/v1/registry_pb.js";
import {
  type Columns,
  type CommandContext,
  type CommandGroup,
  choose,
  enumChoices,
  need,
  print,
  resourceName,
  str,
  UsageError,
} from "../cli-context.ts";

const placements = enumChoices(ObjectIdentifier_Placement, ["UNSPECIFIED", "GENERAL_NAME"]);
const valueTypes = enumChoices(ObjectIdentifier_ValueType);

const oidColumns: Columns<typeof ObjectIdentifierSchema> = [
  ["NAME", (o) => o.name],
  ["OID", (o) => o.oid],
  ["PLACEMENT", (o) => ObjectIdentifier_Placement[o.placement] ?? ""],
  ["VALUE TYPE", (o) => ObjectIdentifier_ValueType[o.valueType] ?? ""],
  ["PATTERN", (o) => o.valuePattern],
  ["BUILTIN", (o) => String(o.builtin)],
  ["DISPLAY NAME", (o) => o.displayName],
];

const policyColumns: Columns<typeof CertificatePolicySchema> = [
  ["NAME", (p) => p.name],
  ["OID", (p) => p.oid],
  ["CPS URI", (p) => p.cpsUri],
  ["BUILTIN", (p) => String(p.builtin)],
  ["DISPLAY NAME", (p) => p.displayName],
];

/** The fields named by flags, and their update_mask paths. */
function changes(context: CommandContext, fields: Record<string, [field: string, path: string]>) {
  const values: Record<string, string> = {};
  const mask: string[] = [];
  for (const [flag, [field, path]] of Object.entries(fields)) {
    const value = str(context.flags, flag);
    if (value === undefined) continue;
    values[field] = value;
    mask.push(path);
  }
  if (mask.length === 0)
    throw new UsageError(
      `nothing to update: give ${Object.keys(fields)
        .map((f) => `--${f}`)
        .join(", ")}`,
    );
  return { values, mask };
}

async function oid(action: string | undefined, context: CommandContext): Promise<number> {
  const { api, args, flags } = context;
  const name = () => resourceName(args[0], "objectIdentifiers", "entry name (objectIdentifiers/ID or ID)");
  switch (action) {
    case "list":
      print(
        context,
        ObjectIdentifierSchema,
        (await api.registry.listObjectIdentifiers({ pageSize: 1000 })).objectIdentifiers,
        oidColumns,
      );
      return 0;
    case "get":
      print(context, ObjectIdentifierSchema, [await api.registry.getObjectIdentifier({ name: name() })], oidColumns);
      return 0;
    case "create": {
      const made = await api.registry.createObjectIdentifier({
        objectIdentifierId: name().slice("objectIdentifiers/".length),
        objectIdentifier: {
          oid: need(str(flags, "oid"), "--oid"),
          displayName: need(str(flags, "display-name"), "--display-name"),
          placement: choose(placements, need(str(flags, "placement"), "--placement"), "--placement"),
          valueType: choose(valueTypes, need(str(flags, "value-type"), "--value-type"), "--value-type"),
          valuePattern: str(flags, "pattern") ?? "",
        },
        requestId: str(flags, "request-id") ?? "",
      });
      print(context, ObjectIdentifierSchema, [made], oidColumns);
      return 0;
    }
    case "update": {
      const { values, mask } = changes(context, {
        "display-name": ["displayName", "display_name"],
        pattern: ["valuePattern", "value_pattern"],
      });
      const updated = await api.registry.updateObjectIdentifier({
        objectIdentifier: { name: name(), ...values },
        updateMask: mask,
      });
      print(context, ObjectIdentifierSchema, [updated], oidColumns);
      return 0;
    }
    case "delete": {
      const target = name();
      await api.registry.deleteObjectIdentifier({ name: target });
      process.stdout.write(`deleted ${target}\n`);
      return 0;
    }
    default:
      throw new UsageError(`unknown command "registry oid ${action ?? ""}"`);
  }
}

async function policy(action: string | undefined, context: CommandContext): Promise<number> {
  const { api, args, flags } = context;
  const name = () => resourceName(args[0], "certificatePolicies", "entry name (certificatePolicies/ID or ID)");
  switch (action) {
    case "list":
      print(
        context,
        CertificatePolicySchema,
        (await api.registry.listCertificatePolicies({ pageSize: 1000 })).certificatePolicies,
        policyColumns,
      );
      return 0;
    case "get":
      print(
        context,
        CertificatePolicySchema,
        [await api.registry.getCertificatePolicy({ name: name() })],
        policyColumns,
      );
      return 0;
    case "create": {
      const made = await api.registry.createCertificatePolicy({
        certificatePolicyId: name().slice("certificatePolicies/".length),
        certificatePolicy: {
          oid: need(str(flags, "oid"), "--oid"),
          displayName: need(str(flags, "display-name"), "--display-name"),
          cpsUri: str(flags, "cps-uri") ?? "",
          userNotice: str(flags, "user-notice") ?? "",
        },
        requestId: str(flags, "request-id") ?? "",
      });
      print(context, CertificatePolicySchema, [made], policyColumns);
      return 0;
    }
    case "update": {
      const { values, mask } = changes(context, {
        "display-name": ["displayName", "display_name"],
        "cps-uri": ["cpsUri", "cps_uri"],
        "user-notice": ["userNotice", "user_notice"],
      });
      const updated = await api.registry.updateCertificatePolicy({
        certificatePolicy: { name: name(), ...values },
        updateMask: mask,
      });
      print(context, CertificatePolicySchema, [updated], policyColumns);
      return 0;
    }
    case "delete": {
      const target = name();
      await api.registry.deleteCertificatePolicy({ name: target });
      process.stdout.write(`deleted ${target}\n`);
      return 0;
    }
    default:
      throw new UsageError(`unknown command "registry policy ${action ?? ""}"`);
  }
}

/** chancery registry ...: RegistryService, the OID and certificate policy registries. */
export const registry: CommandGroup = {
  name: "registry",
  usage: `  registry oid list | get <ID> | delete <ID> | update <ID> [--display-name N] [--pattern RE]
  registry oid create <ID> --oid 1.2.3.4 --display-name N --placement ${[...placements.keys()].join("|")}
      --value-type ${[...valueTypes.keys()].join("|")} [--pattern RE] [--request-id ID]
  registry policy list | get <ID> | delete <ID> | update <ID> [--display-name N] [--cps-uri U] [--user-notice T]
  registry policy create <ID> --oid 1.2.3.4 --display-name N [--cps-uri U] [--user-notice T] [--request-id ID]
`,
  options: {
    oid: { type: "string" },
    "display-name": { type: "string" },
    placement: { type: "string" },
    "value-type": { type: "string" },
    pattern: { type: "string" },
    "cps-uri": { type: "string" },
    "user-notice": { type: "string" },
    "request-id": { type: "string" },
  },
  async run(verb, context) {
    const [action, ...rest] = context.args;
    const sub = { ...context, args: rest };
    if (verb === "oid") return oid(action, sub);
    if (verb === "policy") return policy(action, sub);
    throw new UsageError('registry takes "oid" or "policy"');
  },
};
