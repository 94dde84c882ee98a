import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import type { ZodIssue } from "zod";
import { type Config, configSchema } from "./config-schema.ts";
import { envOverrides } from "./env-overrides.ts";

/** Thrown for any configuration problem; the message names the key and why. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

export interface LoadConfigOptions {
  /** Path of a YAML (or JSON, a YAML subset) config file; none means defaults + environment. */
  file?: string | undefined;
  env?: NodeJS.ProcessEnv;
}

/**
 * Reads the config file, applies CHANCERY_* environment overrides on top and
 * validates the result. Every error names the offending key, and for an
 * environment value the variable it came from.
 */
export function loadConfig(options: LoadConfigOptions = {}): Config {
  const env = options.env ?? process.env;
  const raw = options.file === undefined ? {} : readConfigFile(options.file);
  const sources = new Map<string, string>();

  for (const { env: name, path, type } of envOverrides) {
    const value = env[name];
    if (value === undefined || value === "") continue;
    setPath(raw, path, convert(name, value, type));
    sources.set(path.join("."), name);
  }

  const result = configSchema.safeParse(raw);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => describeIssue(issue, sources, options.file));
    throw new ConfigError(`invalid configuration:\n${lines.map((l) => `  - ${l}`).join("\n")}`);
  }
  return result.data;
}

function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`config file ${file} is not valid YAML: ${(err as Error).message}`);
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new ConfigError(`config file ${file} must hold a mapping of keys at the top level`);
  }
  return parsed as Record<string, unknown>;
}

function convert(name: string, value: string, type: "string" | "number" | "boolean" | "list"): unknown {
  switch (type) {
    case "string":
      return value;
    case "number": {
      const n = Number(value);
      if (!Number.isFinite(n)) throw new ConfigError(`${name}: "${value}" is not a number`);
      return n;
    }
    case "boolean":
      if (/^(1|true|yes|on)$/i.test(value)) return true;
      if (/^(0|false|no|off)$/i.test(value)) return false;
      throw new ConfigError(`${name}: "${value}" is not a boolean (use true or false)`);
    case "list":
      return value
        .split(",")
        .map((item) => item.trim())
        .filter((item) => item !== "");
  }
}

function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== "object" || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
}

function describeIssue(issue: ZodIssue, sources: Map<string, string>, file: string | undefined): string {
  const key = issue.path.join(".") || "(top level)";
  const envName = sources.get(key);
  const origin = envName ? ` (from ${envName})` : file ? ` (in ${file})` : "";
  if (issue.code === "unrecognized_keys") {
    const where = issue.path.length ? `${key}: ` : "";
    return `${where}unknown key${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => `"${k}"`).join(", ")}${origin}`;
  }
  return `${key}${origin}: ${issue.message}`;
}
