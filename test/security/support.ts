import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';

/**
 * Helpers of the must-not suite: canaries, escape markers, and what the host side observes (its
 * processes, its loopback services, its unix sockets, its files).
 */

/** Every canary starts with this; in the sandbox, probes search for it as `OMA[C]ANARY` (a pattern that does not match itself). */
export const CANARY_PREFIX = 'OMACANARY';

export function canary(label: string): string {
  return `${CANARY_PREFIX}-${label}-${randomBytes(12).toString('hex')}`;
}

/**
 * What a probe prints when an escape worked. Commands write it as `ESC""APED` (the shell prints
 * `ESCAPED` only when the echo runs), so the command text (in the log, in bash's error echoes) never
 * contains it.
 */
export const ESCAPED = 'ESCAPED';
export const escaped = 'echo ESC""APED';

/** The processes the host sees for `uid` (`pid command line`), via pgrep. */
export function processesOf(uid: number): string[] {
  try {
    return execFileSync('pgrep', ['-a', '-u', String(uid)], { encoding: 'utf8' }).split('\n').filter(Boolean);
  } catch (error) {
    if ((error as { status?: number }).status === 1) return []; // none
    throw error;
  }
}

export async function until(predicate: () => boolean, timeoutMs: number, stepMs = 20): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (predicate()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, stepMs));
  }
}

/** Whether the host itself reaches 127.0.0.1:`port` (so a refusal inside the sandbox means something). */
export function reachable(port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Listening unix sockets of the host: paths and abstract names (`@…`), from /proc/net/unix. */
export function hostUnixSockets(): { paths: string[]; abstract: string[] } {
  const listening = readFileSync('/proc/net/unix', 'utf8')
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields[3] === '00010000' && fields[7])
    .map((fields) => fields[7]!);
  const unique = [...new Set(listening)];
  return { paths: unique.filter((name) => name.startsWith('/')), abstract: unique.filter((name) => name.startsWith('@')).map((name) => name.slice(1)) };
}

/** sha256 of a host file, or `absent`. */
export function fingerprint(path: string): string {
  return existsSync(path) ? createHash('sha256').update(readFileSync(path)).digest('hex') : 'absent';
}

/** A string safe inside single quotes in a bash command. */
export function sq(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}
