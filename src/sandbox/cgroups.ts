import { existsSync, readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { mkdir, rmdir, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';

/**
 * Resource limits for a sandbox through cgroups: v2 where its controllers are available, v1
 * otherwise (on the machines oma was measured on, v2 offers only `hugetlb`, so v1 it is). Needs
 * root; without it, or without the controllers, `Cgroup.create` returns undefined and the caller
 * says which limits are not in force.
 */

export interface Limits {
  /** Memory (RSS + page cache) of all the sandbox's processes, bytes. */
  memoryBytes: number;
  /** Processes and threads at once (a fork bomb stops here). */
  pids: number;
  /** CPU time, in cores (1.5 = one and a half). */
  cpus: number;
  /** Largest file any process may write (RLIMIT_FSIZE, a hard limit); optional. */
  fileBytes?: number;
  /** Size of the sandbox's private /tmp (a tmpfs, charged to its memory too); optional. */
  tmpBytes?: number;
  /** Size of the session's workspace (an ext4 image, see disk.ts); optional, 0 or unset = a plain directory. */
  diskBytes?: number;
}

const ROOT = '/sys/fs/cgroup';
const V1_CONTROLLERS = ['memory', 'pids', 'cpu'] as const;

export type CgroupSupport = { version: 1 | 2; controllers: string[] } | { version: 0; reason: string };

let support: CgroupSupport | undefined;

/** Which cgroup limits this process can apply (checked once). */
export function cgroupSupport(): CgroupSupport {
  if (support) return support;
  if (process.getuid?.() !== 0) return (support = { version: 0, reason: 'oma is not running as root' });
  const v2 = existsSync(join(ROOT, 'cgroup.controllers')) ? readFileSync(join(ROOT, 'cgroup.controllers'), 'utf8').split(/\s+/) : [];
  if (['memory', 'pids', 'cpu'].every((name) => v2.includes(name))) return (support = { version: 2, controllers: ['memory', 'pids', 'cpu'] });
  const v1 = V1_CONTROLLERS.filter((name) => existsSync(join(ROOT, name, 'cgroup.procs')));
  if (v1.length > 0) return (support = { version: 1, controllers: v1 });
  return (support = { version: 0, reason: 'no usable cgroup controllers (memory, pids, cpu)' });
}

/**
 * Remove cgroups left by oma processes that died (named `oma-<session>-<pid>`): a sandbox's processes
 * die with oma, but its empty cgroup stays. Only groups whose creating process is gone are touched.
 */
export function sweepCgroups(): number {
  const found = cgroupSupport();
  if (found.version === 0) return 0;
  const parents = found.version === 2 ? [join(ROOT, 'oma')] : found.controllers.map((controller) => join(ROOT, controller, 'oma'));
  let removed = 0;
  for (const parent of parents) {
    let names: string[] = [];
    try {
      names = readdirSync(parent, { withFileTypes: true }).filter((entry) => entry.isDirectory()).map((entry) => entry.name);
    } catch {
      continue;
    }
    for (const name of names) {
      const owner = Number(name.match(/-(\d+)$/)?.[1]);
      if (!owner || alive(owner)) continue;
      try {
        rmdirSync(join(parent, name));
        removed++;
      } catch {
        // still holds processes
      }
    }
  }
  return removed;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class Cgroup {
  private constructor(private readonly dirs: string[]) {}

  /**
   * A new cgroup named `name` with `limits`, or undefined when cgroups cannot be used here. The kernel
   * can take milliseconds over these writes: they are asynchronous, so other sessions never wait.
   */
  static async create(name: string, limits: Limits): Promise<Cgroup | undefined> {
    const found = cgroupSupport();
    if (found.version === 0) return undefined;
    try {
      if (found.version === 2) {
        const dir = join(ROOT, 'oma', name);
        await mkdir(dir, { recursive: true });
        await writeFile(join(dir, 'memory.max'), String(limits.memoryBytes));
        await writeFile(join(dir, 'memory.swap.max'), '0');
        await writeFile(join(dir, 'pids.max'), String(limits.pids));
        await writeFile(join(dir, 'cpu.max'), `${Math.round(limits.cpus * 100_000)} 100000`);
        return new Cgroup([dir]);
      }
      const dirs: string[] = [];
      for (const controller of found.controllers) {
        const dir = join(ROOT, controller, 'oma', name);
        await mkdir(dir, { recursive: true });
        dirs.push(dir);
        if (controller === 'memory') {
          await writeFile(join(dir, 'memory.limit_in_bytes'), String(limits.memoryBytes));
          // Where swap is accounted, forbid it too, so the limit is a real one.
          if (existsSync(join(dir, 'memory.memsw.limit_in_bytes'))) await writeFile(join(dir, 'memory.memsw.limit_in_bytes'), String(limits.memoryBytes));
        }
        if (controller === 'pids') await writeFile(join(dir, 'pids.max'), String(limits.pids));
        if (controller === 'cpu') {
          await writeFile(join(dir, 'cpu.cfs_period_us'), '100000');
          await writeFile(join(dir, 'cpu.cfs_quota_us'), String(Math.round(limits.cpus * 100_000)));
        }
      }
      return new Cgroup(dirs);
    } catch {
      return undefined;
    }
  }

  /** Move a process in (before it forks: children of earlier forks stay where they were). */
  async add(pid: number) {
    for (const dir of this.dirs) await writeFile(join(dir, 'cgroup.procs'), String(pid));
  }

  /** Whether the memory limit was hit (the kernel killed something for it). */
  oomKilled(): boolean {
    for (const dir of this.dirs) {
      try {
        const events = readFileSync(join(dir, existsSync(join(dir, 'memory.events')) ? 'memory.events' : 'memory.oom_control'), 'utf8');
        if (/oom_kill [1-9]/.test(events)) return true;
      } catch {
        // not the memory controller
      }
    }
    return false;
  }

  /** Remove the cgroup once its processes are gone (retried for a while: the kernel frees it a moment after they exit). */
  async remove() {
    for (const dir of this.dirs) {
      for (let attempt = 0; attempt < 50; attempt++) {
        try {
          await rmdir(dir);
          break;
        } catch {
          await sleep(10);
        }
      }
    }
  }
}
