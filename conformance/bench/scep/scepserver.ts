/**
 * The peer of `npm run bench:scep`: micromdm's scepserver from Debian's
 * `scep` package (2.1), with its file depot in a directory of the bench's
 * work directory. `scepserver ca -init` makes its CA (RSA, 4096 bits unless
 * told otherwise, 10 years); the server signs every certificate and CertRep
 * with that CA key and opens envelopes with it (it has no RA).
 *
 * scepserver 2.1 has no listen-address option: it binds every interface
 * (":port"). The bench only ever reaches it on 127.0.0.1, picks a free port
 * and a random challenge, and stops it as soon as the run ends.
 *
 * Its depot grows with every enrolment: a PEM file per certificate and a
 * line in index.txt (openssl ca's database format), which every enrolment
 * reads twice in full and writes back once (depot/file/depot.go, HasCN and
 * writeDB). `grow` adds `count` entries in exactly that format, as its Put
 * would have written them, so a store size can be reached without tens of
 * thousands of 4096-bit signatures.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { appendFile, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

export interface ScepServer {
  readonly label: string;
  readonly keyBits: number;
  readonly depot: string;
  readonly port: number;
  readonly pid: number;
  readonly url: string;
  readonly caFile: string;
  readonly log: string;
  stop(): Promise<void>;
}

export async function startScepServer(options: {
  label: string;
  dir: string;
  keyBits: number;
  port: number;
  challenge: string;
}): Promise<ScepServer> {
  const depot = path.join(options.dir, "depot");
  await mkdir(options.dir, { recursive: true });
  await execFileAsync("scepserver", [
    "ca",
    "-init",
    "-depot",
    depot,
    "-keySize",
    String(options.keyBits),
    "-organization",
    "scepserver bench",
  ]);
  // It logs every request (stderr): to a file, not through a pipe this process would have to drain.
  const log = path.join(options.dir, "scepserver.log");
  const logFd = openSync(log, "a");
  const child: ChildProcess = spawn(
    "scepserver",
    ["-depot", depot, "-port", String(options.port), "-challenge", options.challenge],
    { stdio: ["ignore", logFd, logFd] },
  );
  closeSync(logFd);
  const exited = new Promise<void>((done) => child.once("exit", () => done()));
  const url = `http://127.0.0.1:${options.port}/scep`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    const caps = await fetch(`${url}?operation=GetCACaps`)
      .then((r) => (r.ok ? r.text() : ""))
      .catch(() => "");
    if (caps.includes("POSTPKIOperation")) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`scepserver (${options.label}) did not answer GetCACaps`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    label: options.label,
    keyBits: options.keyBits,
    depot,
    port: options.port,
    pid: child.pid!,
    url,
    caFile: path.join(depot, "ca.pem"),
    log,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const killer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(killer);
    },
  };
}

/** Certificates in the depot: lines of index.txt. */
export async function depotSize(server: ScepServer): Promise<number> {
  const index = await readFile(path.join(server.depot, "index.txt"), "utf8");
  return index.split("\n").filter((line) => line.length > 0).length;
}

/** What the run left in the depot and the log: certificates that share a serial, and the errors logged. */
export async function depotFacts(
  server: ScepServer,
): Promise<{ issued: number; sharingSerial: number; errors: Record<string, number> }> {
  const index = await readFile(path.join(server.depot, "index.txt"), "utf8");
  const serials = new Map<string, number>();
  let issued = 0;
  for (const line of index.split("\n")) {
    const fields = line.split("\t");
    // Lines grow() wrote are not the server's.
    if (fields.length < 6 || fields[4]!.startsWith("fill-")) continue;
    issued++;
    serials.set(fields[3]!, (serials.get(fields[3]!) ?? 0) + 1);
  }
  const sharingSerial = [...serials.values()].filter((c) => c > 1).reduce((a, c) => a + c, 0);
  const errors: Record<string, number> = {};
  for (const line of (await readFile(server.log, "utf8")).split("\n")) {
    const err = /\serr=("(?:[^"\\]|\\.)*"|\S+)/.exec(line)?.[1];
    if (!err || err === "null") continue;
    const text = err
      .replace(/^"|"$/g, "")
      .replace(/\/\S*\/depot\//g, "depot/")
      .replace(/\s+/g, " ");
    errors[text] = (errors[text] ?? 0) + 1;
  }
  return { issued, sharingSerial, errors };
}

/**
 * Grows the depot by `count` certificates as its Put writes them: a
 * `<cn>.<serial>.pem` file (a copy of one it issued) and an index line
 * `V <notAfter> <empty> <SERIAL HEX> <file> <DN>`. Serials are taken from a
 * range far above the ones the server hands out, so nothing collides.
 */
export async function growDepot(server: ScepServer, count: number): Promise<void> {
  const names = await readdir(server.depot);
  const sample = names.find((n) => n.endsWith(".pem") && n !== "ca.pem");
  if (!sample) throw new Error(`no issued certificate in ${server.depot} to copy`);
  const pem = await readFile(path.join(server.depot, sample));
  const index = await readFile(path.join(server.depot, "index.txt"), "utf8");
  const template = index.split("\n").find((line) => line.startsWith("V\t"));
  if (!template) throw new Error(`no index line in ${server.depot}`);
  const [, notAfter] = template.split("\t");
  const dn = template.slice(template.lastIndexOf("\t") + 1);
  const dnPrefix = dn.slice(0, dn.lastIndexOf("/CN=") + 4);
  const lines: string[] = [];
  const base = 0x10000000n;
  for (let i = 0; i < count; i++) {
    const serial = base + BigInt(i);
    let hex = serial.toString(16).toUpperCase();
    if (hex.length % 2 === 1) hex = `0${hex}`;
    const cn = `fill-${i}`;
    const file = `${cn}.${serial.toString(10)}.pem`;
    lines.push(`V\t${notAfter}\t\t${hex}\t${file}\t${dnPrefix}${cn}\n`);
    await writeFile(path.join(server.depot, file), pem, { mode: 0o444 });
  }
  await appendFile(path.join(server.depot, "index.txt"), lines.join(""));
}
