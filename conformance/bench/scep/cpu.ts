/**
 * CPU time of the servers under test, read from /proc (Linux): a process's
 * utime + stime (all its threads) plus cutime + cstime (its children that
 * have exited and been waited for), in clock ticks.
 *
 * The gateway is its node process plus its embedded PostgreSQL: the
 * postmaster and every live child of it (backends, checkpointer, WAL
 * writer, autovacuum); a backend that exited meanwhile is in the
 * postmaster's cutime. scepserver is one Go process.
 */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

const ticksPerSecond = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;

interface ProcStat {
  readonly ppid: number;
  /** utime + stime + cutime + cstime, in ticks. */
  readonly ticks: number;
}

function readStat(pid: number): ProcStat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "latin1");
  } catch {
    return null;
  }
  // The command name (field 2) is in parentheses and may hold spaces: fields are counted after its ")".
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state): ppid is field 4, utime..cstime fields 14-17.
  const at = (field: number) => Number(fields[field - 3]);
  return { ppid: at(4), ticks: at(14) + at(15) + at(16) + at(17) };
}

/** Seconds of CPU used so far by `pids` and every live child of `parents` (one level: the postmaster's). */
export function cpuSeconds(pids: readonly number[], parents: readonly number[] = []): number {
  let ticks = 0;
  for (const pid of pids) ticks += readStat(pid)?.ticks ?? 0;
  if (parents.length > 0) {
    const wanted = new Set(parents);
    for (const entry of readdirSync("/proc")) {
      const pid = Number(entry);
      if (!Number.isInteger(pid) || pid <= 0) continue;
      const stat = readStat(pid);
      if (stat && wanted.has(stat.ppid)) ticks += stat.ticks;
    }
  }
  return ticks / ticksPerSecond;
}

/** A server's CPU account: its own processes, and the parents whose children count too. */
export interface CpuAccount {
  readonly pids: readonly number[];
  readonly childrenOf: readonly number[];
}

export function accountSeconds(account: CpuAccount): number {
  return cpuSeconds(account.pids, account.childrenOf);
}

/** CPU of this process's own children that have exited (waited for): the scepclient runs. */
export function exitedChildrenSeconds(): number {
  const fields = readFileSync("/proc/self/stat", "latin1");
  const rest = fields.slice(fields.lastIndexOf(")") + 2).split(" ");
  return (Number(rest[16 - 3]) + Number(rest[17 - 3])) / ticksPerSecond;
}
