import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { execFileSync } from 'node:child_process';
import { BubblewrapProvider } from '../../src/sandbox/bubblewrap.ts';
import { describeSandboxConformance } from '../../src/sandbox/conformance.ts';

const root = mkdtempSync(join(tmpdir(), 'oma-bwrap-'));
after(() => rmSync(root, { recursive: true, force: true }));

function bwrapMissing(): string | false {
  try {
    execFileSync('bwrap', ['--version']);
    return false;
  } catch {
    return 'bwrap is not installed (scripts/install.sh installs it)';
  }
}

describeSandboxConformance({
  name: 'bubblewrap',
  create: () => new BubblewrapProvider({ root, limits: { memoryBytes: 256 * 1024 * 1024, pids: 128, cpus: 1 } }),
  isolated: true,
  skip: bwrapMissing(),
});
