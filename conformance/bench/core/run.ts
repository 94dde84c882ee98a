/**
 * `npm run bench:core`: certificates issued AND durably committed per second
 * through the whole issuance pipeline (CSR parse + proof-of-possession
 * check, policy, build, sign, group commit with the audit chain), with many
 * concurrent callers, next to the raw signing rate of the same CA key on the
 * same machine in the same run. Writes the result into docs/benchmarks.md.
 *
 * Durability is real: the embedded Postgres runs with fsync and
 * synchronous_commit on (its defaults). Everything is on loopback.
 *
 * Options (env): BENCH_SECONDS (default 10), BENCH_CONCURRENCY (256),
 * BENCH_WRITE=0 to skip writing docs/benchmarks.md.
 */
import { createHash, createPrivateKey, sign } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pino from "pino";
import { sql } from "slonik";
import { bootstrapPki } from "../../../src/core/bootstrap.ts";
import { createKeyEncryption } from "../../../src/core/ca/key-encryption.ts";
import { createSoftwareSigner } from "../../../src/core/ca/software-signer.ts";
import { systemClock } from "../../../src/core/clock.ts";
import { createCore } from "../../../src/core/create-core.ts";
import { generateKeyPair } from "../../../src/core/keys/generate-key-pair.ts";
import { createCertificateSigningRequest } from "../../../src/core/x509/certificate-signing-request.ts";
import { readCsr, verifyProofOfPossession } from "../../../src/core/x509/parse-csr.ts";
import { createWorkerSignatureVerifier } from "../../../src/core/x509/signature-verifier.ts";
import { startEmbeddedPostgres } from "../../../src/store/embedded-postgres.ts";
import { migrate, readMigrations } from "../../../src/store/migrate.ts";
import { createDatabasePool } from "../../../src/store/pool.ts";

const seconds = Number(process.env["BENCH_SECONDS"] ?? 10);
const concurrency = Number(process.env["BENCH_CONCURRENCY"] ?? 256);
const logger = pino({ level: "warn" });
const repoRoot = path.resolve(import.meta.dirname, "../../..");

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? 0;
}

/** Bare node:crypto ECDSA P-256 signing of a certificate-sized input with the same key, one thread. */
function rawSignRate(privateKeyPkcs8: Buffer, durationMs: number): number {
  const keyObject = createPrivateKey({ key: privateKeyPkcs8, format: "der", type: "pkcs8" });
  const tbs = createHash("sha512").update("tbs").digest().toString("hex").repeat(6).slice(0, 700);
  const data = Buffer.from(tbs);
  for (let i = 0; i < 2000; i++) sign("sha256", data, keyObject);
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < durationMs) {
    for (let i = 0; i < 200; i++) sign("sha256", data, keyObject);
    n += 200;
  }
  return (n / (performance.now() - start)) * 1000;
}

/** The same key through the Signer on libuv's thread pool, many signatures in flight (all cores). */
async function pooledSignRate(privateKeyPkcs8: Buffer, durationMs: number): Promise<number> {
  const signer = createSoftwareSigner(privateKeyPkcs8);
  const data = Buffer.alloc(700, 7);
  let n = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (performance.now() - start < durationMs) {
        await signer.sign(data);
        n++;
      }
    }),
  );
  return (n / (performance.now() - start)) * 1000;
}

async function main() {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), "chancery-bench-"));
  const db = await startEmbeddedPostgres({ dataDir, logger });
  try {
    await migrate(db.connectionUri, await readMigrations(path.join(repoRoot, "migrations")), logger);
    const pool = await createDatabasePool(db.connectionUri, { maxConnections: 10, statementTimeoutMs: 60_000 });
    const fsync = await pool.oneFirst(sql.unsafe`SHOW fsync`);
    const syncCommit = await pool.oneFirst(sql.unsafe`SHOW synchronous_commit`);
    const kek = Buffer.alloc(32, 1);
    const keyEncryption = createKeyEncryption(kek);
    const batchSizes: number[] = [];
    const batchSeconds: number[] = [];
    const verifyThreads = Number(process.env["BENCH_VERIFY_THREADS"] ?? os.availableParallelism());
    const verifier = createWorkerSignatureVerifier({ threads: verifyThreads });
    const { audit, cas, profiles, committer, issuance } = createCore({
      pool,
      keyEncryption,
      clock: systemClock,
      logger,
      publicBaseUrl: "http://localhost:8081",
      verifier,
      onCommitBatch: (size, s) => {
        batchSizes.push(size);
        batchSeconds.push(s);
      },
    });
    const { issuing } = await bootstrapPki({
      pool,
      cas,
      profiles,
      settings: {
        organization: "Bench",
        rootCommonName: "Bench Root",
        intermediateCommonName: "Bench Issuing",
        rootValidityDays: 3650,
        intermediateValidityDays: 1825,
      },
    });
    const caId = issuing!.id;
    const caRow = await pool.one(sql.unsafe`SELECT sealed_private_key FROM certificate_authorities WHERE id = ${caId}`);
    const caKey = keyEncryption.open(caRow["sealed_private_key"] as Buffer, `chancery/ca-key/${caId}`);

    // Distinct subscriber keys and CSRs, reused round-robin: every request
    // still parses its CSR and checks its signature. More keys than the
    // public-key cache holds (public-key-object.ts, 512), so each check
    // builds its key as a new requester's would, not from the cache.
    const csrs: Array<{ der: Uint8Array; name: string }> = [];
    for (let i = 0; i < 1024; i++) {
      const leaf = generateKeyPair("ecdsa-p256");
      const signer = createSoftwareSigner(leaf.privateKeyPkcs8, { threadPool: false });
      const name = `host${i}.bench.example`;
      csrs.push({
        der: await createCertificateSigningRequest({ signer, subject: [{ type: "CN", value: name }] }),
        name,
      });
    }

    const rawSingle = rawSignRate(caKey, 3000);
    // The proof-of-possession check every request needs, on one thread: the
    // other fixed cost that bounds the pipeline on this machine.
    const proofs = csrs.map((c) => readCsr(c.der).proof);
    let verified = 0;
    const verifyStart = performance.now();
    while (performance.now() - verifyStart < 2000) {
      if (!verifyProofOfPossession(proofs[verified % proofs.length]!)) throw new Error("bench CSR does not verify");
      verified++;
    }
    if (verifyProofOfPossession(proofs[verified++ % proofs.length]!)) {
    }
    const rawVerify = (verified / (performance.now() - verifyStart)) * 1000;
    const rawPooled = await pooledSignRate(caKey, 3000);

    const request = (i: number) => ({
      caId,
      profileName: "tls-server",
      csrDer: csrs[i % csrs.length]!.der,
      approved: { sans: [{ type: "dns" as const, value: csrs[i % csrs.length]!.name }] },
      requester: "bench",
      sourceProtocol: "admin" as const,
    });
    for (let i = 0; i < 500; i++) await issuance.issue(request(i)); // warm-up
    batchSizes.length = 0;
    const before = await pool.oneFirst(sql.unsafe`SELECT count(*)::int FROM certificates`);

    const latencies: number[] = [];
    let issued = 0;
    let next = 0;
    const start = performance.now();
    const deadline = start + seconds * 1000;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (performance.now() < deadline) {
          const t0 = performance.now();
          await issuance.issue(request(next++));
          latencies.push(performance.now() - t0);
          issued++;
        }
      }),
    );
    const elapsed = (performance.now() - start) / 1000;
    await committer.close();
    await verifier.close();
    const after = await pool.oneFirst(sql.unsafe`SELECT count(*)::int FROM certificates`);
    const chain = await audit.verify();
    latencies.sort((a, b) => a - b);
    batchSizes.sort((a, b) => a - b);
    const rate = issued / elapsed;
    batchSeconds.sort((a, b) => a - b);
    const result = {
      date: new Date().toISOString().slice(0, 10),
      cpus: `${os.cpus().length} × ${os.cpus()[0]?.model ?? "?"}`,
      node: process.version,
      fsync,
      syncCommit,
      seconds,
      concurrency,
      issued,
      stored: Number(after) - Number(before),
      chainOk: chain.ok,
      rate,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      batchMedian: percentile(batchSizes, 50),
      commitMsP50: percentile(batchSeconds, 50) * 1000,
      commitMsP99: percentile(batchSeconds, 99) * 1000,
      batchMax: batchSizes[batchSizes.length - 1] ?? 0,
      commits: batchSizes.length,
      rawSingle,
      rawPooled,
      rawVerify,
      verifyThreads,
    };
    console.log(JSON.stringify(result, null, 2));
    if (result.stored !== issued) throw new Error(`issued ${issued} but ${result.stored} are stored`);
    if (!chain.ok) throw new Error("audit chain broken after the run");
    if (process.env["BENCH_WRITE"] !== "0") await writeReport(result);
    await pool.end();
  } finally {
    await db.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

async function writeReport(r: Record<string, string | number | boolean>): Promise<void> {
  const file = path.join(repoRoot, "docs", "benchmarks.md");
  const n = (v: unknown) => Math.round(Number(v)).toLocaleString("en-US");
  const section = `<!-- bench:core:start -->
## Issuance core (\`npm run bench:core\`)

Measured ${r["date"]} on ${r["cpus"]}, Node ${r["node"]}, embedded PostgreSQL with
fsync=${r["fsync"]} and synchronous_commit=${r["syncCommit"]} (every certificate durable before its caller hears
"issued"). ${r["concurrency"]} concurrent callers for ${r["seconds"]} s, ECDSA P-256 issuing CA, \`tls-server\` profile,
each request a real CSR parsed and signature-checked.

| measure | value |
|---|---|
| certificates issued and committed | ${n(r["issued"])} (${n(r["stored"])} rows stored, audit chain verified: ${r["chainOk"]}) |
| **pipeline rate** | **${n(r["rate"])} /s** |
| raw signing rate, same key, bare \`crypto.sign\`, one thread | ${n(r["rawSingle"])} /s |
| raw signing rate, same key, thread pool, all cores | ${n(r["rawPooled"])} /s |
| **ratio pipeline / raw (one thread)** | **${(Number(r["rate"]) / Number(r["rawSingle"])).toFixed(2)}** |
| ratio pipeline / raw (all cores) | ${(Number(r["rate"]) / Number(r["rawPooled"])).toFixed(2)} |
| CSR proof-of-possession check alone (parse key + verify), one thread | ${n(r["rawVerify"])} /s |
| latency p50 / p99 (${r["concurrency"]} callers in flight) | ${Number(r["p50"]).toFixed(1)} ms / ${Number(r["p99"]).toFixed(1)} ms |
| commits (transactions) | ${n(r["commits"])}; batch size median ${r["batchMedian"]}, max ${r["batchMax"]}; commit p50 ${Number(r["commitMsP50"]).toFixed(1)} ms, p99 ${Number(r["commitMsP99"]).toFixed(1)} ms |
| CSR check threads | ${r["verifyThreads"]} |

Command: \`npm run bench:core\` (BENCH_SECONDS=${r["seconds"]} BENCH_CONCURRENCY=${r["concurrency"]}).
<!-- bench:core:end -->`;
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch {
    text =
      "# Benchmarks\n\nEvery number here was produced by the command shown with it, on the machine named, in one run\nthat measures the peer or baseline side by side (the machines are noisy, so compare ratios).\n\n";
  }
  const pattern = /<!-- bench:core:start -->[\s\S]*<!-- bench:core:end -->/;
  text = pattern.test(text) ? text.replace(pattern, section) : `${text.trimEnd()}\n\n${section}\n`;
  await writeFile(file, text);
  console.log(`wrote ${file}`);
}

await main();
