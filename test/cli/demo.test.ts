import assert from 'node:assert/strict';
import { bwrapMissing } from '../../src/testing/sandboxes.ts';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { freshPgliteDir } from '../../src/testing/databases.ts';
import { runOmaToEnd } from '../../src/testing/processes.ts';
import { diskQuotaSupport, readWorkspaceFile } from '../../src/sandbox/index.ts';

const dirs: string[] = [];
after(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));
const bwrap = bwrapMissing();

it('[HANDS-6] oma demo: the agent writes and runs a program in its bubblewrap sandbox, streamed to the terminal, with the scripted model labelled', { skip: bwrap }, async () => {
  const dir = await freshPgliteDir();
  dirs.push(dir);
  const run = await runOmaToEnd(['demo', '--exit'], { OMA_DATA_DIR: dir, PORT: '0', ANTHROPIC_API_KEY: '' });
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /model: SCRIPTED DEMO/);
  assert.match(run.stdout, /↳ write primes\.js/);
  assert.match(run.stdout, /↳ bash \$ node primes\.js\n  ✓ 2 3 5 7 11 13 17 19 23 29\n/);
  const session = run.stdout.match(/session (sesn_\w+)/)![1]!;
  const program = await readWorkspaceFile(join(dir, 'workspaces', session), 'primes.js');
  assert.match(program.toString(), /primes\.push/, 'the program is in the session workspace on the host');
  assert.match(run.stdout, /Where to look next:/);
  if (diskQuotaSupport().supported) assert.ok(run.stdout.includes(`${join(dir, 'workspaces', session)}.ext4 (an ext4 image`), 'says where the workspace is and how to look');
});
