/**
 * CPU use over a window, from /proc (Linux), in cores: this process; its descendants (sandboxes, spawned helpers); the PostgreSQL
 * server; every other process (a large value means a disturbed run).
 *
 * "Sandboxes" are this process's descendants (bwrap and everything in it, or the process
 * provider's bash) with the children they reaped, plus the children this process reaped (bwrap,
 * bash, the bare shells). It is exact for sandboxes alive at both ends of the window. A sandbox
 * killed within the window loses the processes bwrap did not reap itself (its init and shell,
 * reaped by the host's init once bwrap is gone): their CPU shows under "other", so in the
 * provision → first command measure, where every sandbox is killed within the window, "other"
 * includes part of the sandboxes' own start. /proc counts a live process's CPU in whole 10 ms ticks,
 * so many live sandboxes that each used a few ms (the TTFT measure's) show as ~0, their CPU left
 * under "other". Off Linux, only this process's own CPU is known.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

const TICKS_PER_SECOND = 100; // USER_HZ

export interface CpuSnapshot {
  at: number;
  /** This process (µs, user + system). */
  own: number;
  /** CPU seconds: the whole machine busy; processes named `postgres`; children of this process reaped so far; live descendants (with what they reaped). */
  machine?: number;
  postgres?: number;
  children?: number;
  descendants?: number;
  /** Every other process (not this one, its descendants or PostgreSQL), by pid: its start time, name and CPU seconds so far (with what it reaped). */
  others?: Map<number, { started: number; name: string; total: number }>;
}

interface ProcessStat {
  ppid: number;
  /** Start time after boot, in ticks (tells a reused pid apart). */
  started: number;
  name: string;
  /** utime + stime + cutime + cstime, seconds. */
  total: number;
  /** cutime + cstime, seconds. */
  reaped: number;
}

function readStat(pid: string): ProcessStat | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined; // gone meanwhile
  }
  const close = stat.lastIndexOf(')');
  // Fields from the 3rd on: state, ppid, …; utime, stime, cutime, cstime are the 14th–17th, starttime the 22nd.
  const rest = stat.slice(close + 2).split(' ');
  const reaped = (Number(rest[13]) + Number(rest[14])) / TICKS_PER_SECOND;
  return {
    ppid: Number(rest[1]),
    started: Number(rest[19]),
    name: stat.slice(stat.indexOf('(') + 1, close),
    total: (Number(rest[11]) + Number(rest[12])) / TICKS_PER_SECOND + reaped,
    reaped,
  };
}

export function cpuSnapshot(): CpuSnapshot {
  const { user, system } = process.cpuUsage();
  const snapshot: CpuSnapshot = { at: performance.now(), own: user + system };
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const idle = fields[3]! + (fields[4] ?? 0);
    snapshot.machine = (fields.slice(0, 8).reduce((sum, value) => sum + value, 0) - idle) / TICKS_PER_SECOND;
    const stats = new Map<number, ProcessStat>();
    for (const pid of readdirSync('/proc').filter((entry) => /^\d+$/.test(entry))) {
      const stat = readStat(pid);
      if (stat) stats.set(Number(pid), stat);
    }
    snapshot.children = stats.get(process.pid)?.reaped ?? 0;
    let postgres = 0;
    let descendants = 0;
    const childrenOf = new Map<number, number[]>();
    for (const [pid, stat] of stats) {
      if (stat.name === 'postgres') postgres += stat.total; // a backend that exited is counted in the postmaster's
      childrenOf.set(stat.ppid, [...(childrenOf.get(stat.ppid) ?? []), pid]);
    }
    const ours = new Set([process.pid]);
    const pending = [...(childrenOf.get(process.pid) ?? [])];
    for (let pid = pending.pop(); pid !== undefined; pid = pending.pop()) {
      ours.add(pid);
      descendants += stats.get(pid)!.total;
      pending.push(...(childrenOf.get(pid) ?? []));
    }
    snapshot.postgres = postgres;
    snapshot.descendants = descendants;
    snapshot.others = new Map(
      [...stats].filter(([pid, stat]) => !ours.has(pid) && stat.name !== 'postgres').map(([pid, stat]) => [pid, { started: stat.started, name: stat.name, total: stat.total }]),
    );
  } catch {
    // not Linux: own CPU only
  }
  return snapshot;
}

export interface CoresUsed {
  seconds: number;
  own: number;
  sandboxes?: number;
  postgres?: number;
  other?: number;
  /**
   * The other processes alive at the end that used the most, by their name at the end (a kernel
   * worker's name says what it was working on then); processes that ended within the window are
   * not seen.
   */
  topOthers: { name: string; cores: number }[];
}

/** Average cores used since `start`. */
export function coresSince(start: CpuSnapshot): CoresUsed {
  const end = cpuSnapshot();
  const seconds = (end.at - start.at) / 1_000;
  const delta = (key: 'machine' | 'postgres' | 'children' | 'descendants') => (end[key] !== undefined && start[key] !== undefined ? end[key]! - start[key]! : undefined);
  const own = (end.own - start.own) / 1e6;
  const children = delta('children');
  const descendants = delta('descendants');
  const sandboxes = children === undefined || descendants === undefined ? undefined : Math.max(0, children + descendants);
  const postgres = delta('postgres');
  const machine = delta('machine');
  const byName = new Map<string, number>();
  for (const [pid, entry] of end.others ?? []) {
    const before = start.others?.get(pid);
    const used = entry.total - (before && before.started === entry.started ? before.total : 0);
    if (used > 0) byName.set(entry.name, (byName.get(entry.name) ?? 0) + used);
  }
  const topOthers = [...byName]
    .map(([name, used]) => ({ name, cores: used / seconds }))
    .filter((entry) => entry.cores >= 0.01)
    .sort((a, b) => b.cores - a.cores)
    .slice(0, 3);
  return {
    topOthers,
    seconds,
    own: own / seconds,
    sandboxes: sandboxes === undefined ? undefined : sandboxes / seconds,
    postgres: postgres === undefined ? undefined : postgres / seconds,
    other: machine === undefined ? undefined : Math.max(0, machine - own - (sandboxes ?? 0) - (postgres ?? 0)) / seconds,
  };
}

export const CORES_LEGEND = 'cores: this process / its sandboxes / PostgreSQL / other processes';

/** `own / sandboxes / PostgreSQL / other` in cores, for the tables ('?' when unknown). */
export function coresText(used: CoresUsed): string {
  const show = (value: number | undefined) => (value === undefined ? '?' : value.toFixed(2));
  return `${show(used.own)} / ${show(used.sandboxes)} / ${show(used.postgres)} / ${show(used.other)}`;
}

/** The largest users among the other processes, for the notes ('none seen' when none used 0.01 cores). */
export function othersText(used: CoresUsed): string {
  return used.topOthers.length === 0 ? 'none seen' : used.topOthers.map((entry) => `${entry.name} ${entry.cores.toFixed(2)}`).join(', ');
}
