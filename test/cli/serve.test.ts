import Anthropic from '@anthropic-ai/sdk';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { freshPgliteDir, freshPostgres, skipPostgres } from '../../src/testing/databases.ts';
import { runOmaToEnd, startOmaProcess, type OmaProcess } from '../../src/testing/processes.ts';

/** `oma` as a user runs it: real processes, real signals. */

const running: OmaProcess[] = [];
const dirs: string[] = [];
after(() => {
  for (const run of running) run.child.kill('SIGKILL');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
async function serve(env: Record<string, string>) {
  const run = await startOmaProcess(env);
  running.push(run);
  return run;
}
async function dataDir() {
  const dir = await freshPgliteDir();
  dirs.push(dir);
  return dir;
}
const ADMIN_KEY = 'sk-oma-cli-test-admin-0123456789';

describe('oma serve', () => {
  it('prints where it listens, the database and the sandbox provider; --version and --help work', async () => {
    const dir = await dataDir();
    const run = await serve({ OMA_DATA_DIR: dir, OMA_API_KEY: ADMIN_KEY });
    assert.match(run.stdout(), /database: PGlite at /);
    assert.ok(run.stdout().includes(dir));
    assert.match(run.stdout(), /sandbox provider: bubblewrap/);
    assert.equal((await fetch(`${run.url}/healthz`)).status, 200);
    run.child.kill('SIGTERM');
    const version = await runOmaToEnd(['--version']);
    assert.equal(version.code, 0);
    assert.match(version.stdout, /^\d+\.\d+\.\d+/);
    const help = await runOmaToEnd(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /serve/);
    assert.match(help.stdout, /keys/);
    assert.match(help.stdout, /DATABASE_URL/);
    assert.equal(await run.exited, 0);
  });

  it('creates a data directory that does not exist yet', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'oma-new-'));
    dirs.push(parent);
    const dir = join(parent, 'nested', 'data');
    const run = await serve({ OMA_DATA_DIR: dir }); // a fresh PGlite: slow first start
    assert.ok(existsSync(join(dir, 'oma.lock')));
    run.child.kill('SIGTERM');
    assert.equal(await run.exited, 0);
  });

  it('refuses a second server on the same directory, naming the first; survives kill -9 of the first', async () => {
    const dir = await dataDir();
    const first = await serve({ OMA_DATA_DIR: dir, OMA_API_KEY: ADMIN_KEY });
    const second = await runOmaToEnd(['serve'], { OMA_DATA_DIR: dir, PORT: '0' });
    assert.notEqual(second.code, 0);
    assert.ok(second.stderr.includes(`pid ${first.child.pid}`), second.stderr);
    assert.match(second.stderr, /in use by another oma process/);

    first.child.kill('SIGKILL');
    assert.equal(await first.exited, 'SIGKILL');
    assert.ok(existsSync(join(dir, 'oma.lock')), 'SIGKILL left the lock file behind');
    const restarted = await serve({ OMA_DATA_DIR: dir, OMA_API_KEY: ADMIN_KEY });
    const client = new Anthropic({ baseURL: restarted.url, apiKey: ADMIN_KEY, maxRetries: 0 });
    const keys = await client.get<{ data: { name: string }[] }>('/oma/v1/keys');
    assert.deepEqual(
      keys.data.map((key) => key.name),
      ['OMA_API_KEY'],
      'data written before the crash is there, seeded once',
    );
    restarted.child.kill('SIGTERM');
    assert.equal(await restarted.exited, 0);
  });

  it('SIGTERM drains, closes the database and releases the lock', async () => {
    const dir = await dataDir();
    const run = await serve({ OMA_DATA_DIR: dir });
    const pending = fetch(`${run.url}/healthz`);
    run.child.kill('SIGTERM');
    assert.equal((await pending.catch(() => undefined))?.status ?? 200, 200);
    assert.equal(await run.exited, 0);
    assert.match(run.stderr(), /SIGTERM, shutting down/);
    assert.equal(existsSync(join(dir, 'oma.lock')), false);
  });

  it('an unreachable DATABASE_URL exits non-zero naming DATABASE_URL, never the password', async () => {
    const result = await runOmaToEnd(['serve'], { DATABASE_URL: 'postgres://oma:s3cret-password@127.0.0.1:1/oma', PORT: '0' });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /DATABASE_URL \(127\.0\.0\.1:1\/oma\)/);
    assert.ok(!(result.stdout + result.stderr).includes('s3cret-password'));
  });

  it('[HANDS-14] OMA_SANDBOX=process warns loudly before it starts, and is refused with a credential feature configured', async () => {
    const refused = await runOmaToEnd(['serve'], { OMA_SANDBOX: 'process', OMA_MASTER_KEY: 'a'.repeat(64), PORT: '0', OMA_DATA_DIR: join(tmpdir(), 'oma-never-created') });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /OMA_SANDBOX=process cannot be used with credential features configured \(OMA_MASTER_KEY\)/);
    assert.ok(!refused.stderr.includes('a'.repeat(64)), 'the key itself is never printed');
    assert.equal(existsSync(join(tmpdir(), 'oma-never-created')), false, 'refused before opening anything');
    const run = await serve({ OMA_SANDBOX: 'process', OMA_DATA_DIR: await dataDir() });
    assert.match(run.stderr(), /WARNING OMA_SANDBOX=process runs the agent's commands as this user, UNSANDBOXED/);
    assert.match(run.stdout(), /sandbox provider: process/);
  });
});

describe('oma keys', () => {
  it('without a server: create prints the key alone on the last line, and it authenticates once the server runs', async () => {
    const dir = await dataDir();
    const created = await runOmaToEnd(['keys', 'create', '--workspace', 'acme', '--name', 'laptop'], { OMA_DATA_DIR: dir });
    assert.equal(created.code, 0, created.stderr);
    const key = created.stdout.trim().split('\n').at(-1)!;
    assert.match(key, /^sk-oma-\S+$/);
    const listed = await runOmaToEnd(['keys', 'list', '--json'], { OMA_DATA_DIR: dir });
    const data = (JSON.parse(listed.stdout) as { data: { id: string; workspace: string; name: string }[] }).data;
    assert.deepEqual(data.map((entry) => [entry.workspace, entry.name]), [['acme', 'laptop']]);
    assert.ok(!listed.stdout.includes(key));

    const run = await serve({ OMA_DATA_DIR: dir });
    const client = new Anthropic({ baseURL: run.url, apiKey: key, maxRetries: 0 });
    await assert.rejects(client.get('/v1/nothing-here'), Anthropic.NotFoundError, 'authenticated (404, not 401)');
    run.child.kill('SIGTERM');
    await run.exited;

    const revoked = await runOmaToEnd(['keys', 'revoke', data[0]!.id], { OMA_DATA_DIR: dir });
    assert.equal(revoked.code, 0, revoked.stderr);
    const again = await serve({ OMA_DATA_DIR: dir });
    await assert.rejects(new Anthropic({ baseURL: again.url, apiKey: key, maxRetries: 0 }).get('/v1/x'), Anthropic.AuthenticationError);
    again.child.kill('SIGTERM');
    await again.exited;
  });

  it('[HTTP-16] oma workspaces limits sets and resets a workspace\'s rate limits', async () => {
    const dir = await dataDir();
    const set = await runOmaToEnd(['workspaces', 'limits', 'acme', '--create', '0', '--read', '120'], { OMA_DATA_DIR: dir });
    assert.equal(set.code, 0, set.stderr);
    assert.equal(set.stdout.trim(), 'acme: create unlimited, read 120/min');
    const reset = await runOmaToEnd(['workspaces', 'limits', 'acme', '--read', 'default'], { OMA_DATA_DIR: dir });
    assert.equal(reset.stdout.trim(), 'acme: create unlimited, read default');
    const bad = await runOmaToEnd(['workspaces', 'limits', 'acme', '--create', 'lots'], { OMA_DATA_DIR: dir });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /whole number/);
  });

  it('while a server holds the PGlite directory: goes through the server with OMA_API_KEY, never opening the directory', async () => {
    const dir = await dataDir();
    const run = await serve({ OMA_DATA_DIR: dir, OMA_API_KEY: ADMIN_KEY });
    // No OMA_URL: the server on its random port is found through what it wrote in the directory.
    const env = { OMA_DATA_DIR: dir };
    const refused = await runOmaToEnd(['keys', 'list'], env);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /in use by another oma process/);
    assert.match(refused.stderr, /OMA_API_KEY/);

    const created = await runOmaToEnd(['keys', 'create', '--json', '--workspace', 'ops'], { ...env, OMA_API_KEY: ADMIN_KEY });
    assert.equal(created.code, 0, created.stderr);
    const { key, id } = JSON.parse(created.stdout) as { key: string; id: string };
    const client = new Anthropic({ baseURL: run.url, apiKey: key, maxRetries: 0 });
    await assert.rejects(client.get('/v1/x'), Anthropic.NotFoundError);
    const revoked = await runOmaToEnd(['keys', 'revoke', id], { ...env, OMA_API_KEY: ADMIN_KEY });
    assert.equal(revoked.code, 0, revoked.stderr);
    await assert.rejects(client.get('/v1/x'), Anthropic.AuthenticationError);
    writeFileSync(join(dir, 'api-key'), `${ADMIN_KEY}\n`); // what scripts/run.sh leaves there
    const listed = await runOmaToEnd(['keys', 'list', '--json'], { ...env, OMA_URL: run.url });
    assert.equal(listed.code, 0, listed.stderr);
    assert.deepEqual(
      (JSON.parse(listed.stdout) as { data: { workspace: string }[] }).data.map((key) => key.workspace),
      ['default', 'ops'],
      'OMA_URL and the key file in the data directory work too',
    );
    assert.equal(run.child.exitCode, null, 'the server kept running throughout');
    run.child.kill('SIGTERM');
    assert.equal(await run.exited, 0);
    assert.equal(existsSync(join(dir, 'server.json')), false, 'the address file goes with the server');
  });

  it('with PostgreSQL: keys go straight to the shared database while a server runs', { skip: skipPostgres }, async () => {
    const pg = freshPostgres();
    try {
      const env = { DATABASE_URL: pg.url, OMA_DB_SCHEMA: pg.schema };
      const run = await serve(env);
      assert.match(run.stdout(), /database: PostgreSQL at 127\.0\.0\.1:5432\/test/);
      const created = await runOmaToEnd(['keys', 'create'], env);
      assert.equal(created.code, 0, created.stderr);
      const key = created.stdout.trim().split('\n').at(-1)!;
      await assert.rejects(new Anthropic({ baseURL: run.url, apiKey: key, maxRetries: 0 }).get('/v1/x'), Anthropic.NotFoundError);
      run.child.kill('SIGTERM');
      assert.equal(await run.exited, 0);
    } finally {
      await pg.drop();
    }
  });
});
