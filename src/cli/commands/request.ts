import {
  Request_Kind,
  Request_State,
  Request_SubjectAltName_Type,
  RequestCountsSchema,
  RequestSchema,
} from "../../gen/chancery/admin/v1/request_pb.js";
import {
  type Columns,
  type CommandContext,
  type CommandGroup,
  choose,
  enumChoices,
  InputError,
  int,
  keyAlgorithm,
  list,
  need,
  parseSan,
  print,
  readText,
  resourceName,
  type SanType,
  str,
  time,
  UsageError,
  writeOut,
} from "../cli-context.ts";
import { otpHeaders, resolveCa } from "./cert.ts";

const sanTypes: Record<SanType, Request_SubjectAltName_Type> = {
  dns: Request_SubjectAltName_Type.DNS,
  ip: Request_SubjectAltName_Type.IP,
  email: Request_SubjectAltName_Type.EMAIL,
  uri: Request_SubjectAltName_Type.URI,
  otherName: Request_SubjectAltName_Type.OTHER_NAME,
};

const states = enumChoices(Request_State);
const kinds = enumChoices(Request_Kind);

export const requestColumns: Columns<typeof RequestSchema> = [
  ["NAME", (r) => r.name],
  ["STATE", (r) => Request_State[r.state] ?? ""],
  ["KIND", (r) => Request_Kind[r.kind] ?? ""],
  // A protocol front end's request names its client ("acme-account:{uuid}") instead of a user.
  ["REQUESTER", (r) => r.requester || r.protocolRequester],
  ["SUBJECT", (r) => r.commonName || (r.freeForm ? "(free form)" : r.profile)],
  ["APPROVALS", (r) => `${r.approvals.length}/${r.requiredApprovals || 1}`],
  ["CERTIFICATE", (r) => r.certificate],
  ["CREATED", (r) => time(r.createTime)],
];

/** Content flags shared by submit and (for free-form requests) approve: CN, SANs, and a key or a CSR. */
function content(context: CommandContext) {
  const { flags } = context;
  const key = str(flags, "key");
  const csr = str(flags, "csr");
  if (key && csr) throw new UsageError("give --key (the gateway makes the key) or --csr (you hold it), not both");
  return {
    commonName: str(flags, "cn") ?? "",
    subjectAltNames: list(flags, "san")
      .map(parseSan)
      .map((s) => ({ type: sanTypes[s.type], value: s.value, otherName: s.otherName })),
    ...(key ? { keyAlgorithm: keyAlgorithm(key) } : {}),
    ...(csr ? { csrPem: readText(csr) } : {}),
  };
}

/** chancery request ...: RequestService, the approval queue. */
export const request: CommandGroup = {
  name: "request",
  usage: `  request list [--state pending|issued|rejected|applied|failed] [--kind certificate|profile-change|profile-deletion] [--limit N] | counts
  request get <ID>
  request submit [--cn CN] [--san [dns:|ip:|email:|uri:|otherName:ID:]V ...] [--key K | --csr FILE] [--comment C] [--free-form]
  request approve <ID> [--ca CA --profile P] [--cn/--san/--key/--csr for a free-form request] [--otp CODE]
  request reject <ID> --reason R
  request export-p12 <ID> --out FILE [--passphrase P]   (or CHANCERY_P12_PASSPHRASE)
`,
  options: {
    state: { type: "string" },
    kind: { type: "string" },
    limit: { type: "string" },
    cn: { type: "string" },
    san: { type: "string", multiple: true },
    key: { type: "string" },
    csr: { type: "string" },
    comment: { type: "string" },
    "free-form": { type: "boolean" },
    ca: { type: "string" },
    profile: { type: "string" },
    otp: { type: "string" },
    reason: { type: "string" },
    out: { type: "string" },
    passphrase: { type: "string" },
  },
  async run(verb, context) {
    const { api, args, flags } = context;
    const name = () => resourceName(args[0], "requests", "request name (requests/ID or ID)");
    switch (verb) {
      case "list": {
        const state = str(flags, "state");
        const kind = str(flags, "kind");
        const page = await api.requests.listRequests({
          ...(state ? { state: choose(states, state, "--state") } : {}),
          ...(kind ? { kind: choose(kinds, kind, "--kind") } : {}),
          pageSize: int(str(flags, "limit"), "--limit") ?? 100,
        });
        print(context, RequestSchema, page.requests, requestColumns);
        // The table ends with the queue's totals (what the caller may see), as a dashboard would show them.
        if (context.format === "table") {
          const counts = await api.requests.getRequestCounts({});
          process.stdout.write(
            `\npending ${counts.pending}  issued ${counts.issued}  rejected ${counts.rejected}  applied ${counts.applied}  failed ${counts.failed}\n`,
          );
        }
        return 0;
      }
      case "counts":
        print(
          context,
          RequestCountsSchema,
          [await api.requests.getRequestCounts({})],
          [
            ["PENDING", (c) => String(c.pending)],
            ["ISSUED", (c) => String(c.issued)],
            ["REJECTED", (c) => String(c.rejected)],
            ["APPLIED", (c) => String(c.applied)],
            ["FAILED", (c) => String(c.failed)],
          ],
        );
        return 0;
      case "get":
        print(context, RequestSchema, [await api.requests.getRequest({ name: name() })], requestColumns);
        return 0;
      case "submit": {
        const freeForm = flags["free-form"] === true;
        const made = await api.requests.createRequest({
          request: { freeForm, comment: str(flags, "comment") ?? "", ...(freeForm ? {} : content(context)) },
        });
        print(context, RequestSchema, [made], requestColumns);
        return 0;
      }
      case "approve": {
        const ca = str(flags, "ca");
        const profile = str(flags, "profile");
        const approved = await api.requests.approveRequest(
          {
            name: name(),
            ...(ca ? { certificateAuthority: await resolveCa(api, ca) } : {}),
            ...(profile ? { profile: resourceName(profile, "profiles", "--profile") } : {}),
            ...content(context),
          },
          otpHeaders(context),
        );
        print(context, RequestSchema, [approved], requestColumns);
        return 0;
      }
      case "reject": {
        const rejected = await api.requests.rejectRequest({
          name: name(),
          reason: need(str(flags, "reason"), "--reason"),
        });
        print(context, RequestSchema, [rejected], requestColumns);
        return 0;
      }
      case "export-p12": {
        // Binary: never to a terminal by accident, so --out is required ("-" for stdout on purpose).
        const out = need(str(flags, "out"), "--out");
        const passphrase = str(flags, "passphrase") ?? context.env["CHANCERY_P12_PASSPHRASE"];
        if (!passphrase) throw new InputError("give --passphrase or set CHANCERY_P12_PASSPHRASE");
        const { pkcs12 } = await api.requests.exportRequestPkcs12({ name: name(), passphrase });
        writeOut(pkcs12, out, { secret: true });
        return 0;
      }
      default:
        throw new UsageError(`unknown command "request ${verb ?? ""}"`);
    }
  },
};
