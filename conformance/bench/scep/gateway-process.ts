/**
 * The gateway under test for `npm run bench:scep`, in its own process so no
 * load generator shares its event loop: startGateway on a throwaway data
 * directory (embedded PostgreSQL), every listener on 127.0.0.1.
 *
 * Before any load it makes what a like-for-like comparison with micromdm's
 * scepserver needs: a self-signed RSA-2048 CA issuing directly (scepserver's
 * CA is a self-signed RSA CA, and an unmodified scepclient encrypts to every
 * certificate GetCACert returns, RSA only) and a SCEP endpoint on it with a static challenge and legacyCrypto on
 * (scepclient signs with SHA-1 and encrypts with single DES). It reports its
 * SCEP port, its own pid and the postmaster's over IPC, then serves until
 * told to stop (or its parent goes away). Commands from the parent:
 *
 *   { kind: "fill", count, seconds }  issue up to `count` certificates through the
 *                                      issuance pipeline (the store grows as it would
 *                                      in service), at most `seconds`; answers "filled"
 *   { kind: "presign" }                sign the OCSP responses due now (what the
 *                                      gateway's own pass does every 60 s) until none
 *                                      is due; answers "presigned"
 *   { kind: "pass" }                   one pre-signing pass, as the background timer
 *                                      runs it (to measure one when nothing is due)
 *   { kind: "settle" }                 VACUUM ANALYZE, so autovacuum after a fill does
 *                                      not land in a measured window; answers "settled"
 *   { kind: "counters" }               the database's counters and the queries sent
 *                                      so far; answers "counters"
 *   "stop"
 *
 * OCSP pre-signing: every certificate issued gets two OCSP responses signed
 * by the gateway's background pass (every 60 s). The bench runs that same
 * pass on demand right after each measured window of the gateway, so the
 * certificates a window issued are signed outside it, measured on their own
 * (its CPU is reported next to the enrolment's), and the background pass
 * finds nothing to sign while another server is measured.
 */
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import pg from "pg";
import pino from "pino";
import { sql } from "slonik";
import { z } from "zod";
import { createSoftwareSigner } from "../../../src/core/ca/software-signer.ts";
import { systemClock } from "../../../src/core/clock.ts";
import { generateKeyPair } from "../../../src/core/keys/generate-key-pair.ts";
import { createOcspPresigner } from "../../../src/core/ocsp/ocsp-presigner.ts";
import { createCertificateSigningRequest } from "../../../src/core/x509/certificate-signing-request.ts";
import { pemEncode } from "../../../src/core/x509/pem.ts";
import { startBenchGateway } from "../bench-gateway.ts";

export interface GatewayJob {
  readonly dataDir: string;
  readonly workDir: string;
  readonly endpointName: string;
  readonly challenge: string;
}

export interface GatewayReady {
  readonly kind: "ready";
  readonly scepPort: number;
  readonly pid: number;
  readonly postmasterPid: number;
  /** The RSA CA's certificate: what verifies an issued certificate. */
  readonly chainFile: string;
}

export interface FillCommand {
  readonly kind: "fill";
  readonly count: number;
  readonly seconds: number;
}

export interface Presigned {
  readonly kind: "presigned";
  readonly passes: number;
  readonly signed: number;
  readonly seconds: number;
}

export interface Filled {
  readonly kind: "filled";
  readonly issued: number;
  readonly seconds: number;
  /** Certificates in the store after the fill (every CA). */
  readonly stored: number;
}

/** pg_stat_database of the gateway's database, and the statements its pool sent (bench instrumentation). */
export interface Counters {
  readonly kind: "counters";
  readonly queries: number;
  readonly commits: number;
  readonly rollbacks: number;
  readonly rowsInserted: number;
  readonly rowsUpdated: number;
  readonly rowsReturned: number;
  readonly rowsFetched: number;
  readonly walSyncs: number | null;
  readonly certificates: number;
  /** Statement beginnings and how often each was sent so far. */
  readonly statements: Record<string, number>;
}

// To stderr: stdout of the bench is its JSON result.
const logger = pino({ level: "warn" }, pino.destination(2));
const actor = { actor: "bootstrap" };
const fillConcurrency = 128;

// Counts every statement the gateway sends, for "queries per enrolment" (slonik runs on node-postgres). Bench-only:
// the production code is not touched, the prototype is wrapped in this process before the pool connects.
let queries = 0;
/**
 * Statements by their exact text, to tell which ones an enrolment sends; shortened to their first words only
 * when reported, so the counting (in the gateway's process, inside its measured CPU) stays a map update.
 */
const statements = new Map<string, number>();
const statementCounts = (): Record<string, number> => {
  const out: Record<string, number> = {};
  for (const [text, count] of statements) {
    const key = text.replace(/\s+/g, " ").trim().slice(0, 90);
    out[key] = (out[key] ?? 0) + count;
  }
  return out;
};
/** While the bench's own pre-signing commands run: their statements are not the enrolments'. */
let benchWork = 0;
const clientQuery = pg.Client.prototype.query;
pg.Client.prototype.query = function countedQuery(this: pg.Client, ...args: unknown[]) {
  if (benchWork > 0) return (clientQuery as (...a: unknown[]) => unknown).apply(this, args);
  queries++;
  const first = args[0];
  const text = typeof first === "string" ? first : ((first as { text?: string } | undefined)?.text ?? "?");
  statements.set(text, (statements.get(text) ?? 0) + 1);
  return (clientQuery as (...a: unknown[]) => unknown).apply(this, args);
} as typeof clientQuery;

async function run(job: GatewayJob): Promise<void> {
  const { gateway, stop } = await startBenchGateway(job.dataDir, logger);

  // A self-signed RSA-2048 CA that issues directly, as scepserver's CA does: scepclient encrypts to every
  // certificate GetCACert returns and only knows RSA, so no ECDSA certificate (the bootstrap root) may be among them.
  const ca = await gateway.cas.createRoot(
    {
      name: "scep-bench-rsa",
      subject: [
        { type: "O", value: "Chancery bench" },
        { type: "CN", value: "Chancery SCEP bench RSA CA" },
      ],
      keyAlgorithm: "rsa-2048",
      validityDays: 30,
      pathLen: 0,
    },
    actor,
  );
  const endpoint = await gateway.scep.endpoints.create(
    {
      name: job.endpointName,
      caId: ca.id,
      profileName: "device",
      challengeMode: "static",
      staticChallenge: job.challenge,
      legacyCrypto: true,
    },
    actor,
  );
  // The RA certificate is made on first use; make it now, outside any measured window.
  await gateway.scep.ra.current(endpoint);

  const chainFile = path.join(job.workDir, "gateway-chain.pem");
  const chainDer = [ca.certificateDer!, ...ca.chainDer];
  await writeFile(chainFile, chainDer.map((der) => pemEncode("CERTIFICATE", der)).join(""));

  const countCertificates = async () =>
    Number(
      await gateway.pool.oneFirst(sql.type(z.object({ n: z.coerce.number() }))`SELECT count(*) AS n FROM certificates`),
    );

  // Store growth through the real pipeline: a pool of real P-256 CSRs on the bench CA, "device" profile.
  async function fill(command: FillCommand): Promise<Filled> {
    const csrs: Uint8Array[] = [];
    for (let i = 0; i < 64; i++) {
      const signer = createSoftwareSigner(generateKeyPair("ecdsa-p256").privateKeyPkcs8, { threadPool: false });
      csrs.push(await createCertificateSigningRequest({ signer, subject: [{ type: "CN", value: `fill-${i}` }] }));
    }
    const started = performance.now();
    const deadline = started + command.seconds * 1000;
    let next = 0;
    await Promise.all(
      Array.from({ length: fillConcurrency }, async () => {
        while (next < command.count && performance.now() < deadline) {
          const i = next++;
          const name = `fill-${i}.devices.example`;
          await gateway.issuance.issue({
            caId: ca.id,
            profileName: "device",
            csrDer: csrs[i % csrs.length]!,
            approved: { subject: [{ type: "CN", value: name }], sans: [{ type: "dns", value: name }] },
            requester: `scep:${job.endpointName}/fill-${i}`,
            sourceProtocol: "scep",
          });
        }
      }),
    );
    return {
      kind: "filled",
      issued: next,
      seconds: (performance.now() - started) / 1000,
      stored: await countCertificates(),
    };
  }

  const presigner = createOcspPresigner({
    pool: gateway.pool,
    ocsp: gateway.ocsp,
    cas: gateway.cas,
    clock: systemClock,
    logger,
  });
  /**
   * Certificates the pre-signer finds due (its own table, migration 0020), over every CA; with `since`,
   * only those issued since then (through the issued_at index: a check that does not scan the whole
   * store, so its own cost stays out of what is measured).
   */
  const countDue = async (since: Date | null) =>
    Number(
      await gateway.pool.oneFirst(sql.type(z.object({ n: z.coerce.number() }))`
        SELECT count(*) AS n FROM ocsp_presign_due d JOIN certificates c ON c.serial_hex = d.serial_hex
        WHERE d.due_at <= now() AND d.not_after > now()
          AND ${since ? sql.fragment`c.issued_at >= ${sql.timestamp(since)}` : sql.fragment`TRUE`}`),
    );
  // Everything issued before the last complete pre-signing is signed: later checks look at what came after.
  let signedUpTo: Date | null = null;
  /** Passes until nothing is due; a pass that finds a CA locked by the background pass leaves it, so loop. */
  async function presign(): Promise<Presigned> {
    const started = performance.now();
    const startedAt = new Date(Date.now() - 1_000);
    let passes = 0;
    let signed = 0;
    for (;;) {
      passes++;
      signed += await presigner.runOnce();
      if ((await countDue(signedUpTo)) === 0) break;
      if (performance.now() - started > 240_000) throw new Error("OCSP pre-signing did not finish within 240 s");
      await new Promise((r) => setTimeout(r, 200));
    }
    signedUpTo = startedAt;
    return { kind: "presigned", passes, signed, seconds: (performance.now() - started) / 1000 };
  }

  const statRow = z.object({
    commits: z.coerce.number(),
    rollbacks: z.coerce.number(),
    inserted: z.coerce.number(),
    updated: z.coerce.number(),
    returned: z.coerce.number(),
    fetched: z.coerce.number(),
  });
  async function counters(): Promise<Counters> {
    const before = queries;
    // Statistics reach pg_stat_database when a backend flushes them (about once a second when idle).
    await new Promise((r) => setTimeout(r, 1_100));
    const stats = await gateway.pool.one(sql.type(statRow)`
      SELECT xact_commit AS commits, xact_rollback AS rollbacks, tup_inserted AS inserted,
             tup_updated AS updated, tup_returned AS returned, tup_fetched AS fetched
      FROM pg_stat_database WHERE datname = current_database()`);
    const walSyncs = await gateway.pool
      .maybeOneFirst(
        sql.type(z.object({ n: z.coerce.number() }))`SELECT sum(fsyncs) AS n FROM pg_stat_io WHERE object = 'wal'`,
      )
      .catch(() => null);
    const certificates = await countCertificates();
    return {
      kind: "counters",
      // Without the statements this call sent.
      queries: before,
      commits: stats.commits,
      rollbacks: stats.rollbacks,
      rowsInserted: stats.inserted,
      rowsUpdated: stats.updated,
      rowsReturned: stats.returned,
      rowsFetched: stats.fetched,
      walSyncs: walSyncs === null ? null : Number(walSyncs),
      certificates,
      statements: statementCounts(),
    };
  }

  process.on("message", (message) => {
    if (message === "stop") return void stop();
    const command = message as FillCommand | { kind: "counters" | "presign" | "pass" | "settle" };
    const benchOnly = command.kind === "presign" || command.kind === "pass";
    if (benchOnly) benchWork++;
    const answer: Promise<unknown> =
      command.kind === "fill"
        ? fill(command)
        : command.kind === "presign"
          ? presign()
          : command.kind === "pass"
            ? presigner.runOnce().then((signed) => ({ kind: "passed", signed }))
            : command.kind === "settle"
              ? gateway.pool.query(sql.unsafe`VACUUM ANALYZE`).then(() => ({ kind: "settled" }))
              : counters();
    answer
      .finally(() => benchOnly && benchWork--)
      .then(
        (result) => process.send!(result),
        (err) => {
          console.error(err);
          process.exit(1);
        },
      );
  });

  const postmasterPid = Number(
    (await readFile(path.join(job.dataDir, "postgres", "postmaster.pid"), "utf8")).split("\n")[0],
  );
  const ready: GatewayReady = {
    kind: "ready",
    scepPort: gateway.listeners["scep"]!.port,
    pid: process.pid,
    postmasterPid,
    chainFile,
  };
  process.send!(ready);
}

process.once("message", (job) => {
  run(job as GatewayJob).catch((err) => {
    console.error(err);
    process.exit(1);
  });
});
