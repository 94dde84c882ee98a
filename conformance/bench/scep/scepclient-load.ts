/**
 * The headline load of `npm run bench:scep`: real `scepclient` processes
 * (micromdm 2.1, unmodified), `concurrency` at a time, each one enrolment
 * from start to end as a device does it: GetCACert, GetCACaps, then a
 * PKCSReq (SHA-1 signature, single-DES envelope, whatever the server
 * offers) and its CertRep. Each run gets its own directory (scepclient
 * writes csr.pem and the certificate next to the key) and an existing key
 * from the pool (keys.ts), so no key is generated while servers are
 * measured, and its own common name (scepserver refuses a second valid
 * certificate for a DN).
 *
 * A run counts when scepclient exits 0 and wrote the certificate; a failed
 * run is recorded with the end of its output.
 */
import { spawn } from "node:child_process";
import { copyFile, mkdir, stat } from "node:fs/promises";
import path from "node:path";
import { exitedChildrenSeconds } from "./cpu.ts";
import { keyFile } from "./keys.ts";

export interface ScepclientJob {
  readonly url: string;
  readonly challenge: string;
  /** Where the run directories go. */
  readonly dir: string;
  /** Common names are `${cnPrefix}-${i}`. */
  readonly cnPrefix: string;
  /** Pool keys firstKey .. firstKey+count-1. */
  readonly firstKey: number;
  readonly count: number;
  readonly concurrency: number;
  /** No new run starts after this many seconds. */
  readonly maxSeconds: number;
}

export interface ScepclientResult {
  readonly enrolled: number;
  readonly errors: number;
  readonly firstError: string | null;
  readonly seconds: number;
  /** CPU seconds of the scepclient processes and of this driver. */
  readonly clientCpuSeconds: number;
  /** The run directories that hold a certificate, to check some with openssl afterwards. */
  readonly certificates: string[];
}

function runOne(job: ScepclientJob, i: number): Promise<{ ok: boolean; output: string; certificate: string }> {
  const dir = path.join(job.dir, `${job.cnPrefix}-${i}`);
  const certificate = path.join(dir, "client.pem");
  return (async () => {
    await mkdir(dir, { recursive: true });
    await copyFile(keyFile(job.firstKey + i), path.join(dir, "key.pem"));
    const output = await new Promise<{ code: number | null; text: string }>((resolve) => {
      const child = spawn(
        "scepclient",
        [
          "-server-url",
          job.url,
          "-private-key",
          path.join(dir, "key.pem"),
          "-certificate",
          certificate,
          "-cn",
          `${job.cnPrefix}-${i}`,
          "-challenge",
          job.challenge,
        ],
        { stdio: ["ignore", "pipe", "pipe"] },
      );
      const chunks: Buffer[] = [];
      child.stdout!.on("data", (c: Buffer) => chunks.push(c));
      child.stderr!.on("data", (c: Buffer) => chunks.push(c));
      child.once("error", (err) => resolve({ code: -1, text: String(err) }));
      child.once("close", (code) => resolve({ code, text: Buffer.concat(chunks).toString("utf8") }));
    });
    const written = await stat(certificate).then(
      (s) => s.size > 0,
      () => false,
    );
    return { ok: output.code === 0 && written, output: output.text, certificate };
  })();
}

export async function runScepclients(job: ScepclientJob): Promise<ScepclientResult> {
  const cpuBefore = exitedChildrenSeconds();
  const ownBefore = process.cpuUsage();
  const started = performance.now();
  const deadline = started + job.maxSeconds * 1000;
  let next = 0;
  let enrolled = 0;
  let errors = 0;
  let firstError: string | null = null;
  const certificates: string[] = [];
  await Promise.all(
    Array.from({ length: job.concurrency }, async () => {
      while (next < job.count && performance.now() < deadline) {
        const i = next++;
        const result = await runOne(job, i);
        if (result.ok) {
          enrolled++;
          certificates.push(result.certificate);
        } else {
          errors++;
          firstError ??= result.output.trim().split("\n").slice(-3).join(" | ");
        }
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const own = process.cpuUsage(ownBefore);
  return {
    enrolled,
    errors,
    firstError,
    seconds,
    clientCpuSeconds: exitedChildrenSeconds() - cpuBefore + (own.user + own.system) / 1e6,
    certificates,
  };
}
