import {
  CertificateAuthority_Kind,
  CertificateAuthority_State,
  CertificateAuthoritySchema,
} from "../../gen/chancery/admin/v1/certificate_authority_pb.js";
import {
  type Columns,
  type CommandContext,
  type CommandGroup,
  int,
  keyAlgorithm,
  need,
  print,
  str,
  time,
  UsageError,
} from "../cli-context.ts";

const caColumns: Columns<typeof CertificateAuthoritySchema> = [
  ["NAME", (c) => c.name],
  ["DISPLAY NAME", (c) => c.displayName],
  ["KIND", (c) => CertificateAuthority_Kind[c.kind] ?? ""],
  ["STATE", (c) => CertificateAuthority_State[c.state] ?? ""],
  ["SUBJECT", (c) => c.subject],
  ["NOT AFTER", (c) => time(c.notAfter)],
];

/** Subject, key, lifetime and path length of a new CA, from the flags. */
function newCa(context: CommandContext) {
  const { flags } = context;
  const org = str(flags, "org");
  const pathLen = int(str(flags, "path-len"), "--path-len");
  return {
    displayName: need(str(flags, "name"), "--name"),
    subject: [...(org ? [{ type: "O", value: org }] : []), { type: "CN", value: need(str(flags, "cn"), "--cn") }],
    keyAlgorithm: keyAlgorithm(str(flags, "key") ?? "ecdsa-p256"),
    validityDays: int(str(flags, "days") ?? "3650", "--days")!,
    ...(pathLen === undefined ? {} : { pathLen }),
  };
}

/** chancery ca ...: CertificateAuthorityService. */
export const ca: CommandGroup = {
  name: "ca",
  usage: `  ca list | get <certificateAuthorities/ID> | enable <NAME> | disable <NAME>
  ca create-root --name N --cn CN [--org O] [--key ecdsa-p256|ecdsa-p384|rsa-2048|rsa-3072|rsa-4096|ed25519] [--days D] [--path-len N]
  ca create-intermediate --parent <certificateAuthorities/ID> --name N --cn CN [--org O] [--key K] [--days D] [--path-len N]
`,
  options: {
    name: { type: "string" },
    cn: { type: "string" },
    org: { type: "string" },
    key: { type: "string" },
    days: { type: "string" },
    "path-len": { type: "string" },
    parent: { type: "string" },
  },
  async run(verb, context) {
    const { api, args } = context;
    switch (verb) {
      case "list":
        print(
          context,
          CertificateAuthoritySchema,
          (await api.cas.listCertificateAuthorities({ pageSize: 1000 })).certificateAuthorities,
          caColumns,
        );
        return 0;
      case "get":
        print(
          context,
          CertificateAuthoritySchema,
          [await api.cas.getCertificateAuthority({ name: need(args[0], "CA name") })],
          caColumns,
        );
        return 0;
      case "enable":
      case "disable": {
        const name = need(args[0], "CA name");
        const changed =
          verb === "enable"
            ? await api.cas.enableCertificateAuthority({ name })
            : await api.cas.disableCertificateAuthority({ name });
        print(context, CertificateAuthoritySchema, [changed], caColumns);
        return 0;
      }
      case "create-root":
        print(
          context,
          CertificateAuthoritySchema,
          [await api.cas.createRootCertificateAuthority(newCa(context))],
          caColumns,
        );
        return 0;
      case "create-intermediate": {
        const parent = need(str(context.flags, "parent"), "--parent");
        const made = await api.cas.createIntermediateCertificateAuthority({ ...newCa(context), parent });
        print(context, CertificateAuthoritySchema, [made], caColumns);
        return 0;
      }
      default:
        throw new UsageError(`unknown command "ca ${verb ?? ""}"`);
    }
  },
};
