import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { acquireDirLock } from '../../src/db/dir-lock.ts';
import { isOmaError } from '../../src/errors.ts';

const dirs: string[] = [];
const freshDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'oma-lock-'));
  dirs.push(dir);
  return dir;
};
after(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

function startTime(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!;
}

describe('data directory lock', () => {
  it('creates a missing directory, refuses a second holder naming the first, and frees on release', () => {
    const dir = join(freshDir(), 'does', 'not', 'exist');
    const lock = acquireDirLock(dir);
    assert.throws(
      () => acquireDirLock(dir),
      (error) => isOmaError(error) && error.details?.error_code === 'data_dir_locked' && error.message.includes(`pid ${process.pid}`),
    );
    lock.release();
    assert.equal(existsSync(join(dir, 'oma.lock')), false);
    acquireDirLock(dir).release();
  });

  it('takes over a lock whose process is gone', () => {
    const dir = freshDir();
    writeFileSync(join(dir, 'oma.lock'), JSON.stringify({ pid: 2 ** 22 + 17, startTime: '1', command: 'ghost' }));
    acquireDirLock(dir).release();
  });

  it('takes over a lock whose pid now belongs to another process (pid reuse)', () => {
    const dir = freshDir();
    writeFileSync(join(dir, 'oma.lock'), JSON.stringify({ pid: process.pid, startTime: '1', command: 'old' }));
    acquireDirLock(dir).release();
  });

  it('takes over a lock held by a zombie (killed but not yet reaped)', async () => {
    // `sleep 0.05 &` becomes a child of the exec'd `sleep 30`, which never reaps it: a zombie.
    const parent = spawn('sh', ['-c', 'sleep 0.05 & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      const pid = Number(await new Promise<string>((resolve) => parent.stdout.once('data', (chunk) => resolve(String(chunk)))));
      const birth = startTime(pid);
      for (let i = 0; i < 100 && !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8')); i++) await new Promise((r) => setTimeout(r, 20));
      assert.match(readFileSync(`/proc/${pid}/stat`, 'utf8'), /\) Z /, 'the holder is a zombie');
      assert.doesNotThrow(() => process.kill(pid, 0), 'a zombie still answers kill(pid, 0)');
      const dir = freshDir();
      writeFileSync(join(dir, 'oma.lock'), JSON.stringify({ pid, startTime: birth, command: 'zombie' }));
      acquireDirLock(dir).release();
    } finally {
      parent.kill('SIGKILL');
    }
  });

  it('treats a garbled lock file as stale', () => {
    const dir = freshDir();
    writeFileSync(join(dir, 'oma.lock'), '{"pid": tru');
    acquireDirLock(dir).release();
  });
});
