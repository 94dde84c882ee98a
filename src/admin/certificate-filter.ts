import { ChanceryError } from "../core/errors.ts";
import type { NotAfterBound } from "../core/issuance/certificate-listing.ts";
import type { CertificateState } from "../core/issuance/certificate-record.ts";
import { lowerCaseUuidPattern } from "../core/uuid-pattern.ts";

/**
 * ListCertificatesRequest.filter: a small, strict subset of AIP-160.
 *
 *   filter  = [ term { "AND" term } ]
 *   term    = field op string
 *   string  = '"' { any character but '"' and '\', or '\"' or '\\' } '"'
 *
 *   field                                op               value
 *   ca (alias certificate_authority)     =                "certificateAuthorities/{uuid}"
 *   profile                              =                "profiles/{name}" or "{name}"
 *   state                                =                "VALID" "REVOKED" "EXPIRED" (or "STATE_VALID", ...)
 *   not_after                            < <= > >=        RFC 3339 time, e.g. "2027-01-01T00:00:00Z"
 *   san (alias subject_alt_names)        :                text some SAN value contains (case-insensitive;
 *                                                         every character literal, no wildcards, any length)
 *   requester                            =                e.g. "user:{id}"
 *
 * AND is upper case (as in AIP-160). Each field may appear once, not_after
 * once per direction (a lower and an upper bound). Anything else — OR, NOT,
 * parentheses, unquoted values, other fields or operators — is refused with
 * invalid_argument naming what and where, rather than guessed at.
 */
export interface ParsedCertificateFilter {
  /** Lower-case UUID. */
  readonly caId?: string | undefined;
  readonly profileName?: string | undefined;
  readonly state?: CertificateState | undefined;
  readonly notAfter: readonly NotAfterBound[];
  readonly sanContains?: string | undefined;
  readonly requester?: string | undefined;
}

type Operator = "=" | "<" | "<=" | ">" | ">=" | ":" | "!=";

type Token =
  | { readonly kind: "word"; readonly text: string; readonly at: number }
  | { readonly kind: "op"; readonly op: Operator; readonly at: number }
  | { readonly kind: "string"; readonly value: string; readonly at: number };

const maxFilterLength = 2048;
const caPrefix = "certificateAuthorities/";
const profilePrefix = "profiles/";

const fields = {
  ca: "ca",
  certificate_authority: "ca",
  profile: "profile",
  state: "state",
  not_after: "not_after",
  san: "san",
  subject_alt_names: "san",
  requester: "requester",
} as const;

type Field = (typeof fields)[keyof typeof fields];

const operatorsOf: Record<Field, readonly Operator[]> = {
  ca: ["="],
  profile: ["="],
  state: ["="],
  not_after: ["<", "<=", ">", ">="],
  san: [":"],
  requester: ["="],
};

const states: Record<string, CertificateState> = {
  VALID: "valid",
  REVOKED: "revoked",
  EXPIRED: "expired",
  STATE_VALID: "valid",
  STATE_REVOKED: "revoked",
  STATE_EXPIRED: "expired",
};

function refuse(message: string): ChanceryError {
  return new ChanceryError("invalid_argument", `filter: ${message}`);
}

/** Positions in messages count from 1, as a person reading the filter would. */
function where(at: number): string {
  return `at position ${at + 1}`;
}

function whereToken(token: Token | undefined): string {
  return token ? where(token.at) : "at the end";
}

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === " " || c === "\t" || c === "\n" || c === "\r") {
      i++;
      continue;
    }
    const word = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i));
    if (word) {
      tokens.push({ kind: "word", text: word[0], at: i });
      i += word[0].length;
      continue;
    }
    const op = /^(<=|>=|!=|=|<|>|:)/.exec(text.slice(i));
    if (op) {
      tokens.push({ kind: "op", op: op[0] as Operator, at: i });
      i += op[0].length;
      continue;
    }
    if (c === '"') {
      const start = i;
      let value = "";
      i++;
      for (;;) {
        if (i >= text.length) throw refuse(`the string starting ${where(start)} is not closed`);
        const d = text[i]!;
        if (d === '"') {
          i++;
          break;
        }
        if (d === "\\") {
          const next = text[i + 1];
          if (next !== '"' && next !== "\\") throw refuse(`only \\" and \\\\ may be escaped in a string (${where(i)})`);
          value += next;
          i += 2;
          continue;
        }
        value += d;
        i++;
      }
      tokens.push({ kind: "string", value, at: start });
      continue;
    }
    if (c === "(" || c === ")") throw refuse(`parentheses are not supported (${where(i)}); join terms with AND`);
    if (c === "-") throw refuse(`negation is not supported (${where(i)})`);
    throw refuse(`unexpected "${c}" ${where(i)}`);
  }
  return tokens;
}

export function parseCertificateFilter(text: string): ParsedCertificateFilter {
  if (text.length > maxFilterLength) throw refuse(`longer than ${maxFilterLength} characters`);
  const tokens = tokenize(text);
  const seen = new Set<string>();
  const result: {
    caId?: string;
    profileName?: string;
    state?: CertificateState;
    notAfter: NotAfterBound[];
    sanContains?: string;
    requester?: string;
  } = { notAfter: [] };
  let i = 0;
  while (i < tokens.length) {
    if (i > 0) {
      const joiner = tokens[i]!;
      if (joiner.kind === "word" && joiner.text === "AND") i++;
      else if (joiner.kind === "word" && (joiner.text === "OR" || joiner.text === "NOT"))
        throw refuse(`${joiner.text} is not supported (${where(joiner.at)}); only AND`);
      else if (joiner.kind === "word" && joiner.text.toUpperCase() === "AND")
        throw refuse(`write AND in upper case (${where(joiner.at)})`);
      else throw refuse(`expected AND between terms ${where(joiner.at)}`);
      if (i >= tokens.length) throw refuse("a term must follow AND");
    }
    const name = tokens[i];
    const op = tokens[i + 1];
    const value = tokens[i + 2];
    if (name?.kind !== "word") throw refuse(`expected a field name ${whereToken(name)}`);
    if (name.text === "NOT") throw refuse(`NOT is not supported (${where(name.at)})`);
    const field = Object.hasOwn(fields, name.text) ? fields[name.text as keyof typeof fields] : undefined;
    if (!field)
      throw refuse(
        `unknown field "${name.text}" ${where(name.at)}; fields are ca, profile, state, not_after, san, requester`,
      );
    if (op?.kind !== "op") throw refuse(`expected an operator after ${name.text} ${whereToken(op)}`);
    if (!operatorsOf[field].includes(op.op))
      throw refuse(`${name.text} takes ${operatorsOf[field].join(" ")}, not ${op.op} (${where(op.at)})`);
    if (value?.kind !== "string")
      throw refuse(`expected a double-quoted value after ${name.text} ${op.op} ${whereToken(value)}`);
    i += 3;

    const key = field === "not_after" ? `not_after${op.op[0]}` : field;
    if (seen.has(key))
      throw refuse(
        field === "not_after"
          ? `not_after may have one lower and one upper bound (${where(name.at)})`
          : `${name.text} appears more than once (${where(name.at)})`,
      );
    seen.add(key);
    const v = value.value;
    switch (field) {
      case "ca": {
        const id = v.startsWith(caPrefix) ? v.slice(caPrefix.length).toLowerCase() : "";
        if (!lowerCaseUuidPattern.test(id)) throw refuse(`ca must be "certificateAuthorities/{id}", got "${v}"`);
        result.caId = id;
        break;
      }
      case "profile": {
        const profile = v.startsWith(profilePrefix) ? v.slice(profilePrefix.length) : v;
        if (profile === "" || profile.includes("/"))
          throw refuse(`profile must be "profiles/{name}" or the name, got "${v}"`);
        result.profileName = profile;
        break;
      }
      case "state": {
        const state = states[v];
        if (!state) throw refuse(`state must be "VALID", "REVOKED" or "EXPIRED", got "${v}"`);
        result.state = state;
        break;
      }
      case "not_after":
        result.notAfter.push({ op: op.op as NotAfterBound["op"], at: parseRfc3339(v) });
        break;
      case "san":
        if (v === "") throw refuse("san needs a non-empty value");
        result.sanContains = v;
        break;
      case "requester":
        if (v === "") throw refuse("requester needs a non-empty value");
        result.requester = v;
        break;
    }
  }
  return result;
}

const rfc3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|([+-])(\d{2}):(\d{2}))$/;

/** RFC 3339 §5.6 date-time; out-of-range fields are refused, never rolled over (no 30 February). */
function parseRfc3339(text: string): Date {
  const m = rfc3339.exec(text);
  const bad = () => refuse(`not_after needs an RFC 3339 time like "2027-01-01T00:00:00Z", got "${text}"`);
  if (!m) throw bad();
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const millis = m[7] ? Math.floor(Number(`0${m[7]}`) * 1000) : 0;
  const utc = Date.UTC(year, month - 1, day, hour, minute, second, millis);
  const check = new Date(utc);
  if (
    check.getUTCFullYear() !== year ||
    check.getUTCMonth() !== month - 1 ||
    check.getUTCDate() !== day ||
    hour > 23 ||
    minute > 59 ||
    second > 59
  )
    throw bad();
  let offsetMinutes = 0;
  if (m[9]) {
    const offsetHours = Number(m[10]);
    const offsetMins = Number(m[11]);
    if (offsetHours > 23 || offsetMins > 59) throw bad();
    offsetMinutes = (m[9] === "-" ? -1 : 1) * (offsetHours * 60 + offsetMins);
  }
  return new Date(utc - offsetMinutes * 60_000);
}
