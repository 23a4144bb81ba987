import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { Sandbox, SandboxProvider } from './interface.ts';

/**
 * What every sandbox provider must do, run against each (`test/sandbox/*.test.ts`): the agent
 * toolset's behaviour and texts (spec hands §7.2), a persistent shell, and death handled as
 * cattle. `isolated` providers also get the confinement checks.
 */
export function describeSandboxConformance(options: { name: string; create: () => SandboxProvider; isolated: boolean; skip?: string | false }) {
  describe(`sandbox conformance: ${options.name}`, { skip: options.skip }, () => {
    const provider = options.create();
    const opened: Sandbox[] = [];
    let counter = 0;
    async function sandbox(): Promise<Sandbox> {
      const created = await provider.provision({ sessionId: `sesn_conformance_${process.pid}_${Date.now()}_${counter++}`, workspaceId: 'w', environmentId: 'e' });
      opened.push(created);
      return created;
    }
    const failure = async (promise: Promise<unknown>) => {
      try {
        await promise;
      } catch (error) {
        return (error as Error).message;
      }
      assert.fail('expected the call to fail');
    };
    after(async () => {
      await Promise.all(opened.map((created) => created.dispose()));
    });

    it('bash: one persistent shell per sandbox — cwd, variables and background jobs carry over', async () => {
      const box = await sandbox();
      assert.equal(await box.execute('bash', { command: 'echo hello' }), 'hello');
      await box.execute('bash', { command: 'mkdir -p sub; cd sub; export GREETING=hi; sleep 31 & echo started' });
      assert.match(await box.execute('bash', { command: 'pwd' }), /\/sub$/);
      assert.equal(await box.execute('bash', { command: 'echo $GREETING' }), 'hi');
      assert.equal(await box.execute('bash', { command: 'jobs | wc -l' }), '1');
    });

    it('bash: stderr is merged, a failure is an error with its output, an empty one says its exit code', async () => {
      const box = await sandbox();
      assert.equal(await box.execute('bash', { command: 'echo out; echo err >&2' }), 'out\nerr');
      assert.equal(await failure(box.execute('bash', { command: 'echo nope; exit_code() { return 3; }; exit_code' })), 'nope');
      assert.equal(await failure(box.execute('bash', { command: 'false' })), 'exit 1');
      assert.equal(await failure(box.execute('bash', {})), 'bash: command is required');
      assert.equal(await box.execute('bash', { command: 'cat' }), '', 'stdin is /dev/null');
    });

    it('bash: huge output (50 MB) keeps its end, after a marker', async () => {
      const box = await sandbox();
      const output = await box.execute('bash', { command: 'yes 0123456789 | head -c 50000000; echo; echo THE-END' });
      assert.ok(Buffer.byteLength(output) <= 100 * 1024 + 64, `${Buffer.byteLength(output)} bytes`);
      assert.ok(output.startsWith('[output truncated]\n'));
      assert.ok(output.endsWith('THE-END'));
    });

    it('bash: a command past its timeout is killed, the shell is discarded, and the sandbox reports itself gone', async () => {
      const box = await sandbox();
      const started = Date.now();
      assert.equal(await failure(box.execute('bash', { command: 'sleep 30', timeout_ms: 300 })), 'bash: bash command timed out after 300ms');
      assert.ok(Date.now() - started < 2_000);
      assert.equal(box.alive, false);
    });

    it('bash: exit ends the session; restart discards it', async () => {
      const box = await sandbox();
      assert.equal(await failure(box.execute('bash', { command: 'exit 3' })), 'bash: bash session terminated');
      const other = await sandbox();
      assert.equal(await other.execute('bash', { restart: true }), 'bash session restarted');
      assert.equal(other.alive, false);
    });

    it('an aborted call settles at once and discards the sandbox', async () => {
      const box = await sandbox();
      const controller = new AbortController();
      setTimeout(() => controller.abort(new Error('interrupted')), 100);
      const started = Date.now();
      assert.equal(await failure(box.execute('bash', { command: 'sleep 30' }, { signal: controller.signal })), 'bash: interrupted');
      assert.ok(Date.now() - started < 1_000);
      assert.equal(box.alive, false);
    });

    it('write, read (whole and view_range), edit: the SDK toolset texts', async () => {
      const box = await sandbox();
      assert.equal(await box.execute('write', { file_path: 'notes/a.txt', content: 'one\ntwo\nthree\n' }), 'wrote 14 bytes to notes/a.txt');
      assert.equal(await box.execute('read', { file_path: 'notes/a.txt' }), 'one\ntwo\nthree\n');
      assert.equal(await box.execute('read', { file_path: 'notes/a.txt', view_range: [2, 0] }), 'two\nthree\n');
      assert.equal(await failure(box.execute('read', { file_path: 'notes/a.txt', view_range: [1] })), 'read: view_range must be [start_line, end_line]');
      assert.equal(await failure(box.execute('read', { file_path: 'missing.txt' })), 'read: missing.txt: no such file or directory');
      assert.equal(await failure(box.execute('read', { file_path: 'notes' })), 'read: notes: is a directory');
      assert.equal(await box.execute('edit', { file_path: 'notes/a.txt', old_string: 'two', new_string: '$& 2' }), 'edited notes/a.txt (1 replacement)');
      assert.equal(await box.execute('read', { file_path: 'notes/a.txt' }), 'one\n$& 2\nthree\n');
      assert.equal(await failure(box.execute('edit', { file_path: 'notes/a.txt', old_string: 'four', new_string: 'x' })), 'edit: old_string not found in notes/a.txt');
      await box.execute('write', { file_path: 'b.txt', content: 'x x x' });
      assert.equal(await failure(box.execute('edit', { file_path: 'b.txt', old_string: 'x', new_string: 'y' })), 'edit: old_string appears 3 times in b.txt (must be unique)');
      assert.equal(await box.execute('edit', { file_path: 'b.txt', old_string: 'x', new_string: 'y', replace_all: true }), 'edited b.txt (3 replacements)');
      await box.execute('bash', { command: 'head -c 100 /dev/zero > bin.dat' });
      assert.match(await failure(box.execute('read', { file_path: 'bin.dat' })), /^read: bin\.dat is a binary file/);
      await box.execute('bash', { command: 'head -c 300000 /dev/zero | tr "\\0" a > big.txt' });
      assert.match(await failure(box.execute('read', { file_path: 'big.txt' })), /^read: big\.txt is 300000 bytes, exceeds 262144-byte limit/);
    });

    it('glob and grep: workspace-relative, newest first, "no matches"', async () => {
      const box = await sandbox();
      await box.execute('bash', { command: 'mkdir -p src/x node_modules/m && echo "const a = 1" > src/a.ts && sleep 0.01 && echo "let b = 2" > src/x/b.ts && echo "const c" > node_modules/m/c.ts' });
      const found = (await box.execute('glob', { pattern: '**/*.ts' })).split('\n');
      assert.equal(found.length, 2, 'node_modules is skipped');
      assert.match(found[0]!, /\/src\/x\/b\.ts$/, 'newest first');
      assert.equal(await box.execute('glob', { pattern: '*.md' }), 'no matches');
      assert.equal(await failure(box.execute('glob', { pattern: '/etc/*' })), 'glob: absolute pattern not permitted; pass a relative pattern (and optionally path)');
      assert.match(await box.execute('grep', { pattern: 'const [a-z]' }), /src\/a\.ts:1:const a = 1$/);
      assert.equal(await box.execute('grep', { pattern: 'nothing-here' }), 'no matches');
    });

    if (options.isolated) {
      it('confinement: no host files, no network, no host processes, nothing outside the workspace is writable', async () => {
        const box = await sandbox();
        const probe = (command: string) => box.execute('bash', { command: `${command} && echo ESCAPED || echo contained` }).catch((error: Error) => error.message);
        assert.match(await probe('cat /etc/shadow'), /contained/);
        assert.match(await probe('ls /root'), /contained/);
        assert.match(await probe('touch /usr/pwned'), /contained/);
        assert.match(await probe('exec 3<>/dev/tcp/127.0.0.1/5432'), /contained/);
        assert.match(await probe('unshare -U true'), /contained/);
        assert.equal(await box.execute('bash', { command: 'ls /proc | grep -E "^[0-9]+$" | wc -l' }).then(Number).then((n) => n < 10), true, 'only its own processes');
        assert.equal(await box.execute('bash', { command: 'env | grep -v -E "^(HOME|PATH|OMA_WORKDIR|LANG|TERM|PWD|SHLVL|_|OLDPWD)=" | wc -l' }), '0', 'a clean environment');
        assert.doesNotMatch(await box.execute('bash', { command: 'id -u' }), /^0$/, 'never root on the host');
      });
    }
  });
}
