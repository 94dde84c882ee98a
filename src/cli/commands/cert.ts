import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  type Certificate,
  Certificate_State,
  CertificateSchema,
  GetCertificateChainResponseSchema,
  RevocationReason,
  SubjectAltName_Type,
} from "../../gen/chancery/admin/v1/certificate_pb.js";
import type { AdminClients } from "../admin-client.ts";
import {
  type Columns,
  type CommandContext,
  type CommandGroup,
  choose,
  enumChoices,
  int,
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

const sanTypes: Record<SanType, SubjectAltName_Type> = {
  dns: SubjectAltName_Type.DNS,
  ip: SubjectAltName_Type.IP,
  email: SubjectAltName_Type.EMAIL,
  uri: SubjectAltName_Type.URI,
  otherName: SubjectAltName_Type.OTHER_NAME,
};

const reasons = enumChoices(RevocationReason, []);

const certColumns: Columns<typeof CertificateSchema> = [
  ["NAME", (c) => c.name],
  ["SUBJECT", (c) => c.subject],
  ["PROFILE", (c) => c.profile.replace(/^profiles\//, "")],
  ["STATE", (c) => Certificate_State[c.state] ?? ""],
  ["NOT AFTER", (c) => time(c.notAfter)],
  ["REQUESTER", (c) => c.requester],
];

/** The CA option: a resource name, its id, or its display name (looked up: what people remember is "issuing"). */
export async function resolveCa(api: AdminClients, value: string | undefined, flag = "--ca"): Promise<string> {
  const given = need(value, flag);
  if (given.startsWith("certificateAuthorities/")) return given;
  if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(given))
    return `certificateAuthorities/${given}`;
  const { certificateAuthorities } = await api.cas.listCertificateAuthorities({ pageSize: 1000 });
  const matches = certificateAuthorities.filter((ca) => ca.displayName === given);
  if (matches.length !== 1)
    throw new UsageError(
      `${flag} ${given}: ${matches.length === 0 ? "no CA you may use has that display name" : "several CAs have that display name; give its name"}`,
    );
  return matches[0]!.name;
}

/** An AIP-160 string value: double-quoted, with \\ and " escaped. */
const quoted = (value: string) => `"${value.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;

/** --filter as given, AND the convenience flags, each a term of the API's filter language. */
async function listFilter(context: CommandContext): Promise<string> {
  const { flags, api } = context;
  const terms: string[] = [];
  const raw = str(flags, "filter");
  if (raw) terms.push(raw);
  if (str(flags, "ca")) terms.push(`ca = ${quoted(await resolveCa(api, str(flags, "ca")))}`);
  if (str(flags, "profile")) terms.push(`profile = ${quoted(str(flags, "profile")!)}`);
  if (str(flags, "state")) terms.push(`state = ${quoted(str(flags, "state")!.toUpperCase())}`);
  if (str(flags, "san")) terms.push(`san : ${quoted(str(flags, "san")!)}`);
  if (str(flags, "requester")) terms.push(`requester = ${quoted(str(flags, "requester")!)}`);
  return terms.join(" AND ");
}

/** A certificate and the chain above it, PEM. */
async function chainPem(api: AdminClients, name: string): Promise<string> {
  return (await api.certs.getCertificateChain({ name })).certificateChainPem;
}

/** Headers for a CA that requires a TOTP code (chancery-otp). */
export function otpHeaders(context: CommandContext): { headers?: Record<string, string> } {
  const otp = str(context.flags, "otp");
  return otp ? { headers: { "chancery-otp": otp } } : {};
}

/** chancery cert ...: CertificateService. */
export const cert: CommandGroup = {
  name: "cert",
  usage: `  cert list [--filter F] [--ca CA] [--profile P] [--state valid|revoked|expired] [--san S] [--requester R] [--limit N] [--page-token T]
  cert get <SERIAL> | pem <SERIAL> [--out F] | chain <SERIAL> [--out F]
  cert issue --csr FILE --ca CA --profile P --san [dns:|ip:|email:|uri:|otherName:ID:]V ... [--cn CN] [--not-after RFC3339] [--request-id ID] [--otp CODE] [--out F]
  cert revoke <SERIAL> [--reason ${[...reasons.keys()].join("|")}]
`,
  options: {
    filter: { type: "string" },
    ca: { type: "string" },
    profile: { type: "string" },
    state: { type: "string" },
    san: { type: "string", multiple: true },
    requester: { type: "string" },
    limit: { type: "string" },
    "page-token": { type: "string" },
    out: { type: "string" },
    csr: { type: "string" },
    cn: { type: "string" },
    "not-after": { type: "string" },
    "request-id": { type: "string" },
    otp: { type: "string" },
    reason: { type: "string" },
  },
  async run(verb, context) {
    const { api, args, flags } = context;
    const certName = () => resourceName(args[0], "certificates", "certificate name (certificates/SERIAL or SERIAL)");
    switch (verb) {
      case "list": {
        // --san is repeatable for issue; a listing takes one substring.
        const sans = list(flags, "san");
        if (sans.length > 1) throw new UsageError("cert list takes one --san");
        const page = await api.certs.listCertificates({
          filter: await listFilter({ ...context, flags: { ...flags, san: sans[0] } }),
          pageSize: int(str(flags, "limit"), "--limit") ?? 100,
          pageToken: str(flags, "page-token") ?? "",
        });
        print(context, CertificateSchema, page.certificates, certColumns);
        if (page.nextPageToken && context.format === "table")
          process.stderr.write(`(more: --page-token ${page.nextPageToken})\n`);
        return 0;
      }
      case "get":
        print(context, CertificateSchema, [await api.certs.getCertificate({ name: certName() })], certColumns);
        return 0;
      case "pem": {
        const found = await api.certs.getCertificate({ name: certName() });
        writeOut(found.certificatePem, str(flags, "out"));
        return 0;
      }
      case "chain": {
        const name = certName();
        if (context.format === "json")
          print(context, GetCertificateChainResponseSchema, [await api.certs.getCertificateChain({ name })], []);
        else writeOut(await chainPem(api, name), str(flags, "out"));
        return 0;
      }
      case "issue": {
        const sans = list(flags, "san").map(parseSan);
        const cn = str(flags, "cn");
        const notAfter = str(flags, "not-after");
        const notAfterDate = notAfter === undefined ? undefined : new Date(notAfter);
        if (notAfterDate && Number.isNaN(notAfterDate.getTime()))
          throw new UsageError("--not-after takes an RFC 3339 time, e.g. 2027-01-01T00:00:00Z");
        const issued: Certificate = await api.certs.issueCertificate(
          {
            parent: await resolveCa(api, str(flags, "ca")),
            profile: resourceName(str(flags, "profile"), "profiles", "--profile"),
            csrPem: readText(need(str(flags, "csr"), "--csr")),
            subjectAltNames: sans.map((s) => ({ type: sanTypes[s.type], value: s.value, otherName: s.otherName })),
            subject: cn ? [{ type: "CN", value: cn }] : [],
            ...(notAfterDate ? { notAfter: timestampFromDate(notAfterDate) } : {}),
            requestId: str(flags, "request-id") ?? "",
          },
          otpHeaders(context),
        );
        // --out writes the certificate and its chain, ready for a TLS server; "-" makes that the only output.
        const out = str(flags, "out");
        if (out) writeOut(await chainPem(api, issued.name), out);
        if (out !== "-") print(context, CertificateSchema, [issued], certColumns);
        return 0;
      }
      case "revoke": {
        const reason = str(flags, "reason");
        const revoked = await api.certs.revokeCertificate({
          name: certName(),
          reason: reason === undefined ? RevocationReason.UNSPECIFIED : choose(reasons, reason, "--reason"),
        });
        print(context, CertificateSchema, [revoked], certColumns);
        return 0;
      }
      default:
        throw new UsageError(`unknown command "cert ${verb ?? ""}"`);
    }
  },
};
