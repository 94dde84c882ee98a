/**
 * Device keys for `npm run bench:scep`: RSA-2048, PKCS#1 PEM (the only form
 * scepclient reads). A scepclient given an existing key skips generating
 * one, so no key generation competes with the servers for the machine's
 * cores during a measured window. scepclient's transactionID is a hash of
 * the key, so every enrolment on a server gets a key of its own.
 *
 * Generating 2048-bit keys costs tens of milliseconds of CPU each; the pool
 * is kept between runs in a directory of throwaway keys
 * (BENCH_SCEP_KEY_CACHE, default <tmpdir>/chancery-bench-scep-keys) and only
 * the missing ones are made.
 */
import { generateKeyPair } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, rename, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";

const generate = promisify(generateKeyPair);

export const keyCacheDir = process.env["BENCH_SCEP_KEY_CACHE"] ?? path.join(os.tmpdir(), "chancery-bench-scep-keys");

export function keyFile(i: number): string {
  return path.join(keyCacheDir, `device-${i}.pem`);
}

/** Makes sure keys 0..count-1 exist; returns how many had to be generated. */
export async function ensureKeys(count: number): Promise<number> {
  await mkdir(keyCacheDir, { recursive: true, mode: 0o700 });
  const missing = Array.from({ length: count }, (_, i) => i).filter((i) => !existsSync(keyFile(i)));
  let next = 0;
  // On libuv's thread pool, two at a time: the machine has 2 cores.
  await Promise.all(
    Array.from({ length: 2 }, async () => {
      while (next < missing.length) {
        const i = missing[next++]!;
        const { privateKey } = await generate("rsa", {
          modulusLength: 2048,
          publicKeyEncoding: { type: "spki", format: "pem" },
          privateKeyEncoding: { type: "pkcs1", format: "pem" },
        });
        const temporary = `${keyFile(i)}.${process.pid}.tmp`;
        await writeFile(temporary, privateKey, { mode: 0o600 });
        await rename(temporary, keyFile(i));
      }
    }),
  );
  return missing.length;
}
