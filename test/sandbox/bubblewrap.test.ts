import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { bwrapMissing } from '../../src/testing/sandboxes.ts';
import { after, describe, it } from 'node:test';
import { BubblewrapProvider } from '../../src/sandbox/bubblewrap.ts';
import { describeSandboxConformance } from '../../src/sandbox/conformance.ts';

const root = mkdtempSync(join(tmpdir(), 'oma-bwrap-'));
const MiB = 1024 * 1024;
const LIMITS = { memoryBytes: 256 * MiB, pids: 128, cpus: 1, fileBytes: 8 * MiB, tmpBytes: 16 * MiB };
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
