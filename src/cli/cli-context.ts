import { readFileSync, writeFileSync } from "node:fs";
import { isIP } from "node:net";
import type { ParseArgsOptionsConfig } from "node:util";
import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { KeyAlgorithm } from "../gen/chancery/admin/v1/certificate_authority_pb.js";
import type { AdminClients } from "./admin-client.ts";
import { type OutputFormat, printMessages } from "./output.ts";

/** Bad command-line usage: exit 2 with the usage text, never a server call. */
export class UsageError extends Error {}

/** A file named on the command line that cannot be used: exit 2, with the reason but without the usage text. */
export class InputError extends UsageError {}

/** Parsed flags of one command line; values are strings, booleans or (for `multiple` options) lists. */
export type Flags = Record<string, string | boolean | string[] | undefined>;

/** What a command group's handler gets: the clients, the output format and the parsed command line. */
export interface CommandContext {
  readonly api: AdminClients;
  readonly format: OutputFormat;
  readonly flags: Flags;
  /** Positionals after group and verb. */
  readonly args: readonly string[];
  readonly env: NodeJS.ProcessEnv;
}

/** One `chancery <group> <verb> ...` family, in its own file under commands/. */
export interface CommandGroup {
  readonly name: string;
  /** Usage lines, each starting with the group name. */
  readonly usage: string;
  /** Flags this group takes besides the global ones. */
  readonly options: ParseArgsOptionsConfig;
  /** Exit code; throw UsageError for bad usage, and let ConnectError through for server refusals. */
  run(verb: string | undefined, context: CommandContext): Promise<number>;
}

export function str(flags: Flags, name: string): string | undefined {
  const value = flags[name];
  if (value === undefined) return undefined;
  if (typeof value !== "string") throw new UsageError(`--${name} takes a value`);
  return value;
}

export function need(value: string | undefined, what: string): string {
  if (!value) throw new UsageError(`${what} is required`);
  return value;
}

/** A repeatable flag, each occurrence also split on commas: --san a --san b,c. */
export function list(flags: Flags, name: string): string[] {
  const value = flags[name];
  if (value === undefined) return [];
  const values = Array.isArray(value) ? value : [String(value)];
  return values.flatMap((v) => v.split(",")).filter((v) => v !== "");
}

export function bool(value: string, flag: string): boolean {
  if (value === "true" || value === "on") return true;
  if (value === "false" || value === "off") return false;
  throw new UsageError(`${flag} takes true or false`);
}

export function int(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new UsageError(`${flag} takes a whole number`);
  return Number(value);
}

/**
 * A resource name from an argument: the full name ("profiles/tls-server"),
 * or, for convenience, only its id ("tls-server").
 */
export function resourceName(arg: string | undefined, collection: string, what: string): string {
  const value = need(arg, what);
  return value.startsWith(`${collection}/`) ? value : `${collection}/${value}`;
}

/** "90s", "15m", "24h", "7d" (or bare seconds) as whole seconds. */
export function durationSeconds(value: string, flag: string): number {
  const match = /^(\d+)([smhd]?)$/.exec(value.trim());
  if (!match) throw new UsageError(`${flag} takes a duration like 90s, 15m, 24h or 7d`);
  const unit = { "": 1, s: 1, m: 60, h: 3600, d: 86_400 }[match[2] as "" | "s" | "m" | "h" | "d"];
  return Number(match[1]) * unit;
}

export const time = (t: Parameters<typeof timestampDate>[0] | undefined) => (t ? timestampDate(t).toISOString() : "");

/** A file's text; "-" reads standard input. */
export function readText(path: string): string {
  try {
    return readFileSync(path === "-" ? 0 : path, "utf8");
  } catch (err) {
    throw new InputError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

/** Writes to --out (mode 0600 for secrets), or to standard output when there is none or it is "-". */
export function writeOut(data: string | Uint8Array, out: string | undefined, options: { secret?: boolean } = {}): void {
  if (out === undefined || out === "-") {
    process.stdout.write(data);
    return;
  }
  writeFileSync(out, data, { mode: options.secret ? 0o600 : 0o644 });
  process.stderr.write(`wrote ${out}\n`);
}

export type Columns<D extends DescMessage> = ReadonlyArray<[header: string, value: (m: MessageShape<D>) => string]>;

/** Prints messages in the chosen format: a table of `columns`, or proto JSON. */
export function print<D extends DescMessage>(
  context: CommandContext,
  schema: D,
  messages: readonly MessageShape<D>[],
  columns: Columns<D>,
): void {
  printMessages(context.format, schema, messages, columns);
}

export type SanType = "dns" | "ip" | "email" | "uri" | "otherName";

/** A SAN as the command line gives it; `otherName` is the OID registry entry's id for an otherName. */
export interface CliSan {
  readonly type: SanType;
  readonly value: string;
  readonly otherName: string;
}

/**
 * A SAN from the command line: "dns:www.example.com", "ip:192.0.2.1",
 * "email:a@example.com", "uri:spiffe://...", or an otherName of the OID
 * registry as "otherName:<entry id>:<value>" ("otherName:upn:alice@example.com",
 * the form enrollment-secret bindings and the audit use). Without a type, an
 * IP address is an IP, a name with "@" an email address, and anything else
 * without a colon a DNS name; a URI must say "uri:".
 */
export function parseSan(text: string): CliSan {
  const other = /^othername:([^:]+):(.+)$/i.exec(text);
  if (other) return { type: "otherName", otherName: other[1]!, value: other[2]! };
  if (/^othername:/i.test(text)) throw new UsageError(`--san ${text}: write otherName:<registry id>:<value>`);
  const match = /^(dns|ip|email|uri):(.+)$/i.exec(text);
  if (match) return { type: match[1]!.toLowerCase() as SanType, value: match[2]!, otherName: "" };
  if (isIP(text)) return { type: "ip", value: text, otherName: "" };
  if (text.includes(":")) throw new UsageError(`--san ${text}: say which type, e.g. uri:${text}`);
  return { type: text.includes("@") ? "email" : "dns", value: text, otherName: "" };
}

/** --key values. */
export const keyAlgorithms: Record<string, KeyAlgorithm> = {
  "ecdsa-p256": KeyAlgorithm.ECDSA_P256,
  "ecdsa-p384": KeyAlgorithm.ECDSA_P384,
  "rsa-2048": KeyAlgorithm.RSA_2048,
  "rsa-3072": KeyAlgorithm.RSA_3072,
  "rsa-4096": KeyAlgorithm.RSA_4096,
  ed25519: KeyAlgorithm.ED25519,
};

export function keyAlgorithm(value: string, flag = "--key"): KeyAlgorithm {
  const found = keyAlgorithms[value];
  if (found === undefined) throw new UsageError(`${flag} must be one of ${Object.keys(keyAlgorithms).join(", ")}`);
  return found;
}

/** Keys of a protobuf enum type by their lower-case, dash-separated short name ("KEY_COMPROMISE" -> "key-compromise"). */
export function enumChoices<E extends Record<string, string | number>>(
  enumObject: E,
  skip: readonly string[] = ["UNSPECIFIED"],
): Map<string, number> {
  const out = new Map<string, number>();
  for (const [key, value] of Object.entries(enumObject))
    if (typeof value === "number" && !skip.includes(key)) out.set(key.toLowerCase().replaceAll("_", "-"), value);
  return out;
}

export function choose(choices: Map<string, number>, value: string, flag: string): number {
  const found = choices.get(value.toLowerCase().replaceAll("_", "-"));
  if (found === undefined) throw new UsageError(`${flag} must be one of ${[...choices.keys()].join(", ")}`);
  return found;
}

/**
 * Every item of a paged List RPC, page after page: the CLI prints and
 * searches whole lists. `pick` names the response's repeated field.
 */
export async function listAll<R extends { nextPageToken: string }, T>(
  fetchPage: (pageToken: string) => Promise<R>,
  pick: (page: R) => readonly T[],
): Promise<T[]> {
  const items: T[] = [];
  let pageToken = "";
  do {
    const page = await fetchPage(pageToken);
    items.push(...pick(page));
    pageToken = page.nextPageToken;
  } while (pageToken);
  return items;
}

/** All of standard input, as text (secrets and codes given as "-"). */
export async function readStdin(): Promise<string> {
  let text = "";
  for await (const chunk of process.stdin) text += chunk;
  return text;
}
