import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { Logger } from "pino";
import { parseKek } from "../core/ca/key-encryption.ts";
import { isChanceryError } from "../core/errors.ts";
import type { Config } from "./config-schema.ts";
import { ConfigError } from "./load-config.ts";

/**
 * The KEK that seals CA private keys: from config (value or file), else
 * dataDir/kek, generated on first start. A generated KEK next to the
 * database it protects only guards against a leaked database dump, not a
 * stolen disk, which is why the warning says so and tells how to move it.
 */
export function loadKeyEncryptionKey(config: Config, logger: Logger): { kek: Buffer; source: string } {
  if (config.keyEncryptionKey !== undefined) {
    return { kek: parse(config.keyEncryptionKey, "keyEncryptionKey"), source: "config" };
  }
  if (config.keyEncryptionKeyFile !== undefined) {
    return {
      kek: parse(readKekFile(config.keyEncryptionKeyFile, "keyEncryptionKeyFile"), "keyEncryptionKeyFile"),
      source: config.keyEncryptionKeyFile,
    };
  }
  const file = path.resolve(config.dataDir, "kek");
  if (existsSync(file)) return { kek: parse(readKekFile(file, "dataDir/kek"), `${file}`), source: file };

  const kek = randomBytes(32);
  writeFileSync(file, `${kek.toString("base64")}\n`, { mode: 0o600, flag: "wx" });
  logger.warn(
    { file },
    "generated a new key-encryption key for CA private keys and stored it in the data directory. " +
      "Anyone with the data directory can open the CA keys: for production move this file to a secret store " +
      "and pass it as CHANCERY_KEY_ENCRYPTION_KEY or keyEncryptionKeyFile, and back it up (without it the CA keys are lost).",
  );
  return { kek, source: file };
}

function readKekFile(file: string, key: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigError(`${key}: cannot read ${file}: ${(err as Error).message}`);
  }
}

function parse(text: string, key: string): Buffer {
  try {
    return parseKek(text);
  } catch (err) {
    if (isChanceryError(err)) throw new ConfigError(`${key}: ${err.message}`);
    throw err;
  }
}
