import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { bwrapMissing } from '../../src/testing/sandboxes.ts';
import { after, describe, it } from 'node:test';
import { BubblewrapProvider } from '../../src/sandbox/bubblewrap.ts';
import { describeSandboxConformance } from '../../src/sandbox/conformance.ts';
import { diskQuotaSupport, readWorkspaceFile } from '../../src/sandbox/disk.ts';

const root = mkdtempSync(join(tmpdir(), 'oma-bwrap-'));
const MiB = 1024 * 1024;
const LIMITS = { memoryBytes: 256 * MiB, pids: 128, cpus: 1, fileBytes: 8 * MiB, tmpBytes: 16 * MiB, diskBytes: 64 * MiB }; // the defaults' shape: a workspace quota too
after(() => rmSync(root, { recursive: true, force: true }));

describeSandboxConformance({
  name: 'bubblewrap',
  create: () => new BubblewrapProvider({ root, limits: LIMITS }),
  isolated: true,
  skip: bwrapMissing(),
});

describe('bubblewrap limits', { skip: bwrapMissing() }, () => {
  const provider = new BubblewrapProvider({ root, limits: LIMITS });
  it('[HANDS-9] a file larger than the per-file limit, or a /tmp fuller than its size, cannot be written; the host is untouched', async () => {
    const box = await provider.provision({ sessionId: `sesn_limits_${process.pid}`, workspaceId: 'w', environmentId: 'e' });
    try {
      const big = await box.execute('bash', { command: 'head -c 20M /dev/zero > big.bin; stat -c %s big.bin' }).catch((error: Error) => error.message);
      assert.ok(Number(big.split('\n').at(-1)) <= LIMITS.fileBytes, big);
      const tmp = await box.execute('bash', { command: 'for i in 1 2 3; do head -c 7M /dev/zero > /tmp/f$i; done; du -sm /tmp | cut -f1' }).catch((error: Error) => error.message);
      assert.match(tmp, /No space left on device/);
      assert.ok(Number(tmp.split('\n').at(-1)) <= 16, tmp);
    } finally {
      await box.dispose();
    }
  });
});

describe('bubblewrap workspace quota', { skip: bwrapMissing() || (diskQuotaSupport().supported ? false : (diskQuotaSupport() as { reason: string }).reason) }, () => {
  const provider = new BubblewrapProvider({ root, limits: { ...LIMITS, diskBytes: 32 * MiB } });
  const mounted = () => readFileSync('/proc/self/mountinfo', 'utf8').includes(root);
  const attached = (image: string) => execFileSync('losetup', ['-j', image], { encoding: 'utf8' }).trim();

  it('[HANDS-10] a workspace is full at its size, keeps its files across sandboxes, and leaves no mount or loop device on the host', async () => {
    const sessionId = `sesn_quota_${process.pid}`;
    const image = `${join(root, sessionId)}.ext4`;
    const first = await provider.provision({ sessionId, workspaceId: 'w', environmentId: 'e' });
    const filled = await first.execute('bash', { command: 'echo kept > note.txt; for i in 1 2 3 4 5; do head -c 7M /dev/zero > f$i || break; done; df -B1 --output=size,avail /workspace | tail -1; ls -A' });
    assert.match(filled, /No space left on device/);
    const [size] = filled.split('\n').find((line) => /^\s*\d+\s+\d+\s*$/.test(line))!.trim().split(/\s+/).map(Number) as [number];
    assert.ok(size <= 32 * MiB && size > 16 * MiB, `the workspace's size is the quota (${size})`);
    assert.doesNotMatch(filled, /lost\+found/, 'no file system clutter in the workspace');
    assert.equal(mounted(), false, 'the workspace is mounted only inside the sandbox');
    await first.dispose();
    const second = await provider.provision({ sessionId, workspaceId: 'w', environmentId: 'e' });
    try {
      assert.equal(await second.execute('bash', { command: 'cat note.txt; rm f*; df -B1 --output=used /workspace | tail -1' }).then((out) => out.split('\n')[0]), 'kept');
      assert.equal((await readWorkspaceFile(join(root, sessionId), 'note.txt')).toString(), 'kept\n', 'readable from the host while the sandbox runs');
      await second.execute('bash', { command: 'ln -s /etc/shadow leak' });
      await assert.rejects(readWorkspaceFile(join(root, sessionId), 'leak'), /leads out of the workspace/);
    } finally {
      await second.dispose();
    }
    assert.ok(statSync(image).blocks * 512 < 32 * MiB, 'the image is sparse');
    await until(() => attached(image) === '', 'the loop device is released with the sandbox');
    assert.equal(mounted(), false);
  });
});

describe('bubblewrap spare launchers', { skip: bwrapMissing() || (diskQuotaSupport().supported ? false : (diskQuotaSupport() as { reason: string }).reason) }, () => {
  it('[HANDS-10] sessions started from spare launchers (several providers, one root) each get a workspace of their own', async () => {
    const providers = [0, 1].map(() => new BubblewrapProvider({ root, limits: { ...LIMITS, diskBytes: 32 * MiB } }));
    try {
      const seen: string[] = [];
      for (let round = 0; round < 4; round++) {
        const boxes = await Promise.all(providers.map((provider, index) => provider.provision({ sessionId: `sesn_spare_${process.pid}_${round}_${index}`, workspaceId: 'w', environmentId: 'e' })));
        for (const [index, box] of boxes.entries()) {
          seen.push(await box.execute('bash', { command: `echo ${round}-${index} > mine; ls -A | tr '\\n' ' '` }));
        }
        await Promise.all(boxes.map((box) => box.dispose()));
        await new Promise((resolve) => setTimeout(resolve, 30)); // the spares come back
      }
      assert.deepEqual(seen, Array.from({ length: 8 }, () => 'mine '));
    } finally {
      await Promise.all(providers.map((provider) => provider.close()));
    }
  });
});

async function until(check: () => boolean, what: string, ms = 3_000) {
  for (const deadline = Date.now() + ms; !check(); await new Promise((resolve) => setTimeout(resolve, 20))) {
    if (Date.now() > deadline) assert.fail(`timed out waiting: ${what}`);
  }
}
