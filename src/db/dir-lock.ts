import { closeSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { OmaError } from '../errors.ts';

/**
 * An exclusive lock on a PGlite data directory. PGlite silently corrupts data when two processes
 * open one directory, so every opener takes `<dir>/oma.lock` first.
 *
 * The lock file holds the owner's pid and its start time (field 22 of `/proc/<pid>/stat`). A lock is
 * stale, and is taken over, when that process no longer exists, is a zombie (a SIGKILLed process
 * still answers `kill(pid, 0)` until it is reaped), or is another process that reused the pid.
 */

interface Owner {
  pid: number;
  startTime: string | null;
  command: string;
}

export interface DirLock {
  readonly path: string;
  release(): void;
}

function procStat(pid: number): { state: string; startTime: string } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0]!, startTime: fields[19]! };
  } catch {
    return null;
  }
}

function isAlive(owner: Owner): boolean {
  const stat = procStat(owner.pid);
  if (!stat) return false;
  if (stat.state === 'Z' || stat.state === 'X') return false;
  return owner.startTime === null || owner.startTime === stat.startTime;
}

function readOwner(path: string): Owner | null {
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as Partial<Owner>;
    if (typeof parsed.pid !== 'number') return null;
    return { pid: parsed.pid, startTime: parsed.startTime ?? null, command: parsed.command ?? '' };
  } catch {
    return null; // unreadable or half-written: treated as stale below
  }
}

export function acquireDirLock(dir: string): DirLock {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'oma.lock');
  const me: Owner = {
    pid: process.pid,
    startTime: procStat(process.pid)?.startTime ?? null,
    command: process.argv.slice(1).join(' '),
  };
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, JSON.stringify(me));
      closeSync(fd);
      let released = false;
      return {
        path,
        release() {
          if (released) return;
          released = true;
          if (readOwner(path)?.pid === process.pid) unlinkSync(path);
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const owner = readOwner(path);
    if (owner && isAlive(owner)) {
      throw new OmaError(
        'unavailable',
        `the data directory ${dir} is in use by another oma process (pid ${owner.pid}: ${owner.command || 'unknown command'}). ` +
          'Embedded PGlite allows one process per directory: stop that process, choose another OMA_DATA_DIR, ' +
          'or use a shared PostgreSQL through DATABASE_URL.',
        { details: { error_code: 'data_dir_locked', pid: owner.pid } },
      );
    }
    // Stale: move it aside atomically (only one contender's rename succeeds), then retry the create.
    try {
      renameSync(path, `${path}.stale-${process.pid}`);
      unlinkSync(`${path}.stale-${process.pid}`);
    } catch {
      // Someone else took it over first; loop and look again.
    }
  }
  throw new OmaError('unavailable', `could not take the lock ${path}`);
}
