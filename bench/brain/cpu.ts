/**
 * CPU use, from /proc (Linux): this process, the PostgreSQL server, the rest of the machine. Off
 * Linux, only this process's own CPU is known.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

const TICKS_PER_SECOND = 100; // USER_HZ

/** CPU time of this process so far (µs, user + system). */
export const cpuNow = () => {
  const { user, system } = process.cpuUsage();
  return user + system;
};

export interface CpuSnapshot {
  at: number;
  /** This process (µs, user + system). */
  own: number;
  /** Busy CPU seconds of the whole machine, and of processes named `postgres`; undefined without /proc. */
  machine?: number;
  postgres?: number;
  /** Children of this process that ended (the spawned resume processes), CPU seconds. */
  children?: number;
}

export function cpuSnapshot(): CpuSnapshot {
  const snapshot: CpuSnapshot = { at: performance.now(), own: cpuNow() };
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const idle = fields[3]! + (fields[4] ?? 0);
    snapshot.machine = (fields.slice(0, 8).reduce((sum, value) => sum + value, 0) - idle) / TICKS_PER_SECOND;
    const self = readFileSync('/proc/self/stat', 'utf8');
    const own = self.slice(self.lastIndexOf(')') + 2).split(' ');
    snapshot.children = (Number(own[13]) + Number(own[14])) / TICKS_PER_SECOND; // cutime, cstime
    let postgres = 0;
    for (const pid of readdirSync('/proc').filter((entry) => /^\d+$/.test(entry))) {
      let stat: string;
      try {
        stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      } catch {
        continue; // gone meanwhile
      }
      const close = stat.lastIndexOf(')');
      if (stat.slice(stat.indexOf('(') + 1, close) !== 'postgres') continue;
      // Fields from the 3rd on: utime, stime, cutime, cstime are the 14th–17th. A backend that exited
      // (a closed connection) is counted in the postmaster's cutime/cstime.
      const rest = stat.slice(close + 2).split(' ');
      postgres += (Number(rest[11]) + Number(rest[12]) + Number(rest[13]) + Number(rest[14])) / TICKS_PER_SECOND;
    }
    snapshot.postgres = postgres;
  } catch {
    // not Linux: own CPU only
  }
  return snapshot;
}

/** CPU used since `start`: this process and PostgreSQL in ms, and the rest of the machine in cores. */
export function cpuSince(start: CpuSnapshot) {
  const end = cpuSnapshot();
  const seconds = (end.at - start.at) / 1_000;
  const ownMs = (end.own - start.own) / 1_000;
  const postgresMs = start.postgres !== undefined && end.postgres !== undefined ? (end.postgres - start.postgres) * 1_000 : undefined;
  const machineMs = start.machine !== undefined && end.machine !== undefined ? (end.machine - start.machine) * 1_000 : undefined;
  const childrenMs = start.children !== undefined && end.children !== undefined ? (end.children - start.children) * 1_000 : 0;
  const restCores = machineMs === undefined ? undefined : Math.max(0, machineMs - ownMs - childrenMs - (postgresMs ?? 0)) / 1_000 / seconds;
  return { ownMs, postgresMs, restCores, seconds };
}

/** Cores, for the tables ('?' when unknown). */
export const cores = (value: number | undefined) => (value === undefined ? '?' : value.toFixed(2));
